"""Escalated tickets without the pipeline (no embedding model), for the desk's own tests."""

from __future__ import annotations

from datetime import datetime

from support_core import lifecycle
from support_core.config import Settings
from support_core.models import (
    CustomerSummary,
    Draft,
    HandoffPackage,
    Message,
    Priority,
    Queue,
    Role,
    Source,
    Ticket,
    TicketStatus,
    utcnow,
)
from support_core.wiring import Service, build_service

PASSWORD = "a long enough password"


def desk_service(settings: Settings) -> Service:
    return build_service(settings)


def escalate(
    svc: Service,
    customer: str = "cust-1",
    priority: Priority = Priority.MEDIUM,
    created_at: datetime | None = None,
    text: str = "My invoice is wrong and nobody answers.",
) -> HandoffPackage:
    """A customer message escalated to tier1, stored and queued as the pipeline would."""
    at = created_at or utcnow()
    ticket = Ticket(customer_id=customer, session_id="s1", subject=text[:40], priority=priority,
                    created_at=at, updated_at=at)  # fmt: skip
    msg = Message(role=Role.CUSTOMER, content=text, timestamp=at,
                  metadata={"ticket_id": ticket.ticket_id, "session_id": "s1"})  # fmt: skip
    ticket.messages.append(msg)
    ticket = lifecycle.transition(ticket, TicketStatus.PROCESSING, "pipeline", "", at=at)
    ticket = lifecycle.transition(ticket, TicketStatus.ESCALATED, "router", "test", at=at)
    svc.store.save_ticket(ticket)
    source = Source(article_id="a1", title="Refund policy", url="https://help.example/refunds")
    pkg = HandoffPackage(
        ticket_id=ticket.ticket_id, customer_id=customer, session_id="s1", created_at=at,
        queue=Queue.TIER1, priority=priority, reason="test", rule="test",
        suggested_action="answer", customer=CustomerSummary(customer_id=customer),
        conversation=[msg], sentiment_trail=[],
        draft=Draft(text="Draft answer", confidence=0.4, answered=False, sources=[source]),
        retrieved=[],
    )  # fmt: skip
    return svc.store.enqueue_handoff(pkg)
