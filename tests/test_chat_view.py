"""What the customer chat offers next and the readout under AI replies, on a real store."""

from __future__ import annotations

from pathlib import Path

from support_core import chat_view
from support_core.chat_view import NextStep
from support_core.models import (
    EscalationDecision,
    Message,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketStatus,
)
from tests.conftest import make_settings
from tests.desk_helpers import PASSWORD, desk_service, escalate


def ticket(status: TicketStatus) -> Ticket:
    return Ticket(customer_id="c", session_id="s", status=status)


def test_next_step_follows_the_ticket() -> None:
    step = chat_view.next_step
    assert step(None, False, False) is NextStep.NOTHING
    assert step(ticket(TicketStatus.AWAITING_CUSTOMER), False, False) is NextStep.CONFIRM
    assert step(ticket(TicketStatus.ESCALATED), True, False) is NextStep.WAIT
    assert step(ticket(TicketStatus.AWAITING_CUSTOMER), True, False) is NextStep.WITH_SPECIALIST
    assert step(ticket(TicketStatus.RESOLVED), False, False) is NextStep.RATE
    assert step(ticket(TicketStatus.RESOLVED), True, True) is NextStep.RATED


def test_a_customer_waits_then_rates_once(tmp_path: Path) -> None:
    svc = desk_service(make_settings(tmp_path / "data"))
    ana = svc.users.principal(svc.users.add("ana", "agent", PASSWORD).name)
    h = escalate(svc, customer="cust")
    view = svc.views.chat("cust", "s1")
    assert (view.step, view.owner) == (NextStep.WAIT, None)
    assert "(in line)" in view.waiting_note
    svc.desk.claim(h.handoff_id, ana)
    assert "(ana has your conversation)" in svc.views.chat("cust", "s1").waiting_note
    svc.desk.reply(h.handoff_id, ana, "Fixed it.")
    svc.desk.resolve(h.handoff_id, ana, "")
    assert svc.views.chat("cust", "s1").step is NextStep.RATE
    svc.desk.rate(h.ticket_id, 4, "")
    rated = svc.views.chat("cust", "s1")
    assert (rated.step, rated.score) == (NextStep.RATED, 4)


def test_readout_shows_confidence_mood_and_where_the_last_reply_went() -> None:
    t = ticket(TicketStatus.ESCALATED).model_copy(update={"escalation": EscalationDecision(
        should_escalate=True, queue=Queue.TIER2, priority=Priority.HIGH,
        reason="repeat contact", rule="r")})
    meta = {"ticket_id": t.ticket_id, "confidence": 0.42, "sentiment_level": "frustrated",
            "frustration": 0.7}
    msgs = [Message(role=Role.CUSTOMER, content="hi", metadata={"ticket_id": t.ticket_id}),
            Message(role=Role.ASSISTANT, content="a", metadata=meta),
            Message(role=Role.ASSISTANT, content="b", metadata={"ticket_id": t.ticket_id})]
    out = chat_view.readouts(msgs, {t.ticket_id: t})
    assert out == {1: "confidence 42% · sentiment frustrated (frustration 0.70)",
                   2: "escalated to tier2: repeat contact"}


def test_staff_pick_from_known_customers_and_customers_get_no_list() -> None:
    assert chat_view.customer_choices(["b", "a"], "new") == ["a", "b", "new"]
    assert chat_view.customer_choices([], "guest-1") == []
    assert chat_view.new_session_id() != chat_view.new_session_id()
