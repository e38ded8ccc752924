"""Ratings and metrics computed from the reporting events, on a real SQLite file, over real
time windows. The tickets are built through the lifecycle and saved: every figure comes from
the events the store derived, never from a row written for the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from support_core import lifecycle
from support_core.csat import EscalationReasonCount, OutcomeStore, SupportMetrics
from support_core.errors import InputError, NotFound
from support_core.models import (
    CustomerSummary,
    EscalationDecision,
    HandoffPackage,
    Message,
    Priority,
    Queue,
    Role,
    SentimentLevel,
    SentimentResult,
    Ticket,
    TicketStatus,
)
from support_core.store import TicketStore

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=timezone.utc)
S = TicketStatus


@pytest.fixture
def outcomes(tmp_path: Path) -> Iterator[OutcomeStore]:
    opened = OutcomeStore(TicketStore(tmp_path / "deskpilot.db"))
    yield opened
    opened.tickets.close()


def outcome(ticket_id: str, days_ago: float, *, resolved: bool = True, escalated: bool = False,
            rule: str | None = None, sentiment: str = "neutral", is_demo: bool = False,
            first_human_reply_seconds: float | None = None) -> tuple[Ticket, float | None]:
    """A ticket that was auto-answered (or escalated under ``rule``) and, when ``resolved``,
    resolved ten minutes after it was created."""
    created = NOW - timedelta(days=days_ago)
    ticket = Ticket(ticket_id=ticket_id, customer_id="c1", session_id="s1", created_at=created,
                    is_demo=is_demo, sentiment=SentimentResult(
                        level=SentimentLevel(sentiment), confidence=0.5, frustration_score=0.1))
    ticket = lifecycle.transition(ticket, S.CREATED, "customer")
    ticket = lifecycle.transition(ticket, S.PROCESSING, at=created + timedelta(seconds=1))
    if escalated:
        ticket.escalation = EscalationDecision(
            should_escalate=True, queue=Queue.TIER1, priority=Priority.MEDIUM,
            reason=f"because {rule}", rule=rule)
    ticket = lifecycle.transition(ticket, S.ESCALATED if escalated else S.AWAITING_CUSTOMER,
                                  at=created + timedelta(seconds=2))
    if resolved:
        ticket = lifecycle.transition(ticket, S.RESOLVED, at=created + timedelta(minutes=10))
    return ticket, first_human_reply_seconds


def record(store: OutcomeStore, item: tuple[Ticket, float | None],
           score: int | None = None) -> None:
    ticket, first_reply = item
    store.tickets.save_ticket(ticket)
    if first_reply is not None:
        queued = ticket.created_at + timedelta(seconds=2)
        pkg = store.tickets.enqueue_handoff(handoff_for(ticket, queued))
        store.tickets.mark_first_reply(pkg.handoff_id, queued + timedelta(seconds=first_reply))
    if score is not None:
        store.rate(ticket.ticket_id, score, at=NOW)


def handoff_for(ticket: Ticket, queued: datetime) -> HandoffPackage:
    return HandoffPackage(
        ticket_id=ticket.ticket_id, customer_id="c1", session_id="s1", created_at=queued,
        queue=Queue.TIER1, priority=Priority.HIGH, reason="low confidence",
        rule="low_confidence", suggested_action="", customer=CustomerSummary(customer_id="c1"),
        conversation=[], sentiment_trail=[], draft=None, retrieved=[],
    )


def test_metrics_count_only_tickets_created_in_the_window(outcomes: OutcomeStore) -> None:
    record(outcomes, outcome("old", 40, escalated=True, rule="legal_threat", resolved=False), 1)
    record(outcomes, outcome("recent-auto", 3), 5)
    record(outcomes, outcome("recent-human", 1, escalated=True, rule="angry_or_urgent"), 3)
    record(outcomes, outcome("future", -1), 2)  # created after the window closes

    m = outcomes.metrics(NOW - timedelta(days=30), NOW)

    assert (m.tickets, m.resolved, m.escalated, m.csat_count) == (2, 2, 1, 2)
    assert (m.resolution_rate, m.escalation_rate, m.auto_resolution_rate) == (1.0, 0.5, 0.5)
    assert m.avg_csat == 4.0
    assert m.top_escalation_reasons == [EscalationReasonCount(rule="angry_or_urgent", count=1)]
    everything = outcomes.metrics()
    assert everything.tickets == 4 and everything.escalated == 2


def test_window_edges_since_inclusive_until_exclusive(outcomes: OutcomeStore) -> None:
    record(outcomes, outcome("at-since", 2))
    record(outcomes, outcome("at-until", 1))
    m = outcomes.metrics(NOW - timedelta(days=2), NOW - timedelta(days=1))
    assert m.tickets == 1


def test_csat_is_split_between_auto_and_human_handled(outcomes: OutcomeStore) -> None:
    record(outcomes, outcome("a1", 1), 5)
    record(outcomes, outcome("a2", 1), 4)
    record(outcomes, outcome("a3", 1))  # not rated: not in any average
    record(outcomes, outcome("h1", 1, escalated=True, rule="low_confidence"), 2)
    record(outcomes, outcome("h2", 1, escalated=True, rule="low_confidence"), 3)
    m = outcomes.metrics(NOW - timedelta(days=7), NOW)
    assert (m.avg_csat_auto, m.avg_csat_human, m.csat_count) == (4.5, 2.5, 4)
    assert m.avg_csat == 3.5
    assert m.csat_gap == 2.0


def test_rerating_replaces_the_first_rating(outcomes: OutcomeStore) -> None:
    record(outcomes, outcome("t1", 1), 1)
    outcomes.rate("t1", 5, "  much better now  ")
    rating = outcomes.rating("t1")
    assert rating is not None and (rating.score, rating.comment) == (5, "much better now")
    assert outcomes.metrics().avg_csat == 5.0 and outcomes.metrics().csat_count == 1


@pytest.mark.parametrize("score", [0, 6, -1, 3.5, "4", True, None])
def test_invalid_scores_are_refused(outcomes: OutcomeStore, score: object) -> None:
    record(outcomes, outcome("t1", 1))
    with pytest.raises(InputError, match="1 to 5"):
        outcomes.rate("t1", score)  # type: ignore[arg-type]
    assert outcomes.rating("t1") is None


def test_rating_an_unknown_ticket_or_an_essay_is_refused(outcomes: OutcomeStore) -> None:
    with pytest.raises(NotFound):
        outcomes.rate("tkt_nope", 4)
    record(outcomes, outcome("t1", 1))
    with pytest.raises(InputError, match="comment"):
        outcomes.rate("t1", 4, "x" * 5000)


def test_an_empty_window_gives_zeros_and_nones(outcomes: OutcomeStore) -> None:
    record(outcomes, outcome("old", 90), 4)
    m = outcomes.metrics(NOW - timedelta(days=7), NOW)
    assert m == SupportMetrics(since=NOW - timedelta(days=7), until=NOW)
    assert (m.tickets, m.resolution_rate, m.escalation_rate, m.auto_resolution_rate) == (0, 0, 0, 0)
    assert m.avg_csat is None and m.avg_resolution_seconds is None and m.csat_gap is None
    midnight = NOW.replace(hour=0)
    series = outcomes.daily_series(midnight - timedelta(days=3), midnight)
    assert [(d["tickets"], d["avg_csat"]) for d in series] == [(0, None)] * 3
    # partial days at both ends still get their row
    assert len(outcomes.daily_series(NOW - timedelta(days=3), NOW)) == 4
    assert outcomes.time_in_status_summary(NOW - timedelta(days=7), NOW) == {}


def test_averages_reasons_and_sentiment_mix(outcomes: OutcomeStore) -> None:
    rules = ["legal_threat"] * 3 + ["angry_or_urgent"] * 2 + ["a", "b", "c", "d"]
    for i, rule in enumerate(rules):
        record(outcomes, outcome(f"e{i}", 1, escalated=True, rule=rule, sentiment="angry",
                                 first_human_reply_seconds=60.0 * (i + 1)))
    record(outcomes, outcome("open", 1, resolved=False, sentiment="frustrated"))
    m = outcomes.metrics(NOW - timedelta(days=2), NOW)
    assert [(r.rule, r.count) for r in m.top_escalation_reasons] == [
        ("legal_threat", 3), ("angry_or_urgent", 2), ("a", 1), ("b", 1), ("c", 1)
    ]
    assert m.sentiment_mix == {"angry": 9, "frustrated": 1}
    assert m.avg_resolution_seconds == 600.0  # only resolved tickets count
    assert m.avg_first_human_reply_seconds == pytest.approx(60.0 * 5)  # mean of 60..540
    assert m.resolution_rate == pytest.approx(0.9) and m.auto_resolution_rate == 0.0


def test_demo_tickets_can_be_left_out(outcomes: OutcomeStore) -> None:
    record(outcomes, outcome("demo", 1, is_demo=True), 1)
    record(outcomes, outcome("real", 1), 5)
    assert outcomes.metrics(include_demo=False).tickets == 1
    assert outcomes.metrics(include_demo=False).avg_csat == 5.0
    assert outcomes.metrics().tickets == 2


def test_daily_series_has_one_row_per_day(outcomes: OutcomeStore) -> None:
    record(outcomes, outcome("d2a", 2), 4)
    record(outcomes, outcome("d2b", 2, escalated=True, rule="x"), 2)
    record(outcomes, outcome("d0", 0.1, resolved=False))
    record(outcomes, outcome("outside", 10), 1)
    day = NOW.replace(hour=0)
    series = outcomes.daily_series(day - timedelta(days=2), day + timedelta(days=1))
    assert series == [
        {"date": "2025-06-28", "tickets": 2, "escalated": 1, "auto_resolved": 1, "avg_csat": 3.0},
        {"date": "2025-06-29", "tickets": 0, "escalated": 0, "auto_resolved": 0, "avg_csat": None},
        {"date": "2025-06-30", "tickets": 1, "escalated": 0, "auto_resolved": 0, "avg_csat": None},
    ]


def lived_ticket(store: TicketStore, created: datetime, *steps: tuple[TicketStatus, int]) -> Ticket:
    """Save a ticket that went through ``(status, seconds after creation)`` steps."""
    ticket = lifecycle.transition(
        Ticket(customer_id="c1", session_id="s1", created_at=created), S.CREATED
    )
    for status, seconds in steps:
        ticket = lifecycle.transition(ticket, status, at=created + timedelta(seconds=seconds))
    store.save_ticket(ticket)
    return ticket


def test_time_in_status_summary_averages_stored_trails(outcomes: OutcomeStore) -> None:
    store, day = outcomes.tickets, NOW - timedelta(days=1)
    lived_ticket(store, day, (S.PROCESSING, 2), (S.AWAITING_CUSTOMER, 4), (S.RESOLVED, 104))
    lived_ticket(store, day, (S.PROCESSING, 4), (S.ESCALATED, 6), (S.AWAITING_CUSTOMER, 306),
                 (S.PROCESSING, 406), (S.AWAITING_CUSTOMER, 408), (S.RESOLVED, 508))
    lived_ticket(store, NOW - timedelta(days=60), (S.PROCESSING, 1000))  # outside the window
    summary = outcomes.time_in_status_summary(NOW - timedelta(days=2), NOW, now=NOW)
    assert summary == {
        "created": 3.0,  # (2 + 4) / 2
        "processing": 3.0,  # (2 + (2 + 2)) / 2
        "awaiting_customer": 150.0,  # (100 + (100 + 100)) / 2
        "escalated": 300.0,
        "resolved": pytest.approx(86400 - 306.0),  # open: counted up to now
    }


def test_outcome_from_an_escalated_ticket_and_its_handoff(outcomes: OutcomeStore) -> None:
    created = NOW - timedelta(hours=2)
    sentiment = SentimentResult(level=SentimentLevel.FRUSTRATED, confidence=0.8,
                                frustration_score=0.7)
    ticket = Ticket(
        customer_id="c1", session_id="s1", created_at=created, sentiment=sentiment,
        escalation=EscalationDecision(should_escalate=True, queue=Queue.TIER1,
                                      priority=Priority.HIGH, reason="low confidence",
                                      rule="low_confidence"),
        messages=[Message(role=Role.CUSTOMER, content="hi"),
                  Message(role=Role.ASSISTANT, content="holding"),
                  Message(role=Role.AGENT, content="fixed it")],
    )
    for status, minutes in ((S.PROCESSING, 0), (S.ESCALATED, 1), (S.RESOLVED, 30)):
        ticket = lifecycle.transition(ticket, status, at=created + timedelta(minutes=minutes))
    outcomes.tickets.save_ticket(ticket)
    pkg = outcomes.tickets.enqueue_handoff(handoff_for(ticket, created + timedelta(minutes=1)))
    outcomes.tickets.claim(pkg.handoff_id, "ann", at=created + timedelta(minutes=2))
    outcomes.tickets.mark_first_reply(pkg.handoff_id, created + timedelta(minutes=6))

    recorded = outcomes.get_outcome(ticket.ticket_id)

    assert (recorded.resolved, recorded.was_escalated, recorded.escalation_rule) == (
        True, True, "low_confidence"
    )
    assert (recorded.auto_reply_count, recorded.human_reply_count) == (1, 1)
    assert recorded.resolution_seconds == 1800.0
    assert recorded.first_human_reply_seconds == 300.0
    assert recorded.sentiment_level == "frustrated"
    names = [e["name"] for e in outcomes.tickets.events(ticket.ticket_id)]
    assert sorted(names) == sorted([
        "ticket_created", "customer_message", "auto_replied", "human_replied", "escalated",
        "claimed", "first_human_reply", "resolved"])


def test_the_outcome_follows_the_ticket_and_remembers_the_escalation(
    outcomes: OutcomeStore,
) -> None:
    record(outcomes, outcome("t1", 1, resolved=False, escalated=True, rule="legal_threat"))
    assert outcomes.get_outcome("t1").resolved is False
    store = outcomes.tickets
    store.update_ticket("t1", lambda t: lifecycle.transition(
        t, S.RESOLVED, "ann", at=t.created_at + timedelta(minutes=5)))
    assert outcomes.get_outcome("t1").resolution_seconds == 300.0
    # reopened, then answered by the AI under a non-escalating decision: still "escalated"
    # (a human handled it once), and not resolved any more
    def reopen(t: Ticket) -> Ticket:
        t = lifecycle.transition(t, S.REOPENED, "customer", at=t.created_at + timedelta(hours=1))
        t.escalation = EscalationDecision(should_escalate=False, queue=Queue.AUTO,
                                          priority=Priority.LOW, reason="answered", rule="none")
        return lifecycle.transition(t, S.PROCESSING, at=t.created_at + timedelta(hours=1))
    store.update_ticket("t1", reopen)
    again = outcomes.get_outcome("t1")
    assert (again.resolved, again.was_escalated, again.escalation_rule) == (
        False, True, "legal_threat")
    store.update_ticket("t1", lambda t: lifecycle.transition(
        lifecycle.transition(t, S.AWAITING_CUSTOMER, at=t.created_at + timedelta(hours=2)),
        S.RESOLVED, "customer", at=t.created_at + timedelta(hours=3)))
    assert outcomes.get_outcome("t1").resolution_seconds == 3 * 3600.0
    assert outcomes.metrics().tickets == 1
    with pytest.raises(NotFound):
        outcomes.get_outcome("nope")


def test_outcome_store_opens_on_a_path_too(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first = OutcomeStore(path)
    record(first, outcome("t1", 1))
    second = OutcomeStore(TicketStore(path))
    assert second.get_outcome("t1").ticket_id == "t1"
    first.tickets.close()
    second.tickets.close()


def old_outcome_metrics(svc: Any) -> dict[str, object]:
    """The metrics as the per-ticket outcome row computed them before the event log: from
    each ticket's latest state and its latest handoff (kept here as the test's oracle)."""
    tickets = svc.store.list_tickets(limit=10_000)
    rows = []
    for t in tickets:
        esc = t.escalation if t.escalation and t.escalation.should_escalate else None
        resolved = t.status is TicketStatus.RESOLVED
        done_at = lifecycle.last_resolved_at(t) if resolved else None
        handoff = svc.store.latest_handoff(t.ticket_id)
        reply = (handoff.first_reply_at - handoff.created_at).total_seconds() if (
            handoff and handoff.first_reply_at) else None
        rating = svc.outcomes.rating(t.ticket_id)
        rows.append({"resolved": resolved, "escalated": esc is not None,
                     "rule": esc.rule if esc else None, "reply": reply,
                     "resolution": (done_at - t.created_at).total_seconds() if done_at else None,
                     "score": rating.score if rating else None,
                     "sentiment": t.sentiment.level.value if t.sentiment else "unknown"})
    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None
    return {
        "tickets": len(rows), "resolved": sum(r["resolved"] for r in rows),
        "escalated": sum(r["escalated"] for r in rows),
        "avg_csat": mean([r["score"] for r in rows if r["score"] is not None]),
        "avg_resolution_seconds": mean([r["resolution"] for r in rows if r["resolved"]]),
        "avg_first_human_reply_seconds": mean(
            [r["reply"] for r in rows if r["escalated"] and r["reply"] is not None]),
        "rules": sorted(r["rule"] or "unspecified" for r in rows if r["escalated"]),
        "sentiment": sorted(r["sentiment"] for r in rows),
    }


def test_event_metrics_equal_the_old_outcome_rows_on_the_demo_week(service: Any) -> None:
    from support_core.demo import load_demo

    load_demo(service)
    m = service.outcomes.metrics()
    old = old_outcome_metrics(service)
    assert old["tickets"] >= 10 and old["escalated"] >= 3  # the week has both kinds
    assert (m.tickets, m.resolved, m.escalated) == (old["tickets"], old["resolved"],
                                                    old["escalated"])
    assert m.avg_csat == pytest.approx(old["avg_csat"])
    assert m.avg_resolution_seconds == pytest.approx(old["avg_resolution_seconds"])
    assert m.avg_first_human_reply_seconds == pytest.approx(old["avg_first_human_reply_seconds"])
    outcomes = service.outcomes.outcomes()
    assert sorted(o.escalation_rule or "unspecified" for o in outcomes if o.was_escalated) == (
        old["rules"])
    assert sorted(o.sentiment_level or "unknown" for o in outcomes) == old["sentiment"]
