"""The learning loop on real backends: SQLite tickets, embedded Chroma with the sample KB,
and memory in SQLite or a real Redis server (``SUPPORT_TEST_REDIS_URL``)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from support_core.errors import InputError
from support_core.learning.feedback import LOW_RANK
from support_core.learning.records import DraftUse, GapStatus
from support_core.learning.resolutions import draft_use
from support_core.models import Role, TicketStatus

UNCOVERED = "Can I pay my Orbitly invoice with cryptocurrency like bitcoin?"
UNCOVERED_2 = "Do you accept bitcoin or other crypto for paying invoices?"
OTHER = "Is there an Orbitly office in Lisbon I can visit in person?"
ANSWER = ("We do not accept cryptocurrency. Orbitly invoices can be paid by credit card, debit "
          "card or bank transfer (SEPA or ACH); bitcoin and other crypto are not supported.")


@pytest.fixture(params=["sqlite", "redis"])
def svc(request: pytest.FixtureRequest, service_factory: Any) -> Any:
    if request.param == "redis":
        url = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        service = service_factory(redis_url=url)
    else:
        service = service_factory()
    return service


def staff(svc: Any, name: str) -> str:
    """``name`` as an active agent (desk actions are refused to unknown names)."""
    if name not in {u.name for u in svc.users.list()}:
        svc.users.add(name, "agent", "a long enough password")
    return name


def customer() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def escalate_and_resolve(svc: Any, question: str, answer: str | None, cite: list[str] | None = None,
                         agent: str = "ana") -> Any:
    cid = customer()
    result = svc.pipeline.process_message(cid, f"s-{cid}", question)
    assert result.action == "escalated", result.ticket.escalation
    handoff = svc.store.active_handoff(result.ticket.ticket_id)
    svc.desk.claim(handoff.handoff_id, staff(svc, agent))
    if answer is not None:
        svc.desk.reply(handoff.handoff_id, agent, answer, cited_articles=cite)
    return svc.desk.resolve(handoff.handoff_id, agent)


def table_counts(svc: Any) -> dict[str, int]:
    db = svc.store.db
    return {t.name: t.count for t in db.tables}


# ----------------------------------------------------------------------------- 1 resolutions
def test_draft_use_is_classified_by_edit_distance() -> None:
    draft = "To reset your password, open Settings and choose Reset password."
    assert draft_use(draft, "  To reset your password, open Settings and choose Reset password.") \
        == (DraftUse.AS_IS, 0, 1.0)
    use, dist, sim = draft_use(draft, draft.replace("open Settings", "open Account settings"))
    assert use is DraftUse.EDITED and dist == 9 and sim is not None and sim > 0.8
    use, _, sim = draft_use(draft, "We do not support that, sorry about it.")
    assert use is DraftUse.DISCARDED and sim is not None and sim < 0.5
    assert draft_use("", "anything")[0] is DraftUse.NO_DRAFT
    assert draft_use(draft, None)[0] is DraftUse.NO_DRAFT


def test_a_human_resolution_is_recorded_with_citations_and_csat(svc: Any) -> None:
    article = svc.kb.list_articles()[0].article_id
    ticket = escalate_and_resolve(svc, UNCOVERED, ANSWER, cite=[article, article])
    res = svc.learning.store.resolution(ticket.ticket_id)
    assert res is not None
    assert res.questions == [UNCOVERED] and res.agent_reply == ANSWER
    assert res.cited_articles == [article] and res.agent == "ana"
    assert res.escalation_rule == ticket.escalation.rule and res.queue == "tier1"
    assert res.draft_use is DraftUse.DISCARDED and not res.draft_answered
    agent_msgs = [m for m in ticket.messages if m.role is Role.AGENT]
    assert agent_msgs[-1].metadata["cited_articles"] == [article]

    svc.desk.rate(ticket.ticket_id, 4)
    report = svc.learning.metrics(svc.outcomes)
    assert report["csat_by_reason"][ticket.escalation.rule] == {"count": 1, "avg_csat": 4.0}


def test_nothing_is_recorded_from_ai_only_or_unresolved_tickets(svc: Any) -> None:
    cid = customer()
    auto = svc.pipeline.process_message(cid, "s1", "How do I reset my password?")
    assert auto.action == "auto_reply"
    svc.desk.customer_confirms(auto.ticket.ticket_id)
    svc.desk.rate(auto.ticket.ticket_id, 5)
    cid2 = customer()
    open_one = svc.pipeline.process_message(cid2, "s1", UNCOVERED)
    handoff = svc.store.active_handoff(open_one.ticket.ticket_id)
    svc.desk.claim(handoff.handoff_id, staff(svc, "ana"))
    svc.desk.reply(handoff.handoff_id, "ana", ANSWER, cited_articles=["x"])
    assert svc.learning.store.resolutions() == []
    assert svc.learning.store.pairs() == []  # the AI's sources and CSAT never feed back


# ----------------------------------------------------------------------------- 2-3 gaps
def test_gaps_group_similar_questions_publish_and_dismiss(svc: Any) -> None:
    t1 = escalate_and_resolve(svc, UNCOVERED, ANSWER)
    t2 = escalate_and_resolve(svc, UNCOVERED_2, ANSWER + " Thanks for asking!")
    t3 = escalate_and_resolve(svc, OTHER, "We are fully remote, there is no office to visit.")
    escalate_and_resolve(svc, "Can I get a discount for paying three years upfront in cash?",
                         None)  # resolved without an answer: nothing to write an article from
    gaps = svc.learning.gaps()
    assert [g.count for g in gaps] == [2, 1]
    crypto, office = gaps
    assert set(crypto.ticket_ids) == {t1.ticket_id, t2.ticket_id}
    assert office.ticket_ids == [t3.ticket_id]
    data = crypto.to_json()
    for key in ("gap_id", "questions", "count", "agent_answers", "suggested_title", "status"):
        assert key in data
    assert data["status"] == "open" and len(data["agent_answers"]) == 2
    assert "crypto" in crypto.suggested_title.lower() or "bitcoin" in crypto.suggested_title.lower()

    gap, article_id = svc.learning.publish(crypto.gap_id, title="Paying with cryptocurrency")
    try:
        check_published(svc, crypto, office, gap, article_id, t1.ticket_id)
    finally:
        svc.kb.delete_article(article_id)  # the session's shared KB must stay as it was


def check_published(svc: Any, crypto: Any, office: Any, gap: Any, article_id: str,
                    ticket_id: str) -> None:
    assert gap.status is GapStatus.PUBLISHED
    info = {a.article_id: a for a in svc.kb.list_articles()}[article_id]
    assert info.title == "Paying with cryptocurrency"
    text = (svc.settings.data_dir / "kb_from_resolutions" / f"{crypto.gap_id}.md").read_text()
    assert "written from resolved tickets" in text and ticket_id in text
    with pytest.raises(InputError, match="already published"):
        svc.learning.publish(crypto.gap_id)

    svc.learning.dismiss(office.gap_id)
    states = {g.gap_id: g.status for g in svc.learning.gaps()}
    assert states == {crypto.gap_id: GapStatus.PUBLISHED, office.gap_id: GapStatus.DISMISSED}

    again = svc.pipeline.process_message(customer(), "s9", UNCOVERED)
    assert again.action == "auto_reply"
    assert article_id in [s.article_id for s in again.ticket.draft.sources]


# ----------------------------------------------------------------------------- 4 feedback
def test_a_low_ranked_citation_becomes_a_verified_pair_that_helps_similar_questions(
    svc: Any,
) -> None:
    question = "My teammate can't see the shared dashboards, what should I check?"
    ranking = [a for a, _ in svc.kb.search_articles(question, k=50)]
    cited = ranking[5]  # an article search ranked low for this question
    assert svc.learning.recorder in svc.desk.on_resolve  # the hook the desk calls
    svc.learning.feedback.record_citations(question, [ranking[0]], ranking)
    assert svc.learning.store.pairs() == []  # already first: nothing to learn

    added = svc.learning.feedback.record_citations(question, [cited], ranking,
                                                   ticket_id="t1", agent="ana")
    assert [(p.article_id, p.rank_before, p.source) for p in added] == [
        (cited, 6, "agent_citation")]
    assert added[0].rank_before >= LOW_RANK

    searcher = svc.learning.searcher()
    paraphrase = "A teammate cannot see our shared dashboards. What should I check?"
    before = [a for a, _ in svc.kb.search_articles(paraphrase, k=10)]
    after = [a for a, _ in searcher.search_articles(paraphrase, k=10)]
    assert after.index(cited) < (before.index(cited) if cited in before else 10)
    hits = searcher.search(paraphrase, k=3)
    assert cited in [h.article_id for h in hits]
    unrelated = "How do I delete my account and export my data?"
    assert [a for a, _ in searcher.search_articles(unrelated, k=5)] == [
        a for a, _ in svc.kb.search_articles(unrelated, k=5)]


def test_resolving_with_a_citation_stores_a_pair_only_when_search_ranked_it_low(svc: Any) -> None:
    ranking = [a for a, _ in svc.kb.search_articles(UNCOVERED, k=50)]
    escalate_and_resolve(svc, UNCOVERED, ANSWER, cite=[ranking[0], ranking[3]])
    pairs = svc.learning.store.pairs()
    assert [(p.question, p.article_id, p.rank_before) for p in pairs] == [
        (UNCOVERED, ranking[3], 4)]


# ----------------------------------------------------------------------------- 5 regression
def test_regression_reruns_resolved_questions_without_side_effects(svc: Any) -> None:
    escalate_and_resolve(svc, UNCOVERED, ANSWER)
    cid = "watched"
    svc.pipeline.process_message(cid, "s1", "How do I reset my password?")
    counts = table_counts(svc)
    history = svc.memory.get_history(cid)
    summary = svc.memory.get_summary(cid)
    metrics = svc.outcomes.metrics()

    report = svc.learning.regression(svc.pipeline)
    assert report.cases == 1 and report.now_answered == 0 and report.cites_agent_article == 0
    assert report.results[0].now_rule == "low_confidence"
    assert table_counts(svc) == counts

    gap = svc.learning.gaps()[0]
    _, article_id = svc.learning.publish(gap.gap_id)
    try:
        check_regression_after_publish(svc, cid, history, summary, metrics)
    finally:
        svc.kb.delete_article(article_id)


def check_regression_after_publish(svc: Any, cid: str, history: Any, summary: Any,
                                   metrics: Any) -> None:
    counts = table_counts(svc)
    report = svc.learning.regression(svc.pipeline)
    assert (report.cases, report.now_answered, report.cites_agent_article) == (1, 1, 1)
    assert table_counts(svc) == counts
    assert svc.memory.get_history(cid) == history
    assert svc.memory.get_summary(cid) == summary
    assert svc.outcomes.metrics().model_dump(exclude={"since", "until"}) == metrics.model_dump(
        exclude={"since", "until"})
    assert svc.learning.searcher().feedback is svc.learning.feedback


# ----------------------------------------------------------------------------- 6 replay
def test_replay_uses_the_router_and_changes_nothing(svc: Any) -> None:
    from support_core.learning import replay as replay_mod

    calls: list[Any] = []
    real_route = replay_mod.route

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["thresholds"])
        return real_route(*args, **kwargs)

    svc.pipeline.process_message(customer(), "s1", "How do I reset my password?")
    mild = svc.pipeline.process_message(
        customer(), "s1", "Ugh, still confused and a bit annoyed: how do I get a refund?")
    escalate_and_resolve(svc, UNCOVERED, ANSWER)
    assert mild.action == "auto_reply"
    counts = table_counts(svc)

    same = svc.learning.replay({})
    assert same.tickets == 3 and same.changed == []
    assert same.current.escalation_rate == pytest.approx(1 / 3)
    assert same.current.queues == {"auto": 2, "tier1": 1}

    replay_mod.route = spy  # type: ignore[assignment]
    try:
        report = svc.learning.replay({"frustration_threshold": 0.3})
    finally:
        replay_mod.route = real_route  # type: ignore[assignment]
    assert len(calls) == 6 and {c.frustration_threshold for c in calls} == {0.7, 0.3}
    assert report.proposed.escalation_rate > report.current.escalation_rate
    assert [c.ticket_id for c in report.changed] == [mild.ticket.ticket_id]
    assert report.changed[0].proposed_rule == "frustrated_low_confidence"
    assert table_counts(svc) == counts
    assert svc.store.get_ticket(mild.ticket.ticket_id).status is TicketStatus.AWAITING_CUSTOMER


def test_replay_refuses_unknown_or_out_of_range_thresholds(svc: Any) -> None:
    from support_core.learning.replay import parse_assignments

    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_assignments(["friction=0.3"])
    with pytest.raises(InputError, match="needs a number"):
        parse_assignments(["frustration_threshold=high"])
    with pytest.raises(InputError, match="between 0 and 1"):
        svc.learning.replay({"confidence_floor": 1.5})
    with pytest.raises(InputError, match="whole number"):
        svc.learning.replay({"repeat_contact_threshold": 2.5})


# ----------------------------------------------------------------------------- 7 metrics
def test_manager_metrics_first_reply_csat_and_draft_use(svc: Any) -> None:
    t1 = escalate_and_resolve(svc, UNCOVERED, ANSWER)
    cid = customer()
    r = svc.pipeline.process_message(cid, "s1", "I want to talk to a human about my invoice.")
    assert r.action == "escalated"
    h = svc.store.active_handoff(r.ticket.ticket_id)
    svc.desk.claim(h.handoff_id, staff(svc, "bo"))
    svc.desk.reply(h.handoff_id, "bo", r.ticket.draft.text)  # the AI draft, sent as-is
    svc.desk.resolve(h.handoff_id, "bo")
    svc.desk.rate(t1.ticket_id, 2)
    svc.desk.rate(r.ticket.ticket_id, 5)
    svc.pipeline.process_message(customer(), "s1", "Can I talk to a person about SSO setup?")

    m = svc.learning.metrics(svc.outcomes)
    first = m["time_to_first_human_reply"]
    assert first["count"] == 2 and first["waiting"] == 1
    assert first["median_seconds"] is not None and first["p90_seconds"] >= first["median_seconds"]
    assert first["per_queue"]["tier1"]["count"] == 2
    by_reason = m["csat_by_reason"]
    assert by_reason[t1.escalation.rule]["count"] >= 1
    if r.ticket.escalation.rule == t1.escalation.rule:
        assert by_reason[t1.escalation.rule] == {"count": 2, "avg_csat": 3.5}
    else:
        assert by_reason[t1.escalation.rule] == {"count": 1, "avg_csat": 2.0}
        assert by_reason[r.ticket.escalation.rule] == {"count": 1, "avg_csat": 5.0}
    assert sum(v["count"] for v in m["csat_by_signal"].values()) >= 2
    assert m["draft_use"]["counts"]["as_is"] == 1 and m["draft_use"]["counts"]["discarded"] == 1
    assert m["draft_use"]["share"]["as_is"] == 0.5


def test_a_failing_learning_hook_never_undoes_a_resolution(
    service_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service_factory()

    def broken(*_: Any) -> None:
        raise RuntimeError("learning store unavailable")

    svc.desk.on_resolve[:] = [broken]
    ticket = escalate_and_resolve(svc, UNCOVERED, ANSWER)
    assert svc.store.get_ticket(ticket.ticket_id).status is TicketStatus.RESOLVED
    assert "resolve hook failed" in caplog.text


def test_feedback_reads_and_a_store_transaction_never_deadlock(service_factory: Any) -> None:
    """A search inside a store transaction (the pipeline looking for a ticket to reopen,
    under its session lock) while another thread of the process reads the feedback pairs:
    the feedback cache used to take its own lock and then the store's, the other thread the
    store's and then the cache's, and both waited for ever (CI's stress test hung 420 s)."""
    import threading

    svc = service_factory()
    feedback, tickets = svc.learning.feedback, svc.learning.store.tickets
    done: list[str] = []

    def other_browser_session() -> None:
        feedback.bonuses("How do I reset my password?")
        done.append("other")

    def pipeline_in_session_lock() -> None:
        with tickets.transaction(lock="session:c/s"):
            other = threading.Thread(target=other_browser_session, daemon=True)
            other.start()
            other.join(timeout=0.5)  # it now waits for the store this thread holds
            feedback.bonuses("How do I reset my password?")
            done.append("pipeline")
        other.join(timeout=10)

    runner = threading.Thread(target=pipeline_in_session_lock, daemon=True)
    runner.start()
    runner.join(timeout=20)
    assert done == ["pipeline", "other"]
