"""The read side the pages use: inbox rows, a customer's chat, a ticket's trace, metrics.

Pages keep layout and widgets; what to show and what the customer may do next is decided
here, with role checks on everything staff-only. Reads go through the TicketStore's and
OutcomeStore's public methods, plus one read query of its own (the metrics ticket table:
ratings joined and demo rows filtered in SQL, before the LIMIT).

The inbox also runs the SLA sweep: a clock found breached is recorded once in the desk's
audit log (a unique ``once_key``), and each recorded breach raises the handoff's priority
one level for display and ordering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from support_core import chat_view, sla
from support_core.access import Action, Principal, require
from support_core.chat_view import ChatView
from support_core.csat import SupportMetrics
from support_core.desk_records import DeskEvent, Macro
from support_core.models import (
    HandoffPackage,
    HandoffStatus,
    Priority,
    Queue,
    Ticket,
    TicketStatus,
    Transition,
    utcnow,
)
from support_core.store import iso

if TYPE_CHECKING:
    from support_core.wiring import Service

PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}
TICKET_TABLE_LIMIT = 200


class InboxView(str, Enum):
    OPEN = "Open tickets"
    MINE = "Claimed by me"
    RESOLVED = "Resolved"


@dataclass
class InboxRow:
    handoff: HandoffPackage  # priority already raised by recorded breaches
    base_priority: Priority
    sla: sla.SlaStatus

    @property
    def handoff_id(self) -> str:
        return self.handoff.handoff_id

    def sort_key(self) -> tuple[int, int, float, datetime]:
        left = self.sla.seconds_left if self.sla.seconds_left is not None else float("inf")
        return (self.sla.urgency, PRIORITY_RANK[self.handoff.priority], left,
                self.handoff.created_at)  # fmt: skip


@dataclass
class TraceView:
    ticket: Ticket
    transitions: list[Transition]
    spans: list[dict[str, Any]]
    events: list[DeskEvent]


@dataclass
class MetricsView:
    metrics: SupportMetrics
    daily: list[dict[str, Any]]
    in_status: dict[str, float]
    sla: dict[str, dict[str, float | int | None]]
    tickets: list[dict[str, Any]]


class DeskViews:
    def __init__(self, svc: Service) -> None:
        self.svc = svc

    # ------------------------------------------------------------------ inbox
    def inbox(
        self,
        viewer: Principal | None,
        view: InboxView = InboxView.OPEN,
        queue: Queue | None = None,
        now: datetime | None = None,
    ) -> list[InboxRow]:
        """The queue, breached and at-risk first, then by priority and time left."""
        who = require(viewer, Action.READ_TICKETS)
        now = now or utcnow()
        desk = self.svc.desk
        if view is InboxView.MINE:
            handoffs = desk.queue(queue, HandoffStatus.CLAIMED, claimed_by=who.name)
        elif view is InboxView.RESOLVED:
            handoffs = desk.queue(queue, HandoffStatus.RESOLVED)
        else:
            handoffs = [h for h in desk.queue(queue) if h.status is not HandoffStatus.RESOLVED]
        rows = self._rows(handoffs, now)
        return sorted(rows, key=InboxRow.sort_key) if view is not InboxView.RESOLVED else rows

    def _rows(self, handoffs: list[HandoffPackage], now: datetime) -> list[InboxRow]:
        self.record_breaches(handoffs, now)
        bumps = self.svc.records.priority_bumps()
        rows = []
        for h in handoffs:
            raised = sla.raised(h.priority, bumps.get(h.handoff_id, 0))
            rows.append(InboxRow(h.model_copy(update={"priority": raised}), h.priority,
                                 sla.status(self.svc.settings, h, now=now)))  # fmt: skip
        return rows

    def record_breaches(self, handoffs: list[HandoffPackage], now: datetime | None = None) -> int:
        """Record each newly breached clock once (audit log, actor ``sla``); returns how many."""
        recorded = 0
        for h in handoffs:
            status = sla.status(self.svc.settings, h, now=now)
            for clock in sla.breached_clocks(status):
                due = getattr(status, f"{clock}_due")
                event = DeskEvent(
                    handoff_id=h.handoff_id, ticket_id=h.ticket_id, kind="sla_breach",
                    actor="sla", at=due, detail={"clock": clock, "due": iso(due)},
                )  # fmt: skip
                recorded += self.svc.records.record(event, once_key=f"{h.handoff_id}:{clock}")
        return recorded

    def handoffs_json(self, handoffs: list[HandoffPackage]) -> list[dict[str, Any]]:
        """``deskpilot handoffs --json`` rows: the package plus its SLA clocks."""
        out = []
        for row in self._rows(handoffs, utcnow()):
            data = row.handoff.model_dump(mode="json")
            data.update(
                base_priority=row.base_priority.value,
                first_response_due=iso(row.sla.first_response_due),
                resolution_due=iso(row.sla.resolution_due),
                breached=row.sla.breached,
                at_risk=row.sla.at_risk,
            )
            out.append(data)
        return out

    def queue_counts(self, viewer: Principal | None) -> dict[str, dict[str, int]]:
        require(viewer, Action.READ_TICKETS)
        return self.svc.store.queue_counts()

    def handoff(self, viewer: Principal, handoff_id: str) -> InboxRow:
        """The open ticket, fresh (another agent may have claimed it), with notes and SLA."""
        pkg = self.svc.desk.package(handoff_id, viewer)
        return self._rows([pkg], utcnow())[0]

    def macros(self, viewer: Principal | None) -> list[Macro]:
        require(viewer, Action.WORK_INBOX)
        return self.svc.records.macros()

    def agents(self, viewer: Principal | None) -> list[str]:
        """Who a manager can reassign to: active users."""
        require(viewer, Action.REASSIGN)
        return [u.name for u in self.svc.users.list() if u.active]

    # ------------------------------------------------------------------ customer chat
    def customer_ids(self, viewer: Principal | None) -> list[str]:
        """Other customers are listed to signed-in staff only."""
        return self.svc.store.customer_ids() if viewer is not None else []

    def latest_session(self, customer_id: str) -> str | None:
        latest = self.svc.store.latest_ticket(customer_id)
        return latest.session_id if latest else None

    def chat(self, customer_id: str, session_id: str, readout: bool = True) -> ChatView:
        tickets = self.svc.store.list_tickets(customer_id=customer_id, session_id=session_id)
        by_id = {t.ticket_id: t for t in tickets}
        messages = self.svc.desk.conversation(customer_id, session_id)
        latest = tickets[0] if tickets else None
        handoff = self.svc.store.active_handoff(latest.ticket_id) if latest else None
        rating = (self.svc.outcomes.rating(latest.ticket_id)
                  if latest and latest.status is TicketStatus.RESOLVED else None)  # fmt: skip
        choices = chat_view.pending_choices(messages)
        return ChatView(
            messages, by_id, latest,
            chat_view.next_step(latest, handoff is not None, bool(rating), choices),
            choices=choices, owner=handoff.claimed_by if handoff else None,
            score=rating.score if rating else None,
            readouts=chat_view.readouts(messages, by_id) if readout else {},
        )

    def chat_signature(self, customer_id: str, session_id: str) -> tuple[int, str]:
        """Changes when a message or status lands in the session (the live check)."""
        tickets = self.svc.store.list_tickets(customer_id=customer_id, session_id=session_id)
        return (sum(len(t.messages) for t in tickets),
                "|".join(f"{t.ticket_id}:{t.status.value}" for t in tickets))  # fmt: skip

    def earlier_tickets(self, customer_id: str, session_id: str) -> list[Ticket]:
        return [t for t in self.svc.store.list_tickets(customer_id=customer_id)
                if t.session_id != session_id]  # fmt: skip

    # ------------------------------------------------------------------ trace
    def trace_tickets(self, viewer: Principal | None) -> list[Ticket]:
        require(viewer, Action.READ_TICKETS)
        return self.svc.store.list_tickets(limit=TICKET_TABLE_LIMIT)

    def trace(self, viewer: Principal | None, ticket_id: str) -> TraceView:
        require(viewer, Action.READ_TICKETS)
        store = self.svc.store
        return TraceView(store.get_ticket(ticket_id), store.transitions(ticket_id),
                         store.spans(ticket_id), self.svc.records.events(ticket_id=ticket_id))

    # ------------------------------------------------------------------ metrics
    def metrics(
        self, viewer: Principal | None, since: datetime, until: datetime, include_demo: bool
    ) -> MetricsView:
        require(viewer, Action.VIEW_METRICS)
        outcomes = self.svc.outcomes
        handoffs = [h for h in self.svc.store.list_handoffs()
                    if since <= h.created_at < until and (include_demo or not h.is_demo)]
        return MetricsView(
            metrics=outcomes.metrics(since, until, include_demo=include_demo),
            daily=outcomes.daily_series(since, until, include_demo=include_demo),
            in_status=outcomes.time_in_status_summary(since, until, include_demo=include_demo),
            sla=sla.attainment(self.svc.settings, handoffs),
            tickets=self.ticket_table(since, until, include_demo),
        )

    def learning(
        self, viewer: Principal | None, since: datetime, until: datetime
    ) -> dict[str, Any]:
        """The learning loop's manager panels: first human reply, draft use, CSAT by cause."""
        require(viewer, Action.VIEW_METRICS)
        return self.svc.learning.metrics(self.svc.outcomes, since, until)

    def sla_attainment(
        self, since: datetime, until: datetime
    ) -> dict[str, dict[str, float | int | None]]:
        handoffs = [h for h in self.svc.store.list_handoffs() if since <= h.created_at < until]
        return sla.attainment(self.svc.settings, handoffs)

    def ticket_table(
        self, since: datetime, until: datetime, include_demo: bool
    ) -> list[dict[str, Any]]:
        """Newest tickets in the window with their rating: one query, demo filtered first."""
        rows = self.svc.store.rated_tickets(since, until, include_demo, TICKET_TABLE_LIMIT)
        return [
            {"created": r["created_at"][:16].replace("T", " "), "customer": r["customer_id"],
             "status": r["status"], "handled by": "human" if r["escalated"] else "AI",
             "rating": f"{r['score']} / 5" if r["score"] else "not rated",
             "subject": r["subject"], "ticket": r["ticket_id"], "demo": bool(r["is_demo"])}
            for r in rows
        ]  # fmt: skip

