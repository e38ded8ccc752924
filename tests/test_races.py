"""Lost updates under concurrent use, through the public service API.

Each test races real writers (threads of one process, as Streamlit serves browser sessions,
or separate processes) against one desk and counts what was lost. Before the store became
append-safe these failed: an agent reply racing a customer message vanished in about half
the trials, two simultaneous messages in a session opened two tickets, and four processes
writing one session lost most of their messages.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support_core.models import Role
from support_core.testing import desk_load
from support_core.testing.fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.timeout(240)
TRIALS = 10


@pytest.fixture(params=["sqlite", "postgres"])
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with FakeOpenAIServer(lambda request: "unused") as server, desk_load.ready_desk(
        request.param, tmp_path / "desk", server.base_url
    ) as settings:
        yield settings


def race(*actions: Callable[[], object]) -> list[BaseException]:
    """Start the actions together in threads; return what they raised."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_agent_reply_racing_a_customer_message_is_never_lost(desk: dict[str, Any]) -> None:
    svc = desk_load.build(desk)
    first = svc.pipeline.process_message("cust", "s1", desk_load.ANGRY.format(tag="start"))
    assert first.handoff_id
    svc.desk.claim(first.handoff_id, "Ann")
    errors: list[BaseException] = []
    for i in range(TRIALS):
        errors += race(
            lambda i=i: svc.desk.reply(first.handoff_id, "Ann", f"Agent reply r{i}"),
            lambda i=i: svc.pipeline.process_message("cust", "s1", f"Still there? c{i}"),
        )
    assert not errors, errors
    messages = svc.store.get_ticket(first.ticket.ticket_id).messages
    replies = [m.content for m in messages if m.role is Role.AGENT]
    follow_ups = [m.content for m in messages if m.role is Role.CUSTOMER][1:]
    lost_replies = TRIALS - len(set(replies))
    lost_follow_ups = TRIALS - len(set(follow_ups))
    assert (lost_replies, lost_follow_ups) == (0, 0), f"lost {lost_replies} replies"
    chat = svc.desk.conversation("cust", "s1")
    assert sum(m.role is Role.AGENT for m in chat) == TRIALS  # the customer sees every reply


def test_two_messages_in_one_session_at_once_are_both_kept_on_one_ticket(
    desk: dict[str, Any],
) -> None:
    svc = desk_load.build(desk)
    other = desk_load.build(desk)  # a second browser session's service in another process
    lost = extra_tickets = 0
    for i in range(TRIALS):
        session = f"s{i}"
        errors = race(
            lambda s=session: svc.pipeline.process_message("cust", s, f"Question a{s}"),
            lambda s=session: other.pipeline.process_message("cust", s, f"Question b{s}"),
        )
        assert not errors, errors
        tickets = svc.store.list_tickets(customer_id="cust", session_id=session)
        extra_tickets += len(tickets) - 1
        stored = {m.content for t in tickets for m in t.messages if m.role is Role.CUSTOMER}
        lost += 2 - len(stored & {f"Question a{session}", f"Question b{session}"})
    assert (lost, extra_tickets) == (0, 0), f"lost {lost} messages, {extra_tickets} extra tickets"


def test_four_processes_writing_one_session_lose_nothing(desk: dict[str, Any]) -> None:
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 6  # every worker has built its service by then
    jobs = [(desk, "cust", "shared", [f"p{p}m{m}" for m in range(5)], True, start_at)
            for p in range(4)]
    with ctx.Pool(4) as pool:
        failed = pool.starmap(desk_load.customer_worker, jobs)
    assert failed == [[], [], [], []]
    svc = desk_load.build(desk)
    tickets = svc.store.list_tickets(customer_id="cust", session_id="shared")
    stored = [m.content.rsplit(" ", 1)[-1] for t in tickets for m in t.messages
              if m.role is Role.CUSTOMER]
    sent = [tag for job in jobs for tag in job[3]]
    lost = len(set(sent) - set(stored))
    assert lost == 0, f"{lost} of {len(sent)} messages lost"
    assert sorted(stored) == sorted(sent)  # and none stored twice
    assert len(tickets) == 1
    for job in jobs:  # each process's messages in the order it sent them
        assert [t for t in stored if t in set(job[3])] == job[3]


def test_an_agent_resolving_before_the_pipeline_stored_the_escalation(
    desk: dict[str, Any],
) -> None:
    """The handoff is queued a moment before the ticket is stored as escalated; a quick agent
    resolving in that moment must not fail, and the trail stays legal."""
    from support_core import lifecycle
    from support_core.models import Ticket, TicketStatus

    svc = desk_load.build(desk)
    for status in (TicketStatus.CREATED, TicketStatus.PROCESSING, TicketStatus.REOPENED):
        ticket = lifecycle.transition(Ticket(customer_id="c", session_id=status.value),
                                      TicketStatus.CREATED)
        if status is not TicketStatus.CREATED:
            ticket = lifecycle.transition(ticket, TicketStatus.PROCESSING)
        if status is TicketStatus.REOPENED:
            for step in (TicketStatus.AWAITING_CUSTOMER, TicketStatus.RESOLVED, status):
                ticket = lifecycle.transition(ticket, step)
        svc.store.save_ticket(ticket)
        from tests.test_store import package

        pkg = svc.store.enqueue_handoff(package(ticket.ticket_id))
        svc.desk.claim(pkg.handoff_id, "Ann")
        done = svc.desk.resolve(pkg.handoff_id, "Ann")
        assert done.status is TicketStatus.RESOLVED
        trail = svc.store.transitions(ticket.ticket_id)
        assert all(lifecycle.can_transition(a.to_status, b.to_status)
                   for a, b in zip(trail, trail[1:], strict=False))
