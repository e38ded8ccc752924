"""The human side: agents claim handoffs, reply, resolve; customers confirm and rate.

Every action goes through the lifecycle (so it is audited) and lands in the
customer's conversation and memory, so the customer sees the agent's reply in the
same chat and the AI sees it on the next contact.
"""

from __future__ import annotations

from support_core import lifecycle
from support_core.config import Settings
from support_core.csat import OutcomeStore
from support_core.errors import AlreadyClaimed, InputError
from support_core.models import (
    HandoffPackage,
    HandoffStatus,
    Message,
    Queue,
    Role,
    Ticket,
    TicketStatus,
    utcnow,
)
from support_core.ports import MemoryStore
from support_core.redaction import Redactor
from support_core.store import TicketStore
from support_core.validation import clean_agent_name, clean_message


class AgentDesk:
    def __init__(
        self, settings: Settings, store: TicketStore, memory: MemoryStore, outcomes: OutcomeStore
    ) -> None:
        self.settings = settings
        self.store = store
        self.memory = memory
        self.outcomes = outcomes
        self.redactor = Redactor.from_settings(settings)

    # ------------------------------------------------------------------ reading
    def queue(
        self,
        queue: Queue | None = None,
        status: HandoffStatus | None = None,
        claimed_by: str | None = None,
    ) -> list[HandoffPackage]:
        return self.store.list_handoffs(queue=queue, status=status, claimed_by=claimed_by)

    def conversation(self, customer_id: str, session_id: str) -> list[Message]:
        """The session's messages across its tickets, oldest first (durable, from SQLite)."""
        tickets = self.store.list_tickets(customer_id=customer_id, session_id=session_id)
        messages = [m for t in sorted(tickets, key=lambda t: t.created_at) for m in t.messages]
        return sorted(messages, key=lambda m: m.timestamp)

    # ------------------------------------------------------------------ agent actions
    def claim(self, handoff_id: str, agent: str) -> HandoffPackage:
        return self.store.claim(handoff_id, clean_agent_name(agent))

    def release(self, handoff_id: str, agent: str) -> HandoffPackage:
        return self.store.release(handoff_id, clean_agent_name(agent))

    def reply(self, handoff_id: str, agent: str, text: str) -> Ticket:
        """Send the agent's reply (an edited draft or their own words) to the customer."""
        agent = clean_agent_name(agent)
        body = clean_message(text, self.settings.max_message_chars)
        handoff = self._owned(handoff_id, agent)
        ticket = self.store.get_ticket(handoff.ticket_id)
        body = self.redactor.for_storage(body, f"{ticket.customer_id}/{ticket.session_id}")
        msg = Message(
            role=Role.AGENT,
            content=body,
            metadata={
                "ticket_id": ticket.ticket_id,
                "agent": agent,
                "session_id": ticket.session_id,
            },
        )
        ticket.messages.append(msg)
        if ticket.status == TicketStatus.ESCALATED:
            ticket = lifecycle.transition(
                ticket, TicketStatus.AWAITING_CUSTOMER, agent, "Specialist replied"
            )
        if handoff.first_reply_at is None:
            self.store.mark_first_reply(handoff_id, msg.timestamp)
        self.store.append_handoff_message(ticket.ticket_id, msg)
        self._save(ticket)
        self.memory.add_message(ticket.customer_id, ticket.session_id, msg)
        return ticket

    def resolve(self, handoff_id: str, agent: str, note: str = "") -> Ticket:
        agent = clean_agent_name(agent)
        handoff = self._owned(handoff_id, agent)
        ticket = self.store.get_ticket(handoff.ticket_id)
        ticket = lifecycle.transition(
            ticket, TicketStatus.RESOLVED, agent, note or "Resolved by specialist"
        )
        self.store.resolve_handoff(handoff_id, agent)
        self._save(ticket)
        return ticket

    # ------------------------------------------------------------------ customer actions
    def customer_confirms(self, ticket_id: str) -> Ticket:
        """The customer says the auto-reply solved it."""
        ticket = self.store.get_ticket(ticket_id)
        ticket = lifecycle.transition(
            ticket, TicketStatus.RESOLVED, "customer", "Customer confirmed the answer solved it"
        )
        self._save(ticket)
        return ticket

    def rate(self, ticket_id: str, score: int, comment: str = "") -> None:
        ticket = self.store.get_ticket(ticket_id)
        if ticket.status != TicketStatus.RESOLVED:
            raise InputError("A ticket can be rated once it is resolved.")
        self.outcomes.rate(ticket_id, score, comment)

    # ------------------------------------------------------------------ helpers
    def _owned(self, handoff_id: str, agent: str) -> HandoffPackage:
        handoff = self.store.get_handoff(handoff_id)
        if handoff.status == HandoffStatus.QUEUED:
            raise InputError(f"Claim ticket {handoff.ticket_id} before replying to it.")
        if handoff.claimed_by != agent:
            raise AlreadyClaimed(handoff_id, handoff.claimed_by or "someone else")
        if handoff.status == HandoffStatus.RESOLVED:
            raise InputError(f"Ticket {handoff.ticket_id} is already resolved.")
        return handoff

    def _save(self, ticket: Ticket) -> None:
        ticket.updated_at = utcnow()
        self.store.save_ticket(ticket)
        self.outcomes.record_ticket(ticket)
