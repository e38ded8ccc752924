"""What only the SQLite adapter shows (its columns, migrations, one shared connection), the
handoff details the contract suite does not repeat, and the ticket builders both suites use.
Listing, round trips, claims and spans on both backends are in test_ticket_store_contract."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from support_core import lifecycle
from support_core.csat import OutcomeStore
from support_core.errors import AlreadyClaimed, InvalidTransition
from support_core.models import (
    ConfidenceEvidence,
    CustomerSummary,
    Draft,
    EscalationDecision,
    HandoffPackage,
    HandoffStatus,
    IntakeResult,
    Message,
    Priority,
    Queue,
    Role,
    SearchHit,
    SentimentLevel,
    SentimentResult,
    Source,
    StageError,
    Ticket,
    TicketStatus,
)
from support_core.store import TicketStore

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
S = TicketStatus


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "deskpilot.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[TicketStore]:
    opened = TicketStore(db_path)
    yield opened
    opened.close()


def full_ticket(**overrides: object) -> Ticket:
    """A ticket with every stage's field filled in, escalated to tier 2."""
    sentiment = SentimentResult(
        level=SentimentLevel.ANGRY, confidence=0.9, frustration_score=0.85,
        signals=["repeated_issue", "all_caps"], reasons=["third contact"], backend="rules",
    )
    fields: dict[str, object] = dict(
        customer_id="cust-1", session_id="sess-1", subject="Refund still missing",
        priority=Priority.HIGH, created_at=T0, updated_at=T0,
        messages=[Message(role=Role.CUSTOMER, content="WHERE IS MY REFUND", timestamp=T0,
                          metadata={"category": "billing"})],
        intake=IntakeResult(priority=Priority.HIGH, category="billing",
                            entities={"order_id": ["A-1"]}, reasons=["refund"]),
        retrieved=[SearchHit(chunk_id="kb1:0", article_id="kb1", title="Refunds",
                             heading_path=["Refunds", "Timing"], text="Refunds take 5 days.",
                             dense_score=0.71, bm25_score=3.2, dense_rank=1, bm25_rank=1,
                             fused_score=0.03)],
        sentiment=sentiment, sentiment_trail=[sentiment],
        draft=Draft(text="Refunds take 5 days.", confidence=0.42, answered=True,
                    sources=[Source(article_id="kb1", title="Refunds")],
                    evidence=ConfidenceEvidence(top_dense=0.71, agreement=True, coverage=0.5,
                                                hits=1)),
        escalation=EscalationDecision(should_escalate=True, queue=Queue.TIER2,
                                      priority=Priority.HIGH, reason="Third contact",
                                      rule="repeat_contact", inputs={"contacts": 3}),
        stage_errors=[StageError(stage="response.llm", error="timeout", at=T0)],
        contact_count=3,
    )
    fields.update(overrides)
    ticket = Ticket(**fields)  # type: ignore[arg-type]
    ticket = lifecycle.transition(ticket, S.CREATED, "customer", "New message")
    ticket = lifecycle.transition(ticket, S.PROCESSING, "pipeline", at=T0 + timedelta(seconds=1))
    return lifecycle.transition(ticket, S.ESCALATED, "router", "Third contact",
                                at=T0 + timedelta(seconds=2))


def simple_ticket(customer: str = "cust-1", session: str = "sess-1", minutes: int = 0,
                  **overrides: object) -> Ticket:
    ticket = Ticket(customer_id=customer, session_id=session,
                    created_at=T0 + timedelta(minutes=minutes), **overrides)  # type: ignore[arg-type]
    return lifecycle.transition(ticket, S.CREATED)


def package(ticket_id: str = "tkt_1", priority: Priority = Priority.MEDIUM,
            queue: Queue = Queue.TIER1, minutes: int = 0, **overrides: object) -> HandoffPackage:
    fields: dict[str, object] = dict(
        ticket_id=ticket_id, customer_id="cust-1", session_id="sess-1",
        created_at=T0 + timedelta(minutes=minutes), queue=queue, priority=priority,
        reason="needs a human", rule="low_confidence", suggested_action="Review the draft.",
        customer=CustomerSummary(customer_id="cust-1", total_interactions=2),
        conversation=[Message(role=Role.CUSTOMER, content="help", timestamp=T0)],
        sentiment_trail=[], draft=None, retrieved=[],
    )
    fields.update(overrides)
    return HandoffPackage(**fields)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- tickets
def test_queryable_columns_mirror_the_ticket(store: TicketStore) -> None:
    ticket = full_ticket(is_demo=True)
    store.save_ticket(ticket)
    row = next(store.db.query("SELECT * FROM tickets WHERE ticket_id = ?", [ticket.ticket_id]))
    assert {k: row[k] for k in ("status", "priority", "queue", "escalated", "escalation_rule",
                                "sentiment_level", "action", "is_demo", "confidence")} == {
        "status": "escalated", "priority": "high", "queue": "tier2", "escalated": 1,
        "escalation_rule": "repeat_contact", "sentiment_level": "angry",
        "action": "escalated", "is_demo": 1, "confidence": 0.42,
    }
    assert row["frustration"] == pytest.approx(0.85)


def test_transitions_are_stored_once_across_saves(store: TicketStore) -> None:
    ticket = full_ticket()
    store.save_ticket(ticket)
    store.save_ticket(ticket)
    ticket = lifecycle.transition(ticket, S.RESOLVED, "agent-ann", "fixed",
                                  at=T0 + timedelta(minutes=9))
    store.save_ticket(ticket)
    store.save_ticket(ticket)
    assert store.transitions(ticket.ticket_id) == ticket.transitions
    count = store.db.execute("SELECT count(*) FROM transitions").fetchone()[0]
    assert count == 4  # creation, processing, escalated, resolved
    assert store.get_ticket(ticket.ticket_id).status is S.RESOLVED


def test_migrations_run_once_per_file(db_path: Path) -> None:
    first = TicketStore(db_path)
    first.save_ticket(simple_ticket())
    again = TicketStore(db_path)
    names = [r["name"] for r in again.db.query("SELECT name FROM _migrations ORDER BY applied_at")]
    assert names == ["store.0001_initial", "reporting.0001_backfill_events"]
    assert len(again.list_tickets()) == 1
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    first.close()
    again.close()


# ----------------------------------------------------------------------------- handoffs
def test_ten_agents_racing_through_one_shared_store_yield_one_winner(db_path: Path) -> None:
    """The contract suite races one store per agent; here ten threads share one connection."""
    main = TicketStore(db_path)
    pkg = main.enqueue_handoff(package())
    agents = [f"agent-{i}" for i in range(10)]
    stores = [main for _ in agents]
    start = threading.Barrier(len(agents))
    won: list[str] = []
    lost: list[AlreadyClaimed] = []

    def attempt(agent: str, store: TicketStore) -> None:
        start.wait()
        try:
            won.append(store.claim(pkg.handoff_id, agent).claimed_by or "")
        except AlreadyClaimed as exc:
            lost.append(exc)

    pairs = zip(agents, stores, strict=True)
    threads = [threading.Thread(target=attempt, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(won) == 1 and len(lost) == 9
    winner = won[0]
    assert all(exc.claimed_by == winner and winner in str(exc) for exc in lost)
    stored = main.get_handoff(pkg.handoff_id)
    assert (stored.status, stored.claimed_by) == (HandoffStatus.CLAIMED, winner)
    row = next(main.db.query("SELECT status, claimed_by FROM handoffs"))
    assert row == {"status": "claimed", "claimed_by": winner}
    main.close()


def test_claiming_your_own_claim_again_changes_nothing(store: TicketStore) -> None:
    pkg = store.enqueue_handoff(package())
    first = store.claim(pkg.handoff_id, "ann", at=T0)
    again = store.claim(pkg.handoff_id, "ann", at=T0 + timedelta(hours=1))
    assert again == first and again.claimed_at == T0


def test_release_puts_it_back_for_anyone(store: TicketStore) -> None:
    pkg = store.enqueue_handoff(package())
    store.claim(pkg.handoff_id, "ann")
    with pytest.raises(AlreadyClaimed, match="ann"):
        store.release(pkg.handoff_id, "bob")
    released = store.release(pkg.handoff_id, "ann")
    assert (released.status, released.claimed_by, released.claimed_at) == (
        HandoffStatus.QUEUED, None, None
    )
    assert store.claim(pkg.handoff_id, "bob").claimed_by == "bob"
    with pytest.raises(InvalidTransition):
        store.release(store.enqueue_handoff(package("t2")).handoff_id, "bob")  # never claimed


def test_resolve_by_owner_or_directly_but_not_over_someone(store: TicketStore) -> None:
    mine = store.enqueue_handoff(package("t1"))
    store.claim(mine.handoff_id, "ann")
    with pytest.raises(AlreadyClaimed):
        store.resolve_handoff(mine.handoff_id, "bob")
    done = store.resolve_handoff(mine.handoff_id, "ann", at=T0)
    assert (done.status, done.resolved_at, done.claimed_by) == (HandoffStatus.RESOLVED, T0, "ann")
    assert store.resolve_handoff(mine.handoff_id, "ann") == done  # twice is harmless
    with pytest.raises(InvalidTransition):
        store.claim(mine.handoff_id, "ann")

    queued = store.enqueue_handoff(package("t2"))
    direct = store.resolve_handoff(queued.handoff_id, "bob", at=T0)
    assert (direct.claimed_by, direct.claimed_at) == ("bob", T0)
    assert direct.status is HandoffStatus.RESOLVED


def test_active_handoff_and_appended_messages(store: TicketStore) -> None:
    pkg = store.enqueue_handoff(package("t1"))
    follow_up = Message(role=Role.CUSTOMER, content="any news?", timestamp=T0)
    updated = store.append_handoff_message("t1", follow_up)
    assert updated is not None and updated.conversation[-1] == follow_up
    assert len(updated.conversation) == 2
    store.resolve_handoff(pkg.handoff_id, "ann")
    assert store.active_handoff("t1") is None
    assert store.latest_handoff("t1") == store.get_handoff(pkg.handoff_id)
    assert store.append_handoff_message("t1", follow_up) is None


# ----------------------------------------------------------------------------- demo data
def test_delete_demo_data_removes_every_trace_of_demo_tickets(store: TicketStore) -> None:
    outcomes = OutcomeStore(store)
    demo, real = full_ticket(is_demo=True), full_ticket()
    for ticket in (demo, real):
        store.save_ticket(ticket)
        store.enqueue_handoff(package(ticket.ticket_id))
        store.save_spans(ticket.ticket_id, [{"name": "pipeline.process_message",
                                             "span_id": ticket.ticket_id[-8:] * 2}])
        outcomes.rate(ticket.ticket_id, 4)
    with store.transaction():  # an outcome table and an orphan row of a file from before events
        store._exec("CREATE TABLE outcomes (ticket_id TEXT PRIMARY KEY, is_demo INTEGER)")
        store._exec("INSERT INTO outcomes VALUES ('tkt_orphan', 1)")

    deleted = store.delete_demo_data()

    assert deleted["tickets"] == 1 and deleted["outcomes"] == 1 and deleted["csat"] == 1
    for name in ("tickets", "transitions", "handoffs", "spans", "csat", "reporting_events"):
        left = {r["ticket_id"] for r in store.db.query(f"SELECT ticket_id FROM {name}")}
        assert left == {real.ticket_id}, name
    assert store.delete_demo_data()["tickets"] == 0
