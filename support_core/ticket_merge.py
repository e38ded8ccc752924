"""Merge a writer's changes into the ticket as it is stored now (no lost updates).

A pipeline run reads a ticket, works for a while (search, sentiment, drafting) and then saves.
Meanwhile an agent may have replied, or a second message may have arrived. Writing the run's
copy back whole would erase those. Instead the run's *changes* since it read the ticket
(``base``) are replayed onto the stored ticket (``current``) inside the store's per-ticket lock:

* append-only lists (messages, stage errors, the sentiment trail) keep everything both sides
  added; a message the writer edited in place (e.g. metadata added) is edited in the result;
* transitions are replayed from the *current* status (see :func:`replay_transitions`): an
  auto-reply finishing after a human took the ticket does not pull it out of ``escalated``,
  while an escalation always lands;
* every other field takes the writer's value if the writer changed it, else the stored one.
"""

from __future__ import annotations

from typing import Any

from support_core import lifecycle
from support_core.models import Message, Ticket, TicketStatus, Transition

APPENDED = ("stage_errors", "sentiment_trail")
SPECIAL = {"messages", "transitions", "status", "version", *APPENDED}


def _key(message: Message) -> tuple[str, str, str]:
    return (message.role.value, message.timestamp.isoformat(), message.content)


def merge_messages(
    base: list[Message], mine: list[Message], current: list[Message]
) -> list[Message]:
    edited = {_key(b): m for b, m in zip(base, mine, strict=False) if m != b}
    merged = [edited.get(_key(m), m) for m in current]
    known = {_key(m) for m in merged}
    merged += [m for m in mine[len(base):] if _key(m) not in known]
    return merged


def replay_transitions(
    current: Ticket, added: list[Transition]
) -> tuple[list[Transition], TicketStatus]:
    """``current``'s trail plus the moves in ``added`` that still apply; returns (trail, status).

    A move applies when it continues from the current status, or when it escalates and the
    lifecycle allows that from the current status (a reason to reach a human never expires).
    Any other move is dropped: e.g. an auto-reply's ``processing -> awaiting_customer`` onto a
    ticket another writer escalated meanwhile would read as ``escalated -> awaiting_customer``
    (a specialist's reply) and take the ticket from the human."""
    trail, status = list(current.transitions), current.status
    for step in added:
        applies = step.from_status == status or step.to_status is TicketStatus.ESCALATED
        if (step.to_status == status or not applies
                or not lifecycle.can_transition(status, step.to_status)):
            continue
        if not trail:
            trail = [Transition(from_status=None, to_status=TicketStatus.CREATED,
                                at=current.created_at, reason="ticket created")]
        trail.append(step.model_copy(update={"from_status": status}))
        status = step.to_status
    return trail, status


def rebase(base: Ticket, mine: Ticket, current: Ticket) -> Ticket:
    """``current`` with the changes ``mine`` made since ``base`` (see the module docstring)."""
    update: dict[str, Any] = {}
    for name in Ticket.model_fields:
        if name in SPECIAL:
            continue
        if getattr(mine, name) != getattr(base, name):
            update[name] = getattr(mine, name)
    for name in APPENDED:
        done = len(getattr(base, name))
        update[name] = [*getattr(current, name), *getattr(mine, name)[done:]]
    update["messages"] = merge_messages(base.messages, mine.messages, current.messages)
    trail, status = replay_transitions(current, mine.transitions[len(base.transitions):])
    update.update(transitions=trail, status=status)
    update["updated_at"] = max(current.updated_at, mine.updated_at)
    return current.model_copy(update=update, deep=True)
