"""Reporting events: what happened to a ticket, as an append-only log (as Chatwoot's
``reporting_events``), from which the metrics are computed by queries.

Why events and not a per-ticket outcome row: a row rewritten after every message has two
writers racing to rewrite it, and it forgets what happened before the last rewrite (a ticket
escalated, resolved, reopened and answered by the AI "was never escalated"). Events are only
ever inserted, in the same transaction as the ticket change they describe (the store derives
them inside ``save_ticket``, ``claim``, ``mark_first_reply`` and the rating write).

Every event has a deterministic key (``ticket_id:name:ref``), so deriving the events of a
ticket again inserts nothing new: the store writes *all* of a ticket's events on every save
with ``ON CONFLICT DO NOTHING``, which makes each event exactly-once under any number of
concurrent writers, and the same function backfills databases made before the log existed.

This module is pure: it turns tickets, handoffs and ratings into event rows; SQL lives in the
store adapters.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from support_core.models import HandoffPackage, Role, Ticket, TicketStatus


class EventName(StrEnum):
    TICKET_CREATED = "ticket_created"
    CUSTOMER_MESSAGE = "customer_message"
    AUTO_REPLIED = "auto_replied"  # any assistant message, holding replies included
    HUMAN_REPLIED = "human_replied"
    ESCALATED = "escalated"  # detail: the router's rule
    REOPENED = "reopened"
    RESOLVED = "resolved"  # value: seconds since the ticket was created
    CLAIMED = "claimed"  # value: seconds the handoff waited; actor: the agent
    FIRST_HUMAN_REPLY = "first_human_reply"  # value: seconds from handoff queued to reply
    RATED = "rated"  # value: the CSAT score


EVENT_COLUMNS = ("event_key", "ticket_id", "name", "at", "seq", "value", "detail", "actor")
TRANSITION_EVENTS = {
    TicketStatus.ESCALATED: EventName.ESCALATED,
    TicketStatus.REOPENED: EventName.REOPENED,
    TicketStatus.RESOLVED: EventName.RESOLVED,
}
MESSAGE_EVENTS = {
    Role.CUSTOMER: EventName.CUSTOMER_MESSAGE,
    Role.ASSISTANT: EventName.AUTO_REPLIED,
    Role.AGENT: EventName.HUMAN_REPLIED,
}


def _utc(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _seconds(start: datetime, end: datetime) -> float:
    return (datetime.fromisoformat(_utc(end)) - datetime.fromisoformat(_utc(start))).total_seconds()


def event(
    ticket_id: str, name: EventName, ref: str, at: datetime, *, seq: int | None = None,
    value: float | None = None, detail: str | None = None, actor: str | None = None,
) -> dict[str, Any]:
    return {
        "event_key": f"{ticket_id}:{name.value}:{ref}", "ticket_id": ticket_id,
        "name": name.value, "at": _utc(at), "seq": seq, "value": value, "detail": detail,
        "actor": actor,
    }


def ticket_events(ticket: Ticket) -> list[dict[str, Any]]:
    """Every event the ticket's stored state implies (its creation, the transitions that
    matter for reporting, each message). Keys are stable across saves."""
    tid = ticket.ticket_id
    first_actor = ticket.transitions[0].actor if ticket.transitions else None
    rows = [event(tid, EventName.TICKET_CREATED, "0", ticket.created_at, actor=first_actor)]
    esc = ticket.escalation
    rule = esc.rule if esc is not None and esc.should_escalate else None
    for seq, step in enumerate(ticket.transitions):
        name = TRANSITION_EVENTS.get(step.to_status)
        if name is None or step.from_status is None:
            continue
        value = _seconds(ticket.created_at, step.at) if name is EventName.RESOLVED else None
        rows.append(event(tid, name, str(seq), step.at, seq=seq, value=value,
                          detail=rule if name is EventName.ESCALATED else None,
                          actor=step.actor))
    # A message's place in the list is its identity: messages are only ever appended (under
    # the ticket lock), while one may be edited in place after its first save (the pipeline
    # re-stamps the customer's message with what it was about), so neither text nor time is.
    for seq, message in enumerate(ticket.messages):
        rows.append(event(tid, MESSAGE_EVENTS[message.role], f"m{seq}", message.timestamp,
                          actor=message.metadata.get("agent")))
    return rows


def claimed_event(pkg: HandoffPackage) -> dict[str, Any] | None:
    if pkg.claimed_at is None:
        return None
    return event(pkg.ticket_id, EventName.CLAIMED, f"{pkg.handoff_id}:{_utc(pkg.claimed_at)}",
                 pkg.claimed_at, value=_seconds(pkg.created_at, pkg.claimed_at),
                 actor=pkg.claimed_by, detail=pkg.queue.value)


def first_reply_event(pkg: HandoffPackage) -> dict[str, Any] | None:
    if pkg.first_reply_at is None:
        return None
    return event(pkg.ticket_id, EventName.FIRST_HUMAN_REPLY, pkg.handoff_id, pkg.first_reply_at,
                 value=_seconds(pkg.created_at, pkg.first_reply_at), actor=pkg.claimed_by,
                 detail=pkg.queue.value)


def handoff_events(pkg: HandoffPackage) -> list[dict[str, Any]]:
    return [e for e in (claimed_event(pkg), first_reply_event(pkg)) if e is not None]


def rated_event(ticket_id: str, score: int, at: datetime) -> dict[str, Any]:
    """A rating; re-rating appends another, and the latest counts."""
    return event(ticket_id, EventName.RATED, _utc(at), at, value=float(score))
