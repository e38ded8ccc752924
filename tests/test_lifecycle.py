"""The ticket state machine: every allowed move, a wide sample of refused ones, time per
status with repeated visits, and the reopen window."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from support_core import lifecycle
from support_core.errors import InvalidTransition
from support_core.models import Ticket, TicketStatus, Transition

S = TicketStatus
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)

# Written out independently of lifecycle.ALLOWED: the seed's moves plus the documented
# additions (a customer asking for a human from awaiting_customer or reopened).
EXPECTED_ALLOWED = {
    (S.CREATED, S.PROCESSING),
    (S.PROCESSING, S.AWAITING_CUSTOMER),
    (S.PROCESSING, S.ESCALATED),
    (S.AWAITING_CUSTOMER, S.PROCESSING),
    (S.AWAITING_CUSTOMER, S.RESOLVED),
    (S.AWAITING_CUSTOMER, S.REOPENED),
    (S.AWAITING_CUSTOMER, S.ESCALATED),
    (S.ESCALATED, S.RESOLVED),
    (S.ESCALATED, S.AWAITING_CUSTOMER),
    (S.RESOLVED, S.REOPENED),
    (S.REOPENED, S.PROCESSING),
    (S.REOPENED, S.ESCALATED),
}
ALL_PAIRS = set(itertools.product(TicketStatus, TicketStatus))

REFUSED_SAMPLE = [
    (S.CREATED, S.ESCALATED),
    (S.CREATED, S.RESOLVED),
    (S.CREATED, S.AWAITING_CUSTOMER),
    (S.PROCESSING, S.RESOLVED),
    (S.PROCESSING, S.PROCESSING),
    (S.PROCESSING, S.REOPENED),
    (S.ESCALATED, S.PROCESSING),
    (S.ESCALATED, S.REOPENED),
    (S.ESCALATED, S.ESCALATED),
    (S.RESOLVED, S.PROCESSING),
    (S.RESOLVED, S.ESCALATED),
    (S.RESOLVED, S.AWAITING_CUSTOMER),
    (S.RESOLVED, S.RESOLVED),
    (S.REOPENED, S.RESOLVED),
    (S.REOPENED, S.AWAITING_CUSTOMER),
    (S.AWAITING_CUSTOMER, S.CREATED),
    (S.REOPENED, S.CREATED),
]


def ticket_in(status: TicketStatus) -> Ticket:
    """A ticket sitting in ``status`` with a plausible trail."""
    trail = [Transition(from_status=None, to_status=S.CREATED, at=T0)]
    if status is not S.CREATED:
        trail.append(Transition(from_status=S.CREATED, to_status=status, at=T0))
    return Ticket(
        customer_id="c1", session_id="s1", status=status, created_at=T0, transitions=trail
    )


def test_allowed_table_matches_the_documented_lifecycle() -> None:
    actual = {(a, b) for a in TicketStatus for b in lifecycle.next_allowed(a)}
    assert actual == EXPECTED_ALLOWED


@pytest.mark.parametrize(("src", "dst"), sorted(EXPECTED_ALLOWED))
def test_every_allowed_move_is_applied_and_audited(src: TicketStatus, dst: TicketStatus) -> None:
    before = ticket_in(src)
    at = T0 + timedelta(minutes=5)
    after = lifecycle.transition(before, dst, actor="agent-ann", reason="because", at=at)
    assert after.status is dst
    assert after.updated_at == at
    assert after.transitions[-1] == Transition(
        from_status=src, to_status=dst, at=at, actor="agent-ann", reason="because"
    )
    assert len(after.transitions) == len(before.transitions) + 1
    assert before.status is src  # the input is left alone


@pytest.mark.parametrize(("src", "dst"), REFUSED_SAMPLE)
def test_refused_moves_raise_with_both_statuses_named(src: TicketStatus, dst: TicketStatus) -> None:
    with pytest.raises(InvalidTransition) as err:
        lifecycle.transition(ticket_in(src), dst)
    assert f"'{src.value}'" in str(err.value) and f"'{dst.value}'" in str(err.value)
    assert (err.value.from_status, err.value.to_status) == (src.value, dst.value)


@pytest.mark.parametrize(("src", "dst"), sorted(ALL_PAIRS - EXPECTED_ALLOWED))
def test_can_transition_refuses_everything_else(src: TicketStatus, dst: TicketStatus) -> None:
    assert not lifecycle.can_transition(src, dst)


def test_strings_are_accepted_for_statuses() -> None:
    after = lifecycle.transition(ticket_in(S.CREATED), "processing")
    assert after.status is S.PROCESSING
    assert lifecycle.next_allowed("resolved") == frozenset({S.REOPENED})


def test_transition_to_created_records_the_creation_of_a_fresh_ticket() -> None:
    fresh = Ticket(customer_id="c1", session_id="s1", created_at=T0)
    opened = lifecycle.transition(fresh, S.CREATED, actor="customer", reason="New message")
    assert opened.transitions == [
        Transition(from_status=None, to_status=S.CREATED, at=T0, actor="customer",
                   reason="New message")
    ]
    with pytest.raises(InvalidTransition):  # only once: created -> created is not a move
        lifecycle.transition(opened, S.CREATED)


def test_first_move_on_an_empty_trail_records_the_creation_first() -> None:
    fresh = Ticket(customer_id="c1", session_id="s1", created_at=T0)
    moved = lifecycle.transition(fresh, S.PROCESSING, at=T0 + timedelta(seconds=30))
    assert [(t.from_status, t.to_status) for t in moved.transitions] == [
        (None, S.CREATED), (S.CREATED, S.PROCESSING)
    ]
    assert lifecycle.time_in_status(moved.transitions, T0 + timedelta(seconds=40)) == {
        S.CREATED: 30.0, S.PROCESSING: 10.0
    }


def walk(*steps: tuple[TicketStatus, int]) -> list[Transition]:
    """A trail through ``(status, seconds after T0)`` steps, starting at creation."""
    trail = lifecycle.transition(Ticket(customer_id="c", session_id="s", created_at=T0), S.CREATED)
    for status, seconds in steps:
        trail = lifecycle.transition(trail, status, at=T0 + timedelta(seconds=seconds))
    return trail.transitions


def test_time_in_status_sums_repeated_visits() -> None:
    trail = walk(
        (S.PROCESSING, 10), (S.AWAITING_CUSTOMER, 15), (S.PROCESSING, 115),
        (S.AWAITING_CUSTOMER, 120), (S.RESOLVED, 220),
    )
    totals = lifecycle.time_in_status(trail, now=T0 + timedelta(seconds=300))
    assert totals == {
        S.CREATED: 10.0, S.PROCESSING: 10.0, S.AWAITING_CUSTOMER: 200.0, S.RESOLVED: 80.0
    }


def test_time_in_status_counts_the_open_status_up_to_now() -> None:
    trail = walk((S.PROCESSING, 1), (S.ESCALATED, 2))
    assert lifecycle.time_in_status(trail, T0 + timedelta(hours=1))[S.ESCALATED] == 3598.0
    assert lifecycle.time_in_status(trail, T0 + timedelta(hours=2))[S.ESCALATED] == 7198.0


def test_time_in_status_ignores_input_order_and_never_goes_negative() -> None:
    trail = walk((S.PROCESSING, 10), (S.AWAITING_CUSTOMER, 20))
    shuffled = [trail[2], trail[0], trail[1]]
    assert lifecycle.time_in_status(shuffled, T0 + timedelta(seconds=30)) == {
        S.CREATED: 10.0, S.PROCESSING: 10.0, S.AWAITING_CUSTOMER: 10.0
    }
    # "now" before the last move (clock skew): the open interval is zero, not negative
    assert lifecycle.time_in_status(trail, T0)[S.AWAITING_CUSTOMER] == 0.0


def test_time_in_status_of_no_transitions_is_empty() -> None:
    assert lifecycle.time_in_status([], T0) == {}


@pytest.mark.parametrize(
    ("resolved_ago", "window_hours", "expected"),
    [
        (timedelta(hours=1), 72, True),
        (timedelta(hours=72), 72, True),  # the edge belongs to the window
        (timedelta(hours=72, seconds=1), 72, False),
        (timedelta(days=30), 72, False),
        (timedelta(0), 0, True),
        (timedelta(minutes=1), 0, False),
        (timedelta(hours=-1), 72, False),  # "resolved" in the future: clock skew, do not reopen
    ],
)
def test_should_reopen_inside_the_window_only(
    resolved_ago: timedelta, window_hours: float, expected: bool
) -> None:
    assert lifecycle.should_reopen(T0 - resolved_ago, T0, window_hours) is expected


def test_should_reopen_without_a_resolution_is_false() -> None:
    assert lifecycle.should_reopen(None, T0, 72) is False


def test_should_reopen_treats_naive_times_as_utc() -> None:
    naive = (T0 - timedelta(hours=2)).replace(tzinfo=None)
    assert lifecycle.should_reopen(naive, T0, 3) is True
    assert lifecycle.should_reopen(naive, T0, 1) is False


def test_last_resolved_at_finds_the_latest_resolution() -> None:
    trail = walk((S.PROCESSING, 1), (S.AWAITING_CUSTOMER, 2), (S.RESOLVED, 3), (S.REOPENED, 4),
                 (S.PROCESSING, 5), (S.AWAITING_CUSTOMER, 6), (S.RESOLVED, 7))
    ticket = Ticket(customer_id="c", session_id="s", transitions=trail, status=S.RESOLVED)
    assert lifecycle.last_resolved_at(ticket) == T0 + timedelta(seconds=7)
    assert lifecycle.last_resolved_at(ticket_in(S.PROCESSING)) is None
