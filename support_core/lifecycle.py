"""The ticket lifecycle: which status changes are allowed, and how long tickets sit in each.

Pure functions over :class:`~support_core.models.Ticket`; nothing here touches storage.

The allowed moves are the seed's, plus one addition:

    created            -> processing
    processing         -> awaiting_customer | escalated
    awaiting_customer  -> processing | resolved | reopened | escalated*
    escalated          -> resolved | awaiting_customer
    resolved           -> reopened
    reopened           -> processing | escalated*

Decisions, and why:

* ``awaiting_customer -> escalated`` and ``reopened -> escalated`` (added): a customer who
  presses "talk to a human" should reach one without a pretend pipeline pass; the router is
  not asked, so ``processing`` is skipped.
* ``escalated -> processing`` is refused: once a human owns the ticket the AI must not
  answer over their head. A new customer message on an escalated ticket is appended to it
  and the status stays ``escalated``.
* ``processing -> resolved`` is refused: the AI never closes a ticket on its own answer; it
  waits for the customer (``awaiting_customer``) who confirms, rates, or goes quiet.
* ``resolved`` only goes to ``reopened``; whether a returning customer reopens the old
  ticket or gets a new one is :func:`should_reopen`'s call (the reopen window).
* Every trail starts with the creation record ``None -> created`` (at ``created_at``);
  :func:`transition` writes it, so a ticket's time in ``created`` is never lost.
* A status never transitions to itself; re-routing between queues is a handoff change, not
  a lifecycle one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from support_core.errors import InvalidTransition
from support_core.models import Ticket, TicketStatus, Transition, utcnow

S = TicketStatus

ALLOWED: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.CREATED: frozenset({S.PROCESSING}),
    S.PROCESSING: frozenset({S.AWAITING_CUSTOMER, S.ESCALATED}),
    S.AWAITING_CUSTOMER: frozenset({S.PROCESSING, S.RESOLVED, S.REOPENED, S.ESCALATED}),
    S.ESCALATED: frozenset({S.RESOLVED, S.AWAITING_CUSTOMER}),
    S.RESOLVED: frozenset({S.REOPENED}),
    S.REOPENED: frozenset({S.PROCESSING, S.ESCALATED}),
}

OPEN_STATUSES = frozenset(set(TicketStatus) - {S.RESOLVED})


def next_allowed(status: TicketStatus | str) -> frozenset[TicketStatus]:
    """Statuses a ticket in ``status`` may move to."""
    return ALLOWED[TicketStatus(status)]


def can_transition(from_status: TicketStatus | str, to_status: TicketStatus | str) -> bool:
    return TicketStatus(to_status) in next_allowed(from_status)


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so mixed inputs never raise on comparison."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _creation_record(ticket: Ticket, actor: str = "system", reason: str = "") -> Transition:
    return Transition(
        from_status=None, to_status=S.CREATED, at=ticket.created_at, actor=actor,
        reason=reason or "ticket created",
    )


def _is_fresh(ticket: Ticket) -> bool:
    return ticket.status is S.CREATED and not ticket.transitions


def transition(
    ticket: Ticket,
    to: TicketStatus | str,
    actor: str = "system",
    reason: str = "",
    at: datetime | None = None,
) -> Ticket:
    """Return a copy of ``ticket`` moved to ``to``, with the move appended to its audit trail.

    The input ticket is not changed (the copy is shallow: message lists are shared).
    ``transition(new_ticket, "created", ...)`` records the creation itself (``None ->
    created`` at ``created_at``); any other move on a ticket with an empty trail records
    the creation first, so time spent in ``created`` is always counted.
    Raises :class:`InvalidTransition` when the lifecycle refuses the move.
    """
    target = TicketStatus(to)
    if target is S.CREATED and _is_fresh(ticket):
        return ticket.model_copy(update={"transitions": [_creation_record(ticket, actor, reason)]})
    if not can_transition(ticket.status, target):
        raise InvalidTransition(ticket.status.value, target.value)
    moment = _aware(at or utcnow())
    trail = list(ticket.transitions) or [_creation_record(ticket)]
    step = Transition(
        from_status=ticket.status, to_status=target, at=moment, actor=actor, reason=reason
    )
    trail.append(step)
    return ticket.model_copy(update={"status": target, "transitions": trail, "updated_at": moment})


def time_in_status(
    transitions: Iterable[Transition], now: datetime | None = None
) -> dict[TicketStatus, float]:
    """Total seconds spent in each status visited, summing repeated visits.

    Each transition opens an interval in its ``to_status`` that the next transition closes;
    the last one is still open and counts up to ``now``. Out-of-order clocks never produce
    negative time.
    """
    ordered = sorted(transitions, key=lambda t: _aware(t.at))
    end = _aware(now or utcnow())
    totals: dict[TicketStatus, float] = {}
    closing_times = [_aware(t.at) for t in ordered[1:]] + [end]
    for current, closed_at in zip(ordered, closing_times, strict=False):
        seconds = max(0.0, (closed_at - _aware(current.at)).total_seconds())
        totals[current.to_status] = totals.get(current.to_status, 0.0) + seconds
    return totals


def should_reopen(
    last_resolved_at: datetime | None, now: datetime | None, window_hours: float
) -> bool:
    """True when a customer returning at ``now`` is within the reopen window of the resolution.

    Outside the window (or with no resolution at all) the customer gets a new ticket.
    """
    if last_resolved_at is None:
        return False
    elapsed = _aware(now or utcnow()) - _aware(last_resolved_at)
    return timedelta(0) <= elapsed <= timedelta(hours=window_hours)


def last_resolved_at(ticket: Ticket) -> datetime | None:
    """When the ticket was last resolved, from its audit trail."""
    moments = [t.at for t in ticket.transitions if t.to_status == S.RESOLVED]
    return max(moments, key=_aware) if moments else None
