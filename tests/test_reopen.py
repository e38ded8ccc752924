"""Returning customers get the right ticket: reopened only for the same issue, across
sessions; a ticket a person resolved goes back to that person."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from support_core.models import (
    HandoffStatus,
    SearchHit,
    Ticket,
    TicketStatus,
    Transition,
    shifted_clock,
)
from support_core.reopen import Topic, choose

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def resolved(articles: list[str], hours_ago: float, session: str = "s1") -> Ticket:
    hits = [SearchHit(chunk_id=f"{a}:0", article_id=a, title=a, text="...") for a in articles]
    return Ticket(customer_id="c", session_id=session, status=TicketStatus.RESOLVED,
                  retrieved=hits, transitions=[Transition(
                      from_status=TicketStatus.AWAITING_CUSTOMER, to_status=TicketStatus.RESOLVED,
                      at=NOW - timedelta(hours=hours_ago))])


def test_same_issue_within_the_window_reopens_across_sessions() -> None:
    refund = resolved(["billing-request-refund"], 5, session="old-session")
    decision = choose([refund], Topic(frozenset({"billing-request-refund", "x"})), NOW, 72)
    assert decision.reopen is refund and decision.linked is None


def test_another_issue_opens_a_new_ticket_linked_to_the_earlier_one() -> None:
    refund = resolved(["billing-request-refund"], 5)
    decision = choose([refund], Topic(frozenset({"account-recovery-lost-2fa"})), NOW, 72)
    assert decision.reopen is None and decision.linked is refund


def test_outside_the_window_nothing_is_reopened_or_linked() -> None:
    old = resolved(["billing-request-refund"], 100)
    decision = choose([old], Topic(frozenset({"billing-request-refund"})), NOW, 72)
    assert decision.reopen is None and decision.linked is None


def test_most_recent_matching_ticket_wins() -> None:
    a, b = resolved(["api-webhooks-setup"], 30), resolved(["api-webhooks-setup"], 2)
    assert choose([a, b], Topic(frozenset({"api-webhooks-setup"})), NOW, 72).reopen is b


@pytest.mark.slow
def test_pipeline_reopens_by_topic_and_returns_human_tickets_to_their_agent(service) -> None:
    p, desk = service.pipeline, service.desk
    service.users.add("sam", "agent", "a long enough password")
    with shifted_clock(-timedelta(hours=5)):
        first = p.process_message("ret-1", "s1", "Could I talk to a real person, please? "
                                                 "I want a refund for last month.")
        assert first.action == "escalated"
        desk.claim(first.handoff_id, "sam")
        desk.reply(first.handoff_id, "sam", "Refund issued.")
        desk.resolve(first.handoff_id, "sam")
    # Another session, another issue: a new ticket that links the refund ticket.
    other = p.process_message("ret-1", "s2", "How do I recover my account after losing my "
                                             "two-factor authentication device?")
    assert other.ticket.ticket_id != first.ticket.ticket_id
    assert other.ticket.linked_ticket_id == first.ticket.ticket_id
    # Another session, the same issue: the refund ticket is reopened and goes back to sam.
    again = p.process_message("ret-1", "s3", "The refund for last month has not arrived.")
    assert again.ticket.ticket_id == first.ticket.ticket_id
    assert again.action == "escalated" and again.handoff_id
    handoff = service.store.get_handoff(again.handoff_id)
    assert handoff.status == HandoffStatus.CLAIMED and handoff.claimed_by == "sam"
    assert handoff.rule == "reopened_to_agent"
    assert handoff.conversation[-1].content == "The refund for last month has not arrived."
    assert service.store.get_ticket(first.ticket.ticket_id).status == TicketStatus.ESCALATED


def refund_resolved_by_sam(service, customer: str):  # type: ignore[no-untyped-def]
    """A refund ticket ``customer`` opened 5 hours ago in session s1, resolved by agent sam."""
    service.users.add("sam", "agent", "a long enough password")
    with shifted_clock(-timedelta(hours=5)):
        first = service.pipeline.process_message(
            customer, "s1",
            "Could I talk to a real person, please? I want a refund for last month.")
        service.desk.claim(first.handoff_id, "sam")
        service.desk.resolve(first.handoff_id, "sam")
    return first


def test_a_reopened_ticket_is_never_queued_for_another_agent_to_grab(service) -> None:
    """Going back to the agent who resolved it is one step: another agent claiming in the
    moment between "queued" and "claimed" used to win, and the customer's message then
    failed into the repair path (CI's stress test hit it)."""
    import threading

    from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore
    from support_core.errors import AlreadyClaimed

    p, store = service.pipeline, service.store
    refund_resolved_by_sam(service, "ret-2")
    other_process = SQLiteTicketStore(service.settings.sqlite_path, timeout=10)
    grabbed: list[BaseException | str] = []

    def grab(handoff_id: str) -> None:
        try:
            grabbed.append(other_process.claim(handoff_id, "quick agent").claimed_by or "")
        except BaseException as exc:  # noqa: BLE001 - asserted below
            grabbed.append(exc)

    inner = store.inner
    enqueue = inner.enqueue_handoff

    def enqueue_then_race(pkg):  # type: ignore[no-untyped-def]
        stored = enqueue(pkg)
        racer = threading.Thread(target=grab, args=(pkg.handoff_id,))
        racer.start()
        racer.join(timeout=1)  # done at once if the handoff is visible as queued
        enqueue_then_race.racer = racer  # type: ignore[attr-defined]
        return stored

    inner.enqueue_handoff = enqueue_then_race
    again = p.process_message("ret-2", "s3", "The refund for last month has not arrived.")
    enqueue_then_race.racer.join(timeout=30)  # type: ignore[attr-defined]
    other_process.close()
    assert again.action == "escalated" and again.handoff_id
    assert "went wrong" not in again.message  # not the repair path's reply
    handoff = store.get_handoff(again.handoff_id)
    assert (handoff.status, handoff.claimed_by) == (HandoffStatus.CLAIMED, "sam")
    assert len(grabbed) == 1 and isinstance(grabbed[0], AlreadyClaimed)


def test_the_reopen_topic_is_searched_outside_the_session_lock(service) -> None:
    """The store stays free for other threads while any search runs, including the search
    that decides whether a returning customer's message reopens a resolved ticket."""
    import threading

    p, store = service.pipeline, service.store
    first = refund_resolved_by_sam(service, "ret-3")
    store_free: list[bool] = []
    search = p.s.kb.search

    def search_while_another_thread_reads(*args, **kwargs):  # type: ignore[no-untyped-def]
        reader = threading.Thread(target=lambda: store.list_tickets(limit=1), daemon=True)
        reader.start()
        reader.join(timeout=2)
        store_free.append(not reader.is_alive())
        return search(*args, **kwargs)

    p.s.kb.search = search_while_another_thread_reads
    again = p.process_message("ret-3", "s3", "The refund for last month has not arrived.")
    assert again.ticket.ticket_id == first.ticket.ticket_id  # the topic search did run
    assert store_free and all(store_free), store_free
