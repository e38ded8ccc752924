"""The whole pipeline on the sample KB, with real SQLite, Chroma and embeddings.

The seed's three scenarios, its legal-threat exercise, the human side of a
handoff, and what happens when a stage fails.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from support_core.errors import InputError
from support_core.models import (
    SOURCES_HEADING,
    HandoffStatus,
    Queue,
    Role,
    SentimentLevel,
    TicketStatus,
    shifted_clock,
    with_sources,
)

pytestmark = pytest.mark.slow

SIMPLE = "How do I rotate my API key?"
FRUSTRATED = (
    "This is ridiculous!!! You charged me twice this month, nobody answers my emails and I "
    "am about to cancel my subscription. Fix this NOW."
)
EXERCISE = (
    "I have been waiting two weeks for a refund that your agent promised me last month. "
    "I am considering filing a complaint with the consumer protection bureau."
)


def test_simple_question_is_answered_with_sources(service) -> None:
    result = service.pipeline.process_message("cust-1", "s1", SIMPLE)
    t = result.ticket
    assert result.action == "auto_reply"
    assert t.draft is not None and t.draft.answered
    assert t.draft.sources and any("API key" in s.title for s in t.draft.sources)
    assert t.draft.confidence >= service.settings.confidence_floor
    assert t.status == TicketStatus.AWAITING_CUSTOMER
    assert [m.role for m in service.memory.get_session("cust-1", "s1")] == [
        Role.CUSTOMER,
        Role.ASSISTANT,
    ]
    public = result.to_public_json()
    assert public["action"] == "auto_reply" and public["escalation"]["should_escalate"] is False


def test_frustrated_customer_is_escalated_with_a_complete_package(service) -> None:
    result = service.pipeline.process_message("cust-2", "s1", FRUSTRATED)
    assert result.action == "escalated"
    assert "specialist" in result.message
    pkg = service.store.get_handoff(result.handoff_id)
    assert pkg.queue in (Queue.TIER1, Queue.TIER2, Queue.MANAGER)
    assert pkg.reason and pkg.suggested_action and pkg.rule
    assert pkg.conversation[0].content == FRUSTRATED
    assert pkg.sentiment_trail and pkg.sentiment_trail[-1].level.value in (
        "angry",
        "frustrated",
        "urgent",
    )
    assert "billing_dispute" in pkg.sentiment_trail[-1].signals
    assert pkg.draft is not None and pkg.retrieved
    assert all(h.fused_score > 0 for h in pkg.retrieved)
    assert service.store.get_ticket(result.ticket.ticket_id).status == TicketStatus.ESCALATED


def test_returning_customer_history_changes_reply_and_routing(service) -> None:
    question = "My webhooks keep failing with error WH-104, how do I fix the deliveries?"
    first = service.pipeline.process_message("cust-3", "s1", question)
    second = service.pipeline.process_message("cust-3", "s2", "Webhooks still failing. " + question)
    third = service.pipeline.process_message("cust-3", "s3", "Still broken. " + question)
    assert first.ticket.contact_count == 1 and first.action == "auto_reply"
    assert second.ticket.contact_count == 2
    assert "2nd" in second.ticket.draft.text or "second" in second.ticket.draft.text.lower()
    assert third.ticket.contact_count == 3
    assert third.action == "escalated"
    assert third.ticket.escalation.rule in ("repeat_contact", "frustrated_low_confidence")
    assert third.ticket.sentiment.frustration_score > first.ticket.sentiment.frustration_score


def test_the_stored_reply_is_the_body_and_its_sources_are_in_the_metadata(service) -> None:
    result = service.pipeline.process_message("cust-src", "s1", SIMPLE)
    draft = result.ticket.draft
    stored = service.store.get_ticket(result.ticket.ticket_id).messages[-1]
    remembered = service.memory.get_session("cust-src", "s1")[-1]
    for message in (stored, remembered):
        assert message.role == Role.ASSISTANT
        assert message.content == draft.text and "[1]" in message.content
        assert SOURCES_HEADING not in message.content
        assert message.metadata.sources == draft.sources  # structured, not text
    assert all(s.title not in result.message for s in draft.sources)
    assert result.text_with_sources() == with_sources(result.message, draft.sources)
    assert f"[1] {draft.sources[0].title}" in result.text_with_sources()


def test_an_agent_reply_keeping_a_draft_marker_stores_that_source(service) -> None:
    result = service.pipeline.process_message(
        "cust-cite", "s1", "How do I rotate my API key? I want to talk to a human.")
    assert result.action == "escalated"
    pkg = service.store.get_handoff(result.handoff_id)
    assert pkg.draft is not None and pkg.draft.sources and "[1]" in pkg.draft.text
    service.users.add("alex", "agent", "correct horse battery")
    service.desk.claim(result.handoff_id, "alex")
    text = "Rotate it under Settings [1]. Anything else?"
    service.desk.reply(result.handoff_id, "alex", text)
    sent = service.desk.conversation("cust-cite", "s1")[-1]
    assert sent.role == Role.AGENT and sent.content == text
    assert sent.metadata.sources == [pkg.draft.sources[0]]
    remembered = service.memory.get_session("cust-cite", "s1")[-1]
    assert remembered.metadata.sources == sent.metadata.sources


def test_the_configured_frustration_threshold_shapes_the_handoffs_suggested_action(
    service_factory, monkeypatch
) -> None:
    """SUPPORT_FRUSTRATION_THRESHOLD reaches the handoff, not only the router."""
    text = "The export keeps failing and it is annoying. I want to talk to a human."
    calm_desk = service_factory()
    first = calm_desk.pipeline.process_message("cust-th", "s1", text)
    sentiment = first.ticket.sentiment
    assert first.ticket.escalation.rule == "asked_for_human"
    assert sentiment.level is not SentimentLevel.ANGRY
    assert 0.05 < sentiment.frustration_score < calm_desk.settings.frustration_threshold
    assert "empathy" not in calm_desk.store.get_handoff(first.handoff_id).suggested_action

    monkeypatch.setenv("SUPPORT_FRUSTRATION_THRESHOLD", f"{sentiment.frustration_score - 0.05:.2f}")
    strict_desk = service_factory()
    again = strict_desk.pipeline.process_message("cust-th", "s1", text)
    assert again.ticket.sentiment.frustration_score == sentiment.frustration_score
    assert "empathy" in strict_desk.store.get_handoff(again.handoff_id).suggested_action


def test_seed_exercise_goes_to_the_manager_as_critical(service) -> None:
    result = service.pipeline.process_message("cust-4", "s1", EXERCISE)
    e, s = result.ticket.escalation, result.ticket.sentiment
    assert result.action == "escalated"
    assert (e.queue, e.priority.value, e.rule) == (Queue.MANAGER, "critical", "legal_threat")
    assert {"legal_threat", "long_wait"} <= set(s.signals)
    pkg = service.store.get_handoff(result.handoff_id)
    assert "legal" in pkg.suggested_action.lower()


def test_agent_claims_replies_resolves_and_customer_rates(service) -> None:
    result = service.pipeline.process_message("cust-5", "s1", FRUSTRATED)
    desk = service.desk
    service.users.add("alex", "agent", "correct horse battery")
    desk.claim(result.handoff_id, "alex")
    ticket = desk.reply(result.handoff_id, "alex", "I have refunded the duplicate charge.")
    assert ticket.status == TicketStatus.AWAITING_CUSTOMER
    convo = desk.conversation("cust-5", "s1")
    assert convo[-1].role == Role.AGENT and "refunded" in convo[-1].content
    assert service.memory.get_session("cust-5", "s1")[-1].content.startswith("I have refunded")
    desk.resolve(result.handoff_id, "alex")
    desk.rate(result.ticket.ticket_id, 4, "fine")
    now = service.store.get_ticket(result.ticket.ticket_id).updated_at
    m = service.outcomes.metrics(now - timedelta(days=1), now + timedelta(minutes=1))
    assert m.tickets == 1 and m.escalation_rate == 1.0 and m.avg_csat_human == 4
    assert m.avg_first_human_reply_seconds is not None
    assert service.store.get_handoff(result.handoff_id).status == HandoffStatus.RESOLVED


def test_follow_up_on_a_human_ticket_goes_to_the_human(service) -> None:
    first = service.pipeline.process_message("cust-6", "s1", FRUSTRATED)
    follow = service.pipeline.process_message(
        "cust-6", "s1", "Also, my invoice number is INV-2026-0042"
    )
    assert follow.action == "escalated"
    assert follow.ticket.ticket_id == first.ticket.ticket_id
    assert len(service.store.list_handoffs()) == 1
    pkg = service.store.get_handoff(first.handoff_id)
    assert pkg.conversation[-1].content.endswith("INV-2026-0042")


def test_customer_returning_within_window_reopens_the_ticket(service) -> None:
    first = service.pipeline.process_message("cust-7", "s1", SIMPLE)
    service.desk.customer_confirms(first.ticket.ticket_id)
    again = service.pipeline.process_message(
        "cust-7", "s1", "One more thing: where do I see the key?"
    )
    assert again.ticket.ticket_id == first.ticket.ticket_id
    statuses = [t.to_status for t in again.ticket.transitions]
    assert TicketStatus.REOPENED in statuses


def test_returning_after_the_window_starts_a_new_ticket(service) -> None:
    with shifted_clock(timedelta(days=-10)):
        first = service.pipeline.process_message("cust-8", "s1", SIMPLE)
        service.desk.customer_confirms(first.ticket.ticket_id)
    again = service.pipeline.process_message("cust-8", "s1", SIMPLE)
    assert again.ticket.ticket_id != first.ticket.ticket_id


@pytest.mark.parametrize("bad", ["", "   ", "x" * 5000, b"bytes", "\x00\x01\x02binary"])
def test_bad_messages_get_a_clear_error_and_create_nothing(service, bad) -> None:
    with pytest.raises(InputError) as err:
        service.pipeline.process_message("cust-9", "s1", bad)
    assert err.value.user_message
    assert service.store.list_tickets(customer_id="cust-9") == []


def test_redis_down_escalates_and_keeps_the_message(service_factory) -> None:
    svc = service_factory(redis_url="redis://127.0.0.1:1/0")
    result = svc.pipeline.process_message("cust-10", "s1", SIMPLE)
    assert result.action == "escalated"
    assert result.ticket.escalation.rule == "stage_failure"
    assert any(e.stage.startswith("memory") for e in result.ticket.stage_errors)
    stored = svc.store.get_ticket(result.ticket.ticket_id)
    assert stored.messages[0].content == SIMPLE
    assert "went wrong" in result.message


def test_kb_failure_escalates_with_the_reason(service) -> None:
    class BrokenKB:
        def search(self, *a, **k):
            raise RuntimeError("chroma unreachable")

        def categories(self):
            return []

        def products(self):
            return []

    service.pipeline.s.kb = BrokenKB()
    result = service.pipeline.process_message("cust-11", "s1", SIMPLE)
    assert result.action == "escalated"
    assert (
        "kb.search" in result.ticket.escalation.reason
        or result.ticket.escalation.rule == "stage_failure"
    )
    assert service.store.get_handoff(result.handoff_id).stage_errors


def test_every_stage_leaves_a_span(service) -> None:
    result = service.pipeline.process_message("cust-12", "s1", SIMPLE)
    names = {s["name"] for s in service.store.spans(result.ticket.ticket_id)}
    assert {
        "pipeline.process_message",
        "memory.load",
        "kb.search",
        "intake.classify",
        "sentiment.analyze",
        "response.generate",
        "router.evaluate",
    } <= names


def test_concurrent_customers_do_not_corrupt_each_other(service) -> None:
    errors: list[BaseException] = []

    def chat(i: int) -> None:
        try:
            for j in range(3):
                service.pipeline.process_message(f"par-{i}", "s1", f"Question {j}: {SIMPLE}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for i in range(4):
        session = service.memory.get_session(f"par-{i}", "s1")
        customer = [m.content for m in session if m.role == Role.CUSTOMER]
        assert customer == [f"Question {j}: {SIMPLE}" for j in range(3)]


def test_follow_ups_to_a_human_extend_the_sentiment_trail(service) -> None:
    first = service.pipeline.process_message("cust-13", "s1", FRUSTRATED)
    service.pipeline.process_message(
        "cust-13", "s1", "Hello?? Still waiting. I'll talk to my lawyer."
    )
    pkg = service.store.get_handoff(first.handoff_id)
    assert len(pkg.sentiment_trail) == 2
    assert "legal_threat" in pkg.sentiment_trail[-1].signals
    replies = [m for m in service.desk.conversation("cust-13", "s1") if m.role == Role.ASSISTANT]
    assert all("sentiment_level" in m.metadata for m in replies)


def test_redis_memory_is_switched_on_by_settings_alone(service_factory) -> None:
    """Same scenario, SUPPORT_REDIS_URL set: memory lives in a real Redis server."""
    import os
    import uuid

    from support_core.adapters.memory_redis import RedisMemory

    url = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    svc = service_factory(redis_url=url)
    assert isinstance(svc.memory.inner, RedisMemory)  # behind the masking decorator
    customer = f"redis-{uuid.uuid4().hex[:8]}"
    try:
        question = "My webhooks keep failing with error WH-104, how do I fix the deliveries?"
        svc.pipeline.process_message(customer, "s1", question)
        second = svc.pipeline.process_message(customer, "s2", "Still failing. " + question)
        assert second.ticket.contact_count == 2
        assert svc.memory.get_summary(customer).total_interactions == 2
        assert [m.role for m in svc.memory.get_session(customer, "s2")] == [
            Role.CUSTOMER,
            Role.ASSISTANT,
        ]
    finally:
        svc.memory.forget_customer(customer)
