"""One contract for every TicketStore adapter: SQLite (default) and PostgreSQL.

PostgreSQL runs in a fresh database on 127.0.0.1:5432 created for each test and dropped
after; when the server is missing these tests fail (they never skip).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from support_core import lifecycle
from support_core.adapters.ticket_store_postgres import PostgresTicketStore
from support_core.adapters.ticket_store_sql import BACKFILL_EVENTS
from support_core.csat import OutcomeStore
from support_core.errors import (
    AlreadyClaimed,
    BackendUnavailable,
    ConcurrentUpdate,
    InvalidTransition,
    NotFound,
)
from support_core.models import (
    HandoffStatus,
    Message,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketStatus,
)
from support_core.ports import TicketStore
from support_core.repair import sweep
from support_core.testing.postgres import fresh_database
from tests.store_backends import Opener
from tests.test_store import T0, full_ticket, package, simple_ticket

S = TicketStatus


@pytest.fixture
def store(open_store: Opener) -> TicketStore:
    return open_store()


def test_adapters_satisfy_the_port(store: TicketStore) -> None:
    assert isinstance(store, TicketStore)


# ----------------------------------------------------------------------------- tickets
def test_ticket_round_trips_with_its_trail(store: TicketStore) -> None:
    ticket = full_ticket()
    store.save_ticket(ticket)
    assert store.get_ticket(ticket.ticket_id) == ticket
    assert store.transitions(ticket.ticket_id) == ticket.transitions
    with pytest.raises(NotFound):
        store.get_ticket("tkt_nope")


def test_list_and_latest_filter_and_order(store: TicketStore) -> None:
    a = simple_ticket("c1", "s1", minutes=0)
    b = lifecycle.transition(simple_ticket("c1", "s2", minutes=10), S.PROCESSING)
    c = simple_ticket("c2", "s3", minutes=20)
    for t in (b, c, a):  # a is saved last but created first
        store.save_ticket(t)
    ids = lambda ts: [t.ticket_id for t in ts]  # noqa: E731
    assert ids(store.list_tickets()) == [c.ticket_id, b.ticket_id, a.ticket_id]
    assert ids(store.list_tickets(customer_id="c1")) == [b.ticket_id, a.ticket_id]
    assert ids(store.list_tickets(customer_id="c1", session_id="s1")) == [a.ticket_id]
    assert ids(store.list_tickets(status="processing")) == [b.ticket_id]
    assert ids(store.list_tickets(status=S.CREATED)) == [c.ticket_id, a.ticket_id]
    window = store.list_tickets(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=20))
    assert ids(window) == [b.ticket_id]  # since inclusive, until exclusive
    assert ids(store.list_tickets(limit=1)) == [c.ticket_id]
    assert store.latest_ticket("c1") == b and store.latest_ticket("c9") is None
    assert store.latest_ticket("c1", "s1") == a


def test_customer_ids_most_recently_active_first(store: TicketStore) -> None:
    for customer, minutes in (("ann", 1), ("bob", 2), ("ann", 3)):
        ticket = simple_ticket(customer, f"s{minutes}")
        ticket.updated_at = T0 + timedelta(minutes=minutes)
        store.save_ticket(ticket)
    assert store.customer_ids() == ["ann", "bob"]


def test_saving_a_stale_copy_is_refused_not_silently_applied(store: TicketStore) -> None:
    ticket = simple_ticket()
    store.save_ticket(ticket)
    mine, theirs = store.get_ticket(ticket.ticket_id), store.get_ticket(ticket.ticket_id)
    theirs.messages.append(Message(role=Role.AGENT, content="their reply"))
    store.save_ticket(theirs)
    mine.messages.append(Message(role=Role.CUSTOMER, content="my message"))
    with pytest.raises(ConcurrentUpdate):
        store.save_ticket(mine)
    assert [m.content for m in store.get_ticket(ticket.ticket_id).messages] == ["their reply"]


def test_save_changes_keeps_what_others_stored_meanwhile(store: TicketStore) -> None:
    ticket = lifecycle.transition(simple_ticket(), S.PROCESSING)
    ticket.messages.append(Message(role=Role.CUSTOMER, content="first"))
    store.save_ticket(ticket)
    base = store.get_ticket(ticket.ticket_id)
    mine = base.model_copy(deep=True)
    store.update_ticket(ticket.ticket_id, lambda t: t.model_copy(update={
        "messages": [*t.messages, Message(role=Role.CUSTOMER, content="second")]}))
    mine.messages.append(Message(role=Role.ASSISTANT, content="reply"))
    mine = lifecycle.transition(mine, S.AWAITING_CUSTOMER, "pipeline")
    stored = store.save_changes(base, mine)
    assert [m.content for m in stored.messages] == ["first", "second", "reply"]
    assert stored.status is S.AWAITING_CUSTOMER
    assert store.get_ticket(ticket.ticket_id) == stored


def test_update_ticket_refused_by_the_lifecycle_changes_nothing(store: TicketStore) -> None:
    ticket = simple_ticket()
    store.save_ticket(ticket)
    with pytest.raises(InvalidTransition):
        store.update_ticket(ticket.ticket_id, lambda t: lifecycle.transition(t, S.RESOLVED))
    assert store.get_ticket(ticket.ticket_id).status is S.CREATED


def test_concurrent_updates_from_many_threads_all_land(open_store: Opener) -> None:
    first = open_store()
    ticket = simple_ticket()
    first.save_ticket(ticket)
    stores = [first, open_store(), open_store()]
    barrier = threading.Barrier(6)

    def add(i: int) -> None:
        barrier.wait()
        for j in range(5):
            stores[i % 3].update_ticket(ticket.ticket_id, lambda t, n=f"{i}-{j}": t.model_copy(
                update={"messages": [*t.messages, Message(role=Role.CUSTOMER, content=n)]}))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    stored = first.get_ticket(ticket.ticket_id)
    assert sorted(m.content for m in stored.messages) == sorted(
        f"{i}-{j}" for i in range(6) for j in range(5))
    assert stored.version == 31


# ----------------------------------------------------------------------------- handoffs
def test_handoffs_are_listed_most_urgent_then_oldest(store: TicketStore) -> None:
    made = [
        package("t1", Priority.LOW, minutes=0),
        package("t2", Priority.HIGH, minutes=5),
        package("t3", Priority.CRITICAL, Queue.MANAGER, minutes=9),
        package("t4", Priority.HIGH, minutes=1),
        package("t5", Priority.MEDIUM, Queue.TIER2, minutes=2),
    ]
    for pkg in made:
        store.enqueue_handoff(pkg)
    assert [h.ticket_id for h in store.list_handoffs()] == ["t3", "t4", "t2", "t5", "t1"]
    assert [h.ticket_id for h in store.list_handoffs(queue=Queue.TIER1)] == ["t4", "t2", "t1"]
    store.claim(made[1].handoff_id, "ann")
    queued_tier1 = store.list_handoffs(status="queued", queue="tier1")
    assert [h.ticket_id for h in queued_tier1] == ["t4", "t1"]
    assert [h.ticket_id for h in store.list_handoffs(claimed_by="ann")] == ["t2"]
    assert store.queue_counts() == {
        "tier1": {"queued": 2, "claimed": 1},
        "tier2": {"queued": 1, "claimed": 0},
        "manager": {"queued": 1, "claimed": 0},
    }


def test_enqueue_round_trips_and_is_idempotent(store: TicketStore) -> None:
    pkg = package()
    assert store.enqueue_handoff(pkg) == pkg
    again = store.enqueue_handoff(pkg.model_copy(update={"reason": "changed"}))
    assert again.reason == "needs a human" and len(store.list_handoffs()) == 1
    with pytest.raises(NotFound):
        store.get_handoff("hof_missing")


def test_exactly_one_of_ten_agents_wins_a_claim(open_store: Opener) -> None:
    main = open_store()
    pkg = main.enqueue_handoff(package())
    stores = [open_store() for _ in range(10)]
    barrier = threading.Barrier(10)
    won: list[str] = []
    lost: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            won.append(stores[i].claim(pkg.handoff_id, f"agent-{i}").claimed_by or "")
        except AlreadyClaimed as exc:
            lost.append(exc.claimed_by)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and lost == [won[0]] * 9
    stored = main.get_handoff(pkg.handoff_id)
    assert (stored.status, stored.claimed_by) == (HandoffStatus.CLAIMED, won[0])


def test_release_first_reply_resolve_and_appends(store: TicketStore) -> None:
    pkg = store.enqueue_handoff(package())
    store.claim(pkg.handoff_id, "ann")
    with pytest.raises(AlreadyClaimed):
        store.release(pkg.handoff_id, "bob")
    assert store.release(pkg.handoff_id, "ann").status is HandoffStatus.QUEUED
    store.claim(pkg.handoff_id, "bob")
    first = store.mark_first_reply(pkg.handoff_id, T0).first_reply_at
    assert first == T0  # a later call keeps the first time
    assert store.mark_first_reply(pkg.handoff_id, T0 + timedelta(hours=1)).first_reply_at == first
    note = Message(role=Role.AGENT, content="on it")
    assert store.append_handoff_message("tkt_1", note) is not None
    assert store.active_handoff("tkt_1").conversation[-1] == note  # type: ignore[union-attr]
    with pytest.raises(AlreadyClaimed):
        store.resolve_handoff(pkg.handoff_id, "ann")
    done = store.resolve_handoff(pkg.handoff_id, "bob")
    assert done.status is HandoffStatus.RESOLVED and done.resolved_at is not None
    assert store.active_handoff("tkt_1") is None
    assert store.latest_handoff("tkt_1") == done


# ----------------------------------------------------------------------------- spans, outcomes
def test_spans_round_trip_in_start_order_and_save_is_idempotent(store: TicketStore) -> None:
    spans = [
        {"name": "kb.search", "trace_id": "ab" * 16, "span_id": "02" * 8, "parent_id": "01" * 8,
         "start": "2025-03-01T09:00:00.100000+00:00", "end": "2025-03-01T09:00:00.300000+00:00",
         "duration_ms": 200.0, "attributes": {"retrieval.count": 5, "tags": ["a", "b"]},
         "status": "ok"},
        {"name": "pipeline.process_message", "trace_id": "ab" * 16, "span_id": "01" * 8,
         "parent_id": None, "start": "2025-03-01T09:00:00.000000+00:00",
         "end": "2025-03-01T09:00:01.000000+00:00", "duration_ms": 1000.0,
         "attributes": {"ticket.id": "t1"}, "status": "unset"},
    ]
    assert store.save_spans("t1", spans) == 2
    store.save_spans("t1", spans)
    stored = store.spans("t1")
    assert [s["name"] for s in stored] == ["pipeline.process_message", "kb.search"]
    assert stored[1]["attributes"] == {"retrieval.count": 5, "tags": ["a", "b"]}
    assert stored[1]["parent_id"] == stored[0]["span_id"]
    assert store.spans("other") == []


def test_outcomes_ratings_and_metrics(store: TicketStore) -> None:
    outcomes = OutcomeStore(store)
    ticket = full_ticket()
    store.save_ticket(ticket)
    store.update_ticket(ticket.ticket_id, lambda t: lifecycle.transition(
        t, S.RESOLVED, "ann", at=T0 + timedelta(minutes=10)))
    recorded = outcomes.get_outcome(ticket.ticket_id)
    assert recorded.resolved and recorded.resolution_seconds == 600
    outcomes.rate(ticket.ticket_id, 4, "ok")
    assert outcomes.rating(ticket.ticket_id).score == 4  # type: ignore[union-attr]
    assert set(outcomes.ratings([ticket.ticket_id, "nope"])) == {ticket.ticket_id}
    with pytest.raises(NotFound):
        outcomes.rate("tkt_unknown", 3)
    m = outcomes.metrics(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert (m.tickets, m.resolved, m.escalated, m.avg_csat_human) == (1, 1, 1, 4.0)
    assert "escalated" in outcomes.time_in_status_summary(T0 - timedelta(days=1))


# ----------------------------------------------------------------------------- reporting events
def event_names(store: TicketStore, ticket_id: str) -> Counter[str]:
    return Counter(e["name"] for e in store.events(ticket_id))


def test_each_change_appends_its_events_exactly_once(store: TicketStore) -> None:
    ticket = full_ticket()  # created, escalated, one customer message
    store.save_ticket(ticket)
    store.save_ticket(store.get_ticket(ticket.ticket_id))  # saving again adds nothing
    assert event_names(store, ticket.ticket_id) == Counter(
        ticket_created=1, customer_message=1, escalated=1)
    pkg = store.enqueue_handoff(package(ticket.ticket_id, minutes=1))
    store.claim(pkg.handoff_id, "ann", at=T0 + timedelta(minutes=3))
    store.claim(pkg.handoff_id, "ann")  # re-claiming your own claim is not a new claim
    store.mark_first_reply(pkg.handoff_id, T0 + timedelta(minutes=5))
    store.mark_first_reply(pkg.handoff_id, T0 + timedelta(minutes=9))
    store.update_ticket(ticket.ticket_id, lambda t: lifecycle.transition(t.model_copy(update={
        "messages": [*t.messages, Message(role=Role.AGENT, content="done",
                                          metadata={"agent": "ann"})]}),
        S.RESOLVED, "ann", at=T0 + timedelta(minutes=10)))
    OutcomeStore(store).rate(ticket.ticket_id, 2, at=T0 + timedelta(hours=1))
    OutcomeStore(store).rate(ticket.ticket_id, 5, at=T0 + timedelta(hours=2))
    events = {e["name"]: e for e in store.events(ticket.ticket_id)}
    assert event_names(store, ticket.ticket_id) == Counter(
        ticket_created=1, customer_message=1, escalated=1, claimed=1, first_human_reply=1,
        human_replied=1, resolved=1, rated=2)
    assert events["claimed"]["value"] == 120.0 and events["claimed"]["actor"] == "ann"
    assert events["first_human_reply"]["value"] == 240.0
    assert events["resolved"]["value"] == 600.0 and events["escalated"]["detail"] == (
        "repeat_contact")
    assert OutcomeStore(store).get_outcome(ticket.ticket_id).score == 5  # the latest rating
    assert [e["name"] for e in store.events(name="rated")] == ["rated", "rated"]


def test_a_message_edited_after_its_first_save_stays_one_event(store: TicketStore) -> None:
    ticket = simple_ticket()
    ticket.messages.append(Message(role=Role.CUSTOMER, content="hi", timestamp=T0))
    store.save_ticket(ticket)

    def restamp(t: Ticket) -> Ticket:  # as the pipeline does once it knows the topic
        t.messages[-1] = Message(role=Role.CUSTOMER, content="hi",
                                 metadata={"category": "billing"})
        return t

    store.update_ticket(ticket.ticket_id, restamp)
    assert event_names(store, ticket.ticket_id) == Counter(ticket_created=1, customer_message=1)


def test_a_refused_change_leaves_no_event(store: TicketStore) -> None:
    ticket = simple_ticket()
    store.save_ticket(ticket)
    stale = store.get_ticket(ticket.ticket_id)
    store.update_ticket(ticket.ticket_id, lambda t: lifecycle.transition(t, S.PROCESSING))
    stale.messages.append(Message(role=Role.CUSTOMER, content="lost race"))
    with pytest.raises(ConcurrentUpdate):
        store.save_ticket(stale)
    assert event_names(store, ticket.ticket_id) == Counter(ticket_created=1)


def test_event_counts_stay_exact_under_concurrent_writers(open_store: Opener) -> None:
    """Three stores (three processes, say) with two threads each: replies on one ticket,
    claims racing for shared handoffs. Every reply is one event, every handoff one claim."""
    first = open_store()
    ticket = simple_ticket()
    first.save_ticket(ticket)
    handoffs = [first.enqueue_handoff(package(ticket.ticket_id, minutes=i)) for i in range(6)]
    stores = [first, open_store(), open_store()]
    barrier = threading.Barrier(6)

    def work(i: int) -> None:
        barrier.wait()
        store = stores[i % 3]
        for j in range(5):
            reply = Message(role=Role.AGENT, content=f"{i}-{j}", metadata={"agent": f"a{i}"})
            store.update_ticket(ticket.ticket_id, lambda t, m=reply: t.model_copy(
                update={"messages": [*t.messages, m]}))
            pkg = handoffs[(i + j) % len(handoffs)]
            try:
                store.claim(pkg.handoff_id, f"a{i}")
            except AlreadyClaimed:
                pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    counts = first.event_counts(None, None, include_demo=True)
    assert counts["human_replied"] == 30 and counts["claimed"] == len(handoffs)
    assert counts["ticket_created"] == 1
    assert OutcomeStore(first).get_outcome(ticket.ticket_id).human_reply_count == 30


def test_a_database_from_before_the_event_log_is_backfilled_once(open_store: Opener) -> None:
    store = open_store()
    outcomes = OutcomeStore(store)
    ticket = full_ticket()
    store.save_ticket(ticket)
    pkg = store.enqueue_handoff(package(ticket.ticket_id))
    store.claim(pkg.handoff_id, "ann", at=T0 + timedelta(minutes=1))
    store.mark_first_reply(pkg.handoff_id, T0 + timedelta(minutes=2))
    store.update_ticket(ticket.ticket_id, lambda t: lifecycle.transition(
        t, S.RESOLVED, "ann", at=T0 + timedelta(minutes=10)))
    outcomes.rate(ticket.ticket_id, 4, at=T0 + timedelta(hours=1))
    before = (store.events(), outcomes.metrics())
    # what a database made before the event log looks like: no table, no backfill record
    with store.transaction():  # type: ignore[attr-defined]
        store._exec("DROP TABLE reporting_events")  # type: ignore[attr-defined]
        store._exec("DELETE FROM _migrations WHERE name = ?", [BACKFILL_EVENTS])  # type: ignore[attr-defined]
    reopened = open_store()
    assert (reopened.events(), OutcomeStore(reopened).metrics()) == before
    assert len(reopened.events()) == 7
    open_store()  # a second open does not backfill again (nothing doubles either way)
    assert len(reopened.events()) == 7


def test_delete_demo_data_everywhere(store: TicketStore) -> None:
    demo, real = full_ticket(is_demo=True), full_ticket()
    for ticket in (demo, real):
        store.save_ticket(ticket)
        store.enqueue_handoff(package(ticket.ticket_id))
    deleted = store.delete_demo_data()
    assert deleted["tickets"] == 1 and deleted["handoffs"] == 1
    assert deleted["reporting_events"] == 3
    assert [t.ticket_id for t in store.list_tickets()] == [real.ticket_id]
    assert {e["ticket_id"] for e in store.events()} == {real.ticket_id}


# ----------------------------------------------------------------------------- repair
def test_sweep_escalates_stuck_tickets_and_requeues_invisible_ones(store: TicketStore) -> None:
    stuck = lifecycle.transition(simple_ticket("c1", "s1"), S.PROCESSING, at=T0)
    stuck.updated_at = T0
    fresh = simple_ticket("c2", "s2")
    fresh.updated_at = T0 + timedelta(hours=1)
    orphan = full_ticket(customer_id="c3", session_id="s3")  # escalated, no handoff
    for t in (stuck, fresh, orphan):
        store.save_ticket(t)
    report = sweep(store, 300, now=T0 + timedelta(hours=1), frustration_threshold=0.7)
    assert report.escalated == [stuck.ticket_id]
    assert set(report.requeued) == {orphan.ticket_id}
    repaired = store.get_ticket(stuck.ticket_id)
    assert repaired.status is S.ESCALATED and "over 300 s" in repaired.escalation.reason  # type: ignore[union-attr]
    assert store.active_handoff(stuck.ticket_id) is not None
    assert store.get_ticket(fresh.ticket_id).status is S.CREATED
    again = sweep(store, 300, now=T0 + timedelta(hours=1), frustration_threshold=0.7)
    assert again.escalated == [] and again.requeued == []


def test_postgres_errors_never_show_the_password() -> None:
    from support_core.config import Settings

    with pytest.raises(BackendUnavailable) as err:
        PostgresTicketStore("postgresql://someone:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(err.value) and "***" in str(err.value)
    settings = Settings(_env_file=None, database_url="postgresql://u:s3cret@db/x")  # type: ignore[call-arg]
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)


def test_postgres_store_shows_only_the_masked_url() -> None:
    with fresh_database() as url:
        parts = url.split("@", 1)
        with_password = parts[0] + ":pw-not-needed@" + parts[1]  # trust auth ignores it
        store = PostgresTicketStore(with_password)
        assert "pw-not-needed" not in store.url + store.where_label
        store.close()
