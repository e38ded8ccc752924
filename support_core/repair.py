"""Every failure ends visible: tickets nobody will ever finish are escalated to a human.

Two ways a ticket can get stuck after the customer's message was saved: the process died (or
a stage raised something unexpected) while the ticket was ``created``/``processing``, or the
ticket was escalated but its handoff never reached the queue. :func:`escalate_unfinished`
moves one ticket to ``escalated`` with the reason and queues a handoff; :func:`sweep` finds
both kinds (run at app start and by ``deskpilot repair``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from support_core import lifecycle
from support_core.handoff import build_handoff_package
from support_core.models import (
    PRIORITY_ORDER,
    CustomerSummary,
    EscalationDecision,
    Priority,
    Queue,
    StageError,
    Ticket,
    TicketStatus,
    utcnow,
)
from support_core.ports import TicketStore

S = TicketStatus
FAILURE_RULE = "system_failure"


class RepairReport(BaseModel):
    escalated: list[str] = Field(default_factory=list)  # stuck tickets now escalated
    requeued: list[str] = Field(default_factory=list)  # escalated tickets given a handoff

    def summary(self) -> str:
        return (f"Escalated {len(self.escalated)} stuck ticket(s); queued a handoff for "
                f"{len(self.requeued)} escalated ticket(s) nobody could see.")


def _escalated(ticket: Ticket, reason: str, stage: str, actor: str) -> Ticket:
    if ticket.status in (S.ESCALATED, S.RESOLVED):
        return ticket
    if ticket.status is S.CREATED:
        ticket = lifecycle.transition(ticket, S.PROCESSING, actor, reason)
    ticket = lifecycle.transition(ticket, S.ESCALATED, actor, reason)
    priority = max(ticket.priority, Priority.HIGH, key=PRIORITY_ORDER.__getitem__)
    ticket.escalation = EscalationDecision(
        should_escalate=True, queue=Queue.TIER1, priority=priority, reason=reason,
        rule=FAILURE_RULE,
    )
    ticket.priority = priority
    ticket.stage_errors.append(StageError(stage=stage, error=reason))
    return ticket


def escalate_unfinished(
    store: TicketStore, ticket_id: str, reason: str, stage: str = "pipeline", actor: str = "repair",
    *, frustration_threshold: float,
) -> Ticket:
    """Escalate the ticket (unless a human already has it or it is resolved) with ``reason``
    and make sure an open handoff exists for it. ``frustration_threshold`` is the configured
    ``Settings.frustration_threshold`` (it shapes the handoff's suggested action)."""
    ticket = store.update_ticket(ticket_id, lambda t: _escalated(t, reason, stage, actor))
    if ticket.status is S.ESCALATED:
        ensure_handoff(store, ticket, frustration_threshold=frustration_threshold)
    return ticket


def ensure_handoff(store: TicketStore, ticket: Ticket, *, frustration_threshold: float) -> bool:
    """Queue a handoff for an escalated ticket that has no open one; True when queued."""
    if store.active_handoff(ticket.ticket_id) is not None:
        return False
    if ticket.escalation is None or not ticket.escalation.should_escalate:
        ticket = _escalated(ticket.model_copy(update={"status": S.PROCESSING}),
                            "Escalated without a routing decision", "repair", "repair")
    summary = CustomerSummary(customer_id=ticket.customer_id)
    store.enqueue_handoff(build_handoff_package(ticket, summary, list(ticket.messages),
                                                frustration_threshold=frustration_threshold))
    return True


def sweep(
    store: TicketStore, stuck_after_seconds: int, now: datetime | None = None,
    *, frustration_threshold: float,
) -> RepairReport:
    """Escalate tickets stuck in created/processing for longer than ``stuck_after_seconds``
    and queue handoffs for escalated tickets that have none (``frustration_threshold``: the
    configured ``Settings.frustration_threshold``)."""
    report = RepairReport()
    cut = (now or utcnow()) - timedelta(seconds=stuck_after_seconds)
    for ticket in store.stuck_tickets(cut):
        reason = (f"Left '{ticket.status.value}' for over {stuck_after_seconds} s "
                  "(a crash or timeout); needs a person")
        escalate_unfinished(store, ticket.ticket_id, reason, stage="repair.sweep",
                            frustration_threshold=frustration_threshold)
        report.escalated.append(ticket.ticket_id)
    for ticket in store.escalated_without_handoff():
        if ensure_handoff(store, ticket, frustration_threshold=frustration_threshold):
            report.requeued.append(ticket.ticket_id)
    return report
