"""Replaying a writer's changes onto the ticket as stored (ticket_merge.rebase)."""

from __future__ import annotations

from support_core import lifecycle
from support_core.models import (
    Message,
    MessageMetadata,
    Role,
    StageError,
    Ticket,
    TicketStatus,
)
from support_core.ticket_merge import rebase

S = TicketStatus


def opened() -> Ticket:
    ticket = lifecycle.transition(Ticket(customer_id="c", session_id="s"), S.PROCESSING)
    ticket.messages.append(Message(role=Role.CUSTOMER, content="help"))
    return ticket


def test_both_sides_messages_are_kept_and_an_edit_in_place_survives() -> None:
    base = opened()
    mine = base.model_copy(deep=True)
    mine.messages[0] = mine.messages[0].model_copy(
        update={"metadata": MessageMetadata(category="billing")})
    mine.messages.append(Message(role=Role.ASSISTANT, content="answer"))
    mine.stage_errors.append(StageError(stage="kb.search", error="slow"))
    current = base.model_copy(deep=True)
    current.messages.append(Message(role=Role.CUSTOMER, content="hello?"))
    merged = rebase(base, mine, current)
    assert [m.content for m in merged.messages] == ["help", "hello?", "answer"]
    assert merged.messages[0].metadata.category == "billing"
    assert [e.stage for e in merged.stage_errors] == ["kb.search"]


def test_an_auto_reply_does_not_pull_a_ticket_back_from_a_human() -> None:
    base = opened()
    mine = lifecycle.transition(base.model_copy(deep=True), S.AWAITING_CUSTOMER, "pipeline")
    current = lifecycle.transition(base.model_copy(deep=True), S.ESCALATED, "router")
    merged = rebase(base, mine, current)
    assert merged.status is S.ESCALATED
    assert [t.to_status for t in merged.transitions] == [S.CREATED, S.PROCESSING, S.ESCALATED]


def test_moves_are_replayed_from_the_current_status() -> None:
    base = opened()
    mine = lifecycle.transition(base.model_copy(deep=True), S.ESCALATED, "router", "angry")
    current = lifecycle.transition(base.model_copy(deep=True), S.AWAITING_CUSTOMER, "pipeline")
    merged = rebase(base, mine, current)
    assert merged.status is S.ESCALATED
    last = merged.transitions[-1]
    assert (last.from_status, last.to_status, last.reason) == (
        S.AWAITING_CUSTOMER, S.ESCALATED, "angry")
    for before, after in zip(merged.transitions, merged.transitions[1:], strict=False):
        assert lifecycle.can_transition(before.to_status, after.to_status)


def test_fields_only_the_other_side_changed_are_kept() -> None:
    base = opened()
    mine = base.model_copy(deep=True)
    mine.contact_count = 3
    current = base.model_copy(deep=True)
    current.subject = "changed by someone else"
    merged = rebase(base, mine, current)
    assert (merged.contact_count, merged.subject) == (3, "changed by someone else")
