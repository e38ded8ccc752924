"""The human side: agents claim handoffs, reply, resolve; customers confirm and rate.

Every action goes through the lifecycle (so it is audited) and lands in the
customer's conversation and memory, so the customer sees the agent's reply in the
same chat and the AI sees it on the next contact.

Every staff action names its actor as a :class:`~support_core.access.Principal` (the app's
signed-in user) or a user name (the CLI's ``--agent``); either is re-read from the user
store, so only an existing, active user whose role allows the action gets through
(:class:`~support_core.errors.AccessDenied` otherwise). Each action is also appended to the
desk's audit log (``DeskRecords``) with who and when.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from support_core import lifecycle
from support_core.access import Action, Principal, require
from support_core.auth import UserStore
from support_core.citations import renumber, source_number
from support_core.config import Settings
from support_core.csat import OutcomeStore
from support_core.desk_records import DeskEvent, DeskRecords, Macro
from support_core.errors import AlreadyClaimed, InputError
from support_core.macros import render
from support_core.models import (
    HandoffPackage,
    HandoffStatus,
    InternalNote,
    Message,
    MessageMetadata,
    Queue,
    Role,
    Source,
    Ticket,
    TicketStatus,
    utcnow,
)
from support_core.ports import MemoryStore, TicketStore
from support_core.redaction import Redactor
from support_core.validation import clean_agent_name, clean_message

log = logging.getLogger(__name__)
ResolveHook = Callable[[Ticket, HandoffPackage, str], object]
Actor = Principal | str


class AgentDesk:
    def __init__(
        self,
        settings: Settings,
        store: TicketStore,
        memory: MemoryStore,
        outcomes: OutcomeStore,
        users: UserStore,
        records: DeskRecords,
    ) -> None:
        self.settings = settings
        self.store = store
        self.memory = memory
        self.outcomes = outcomes
        self.users = users
        self.records = records
        self.redactor = Redactor.from_settings(settings)
        # called after a handoff is resolved (the learning loop records the resolution)
        self.on_resolve: list[ResolveHook] = []

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
    def claim(self, handoff_id: str, agent: Actor) -> HandoffPackage:
        who = self.actor(agent, Action.WORK_INBOX)
        pkg = self.store.claim(handoff_id, who.name)
        self._audit(pkg, "claim", who.name)
        return pkg

    def release(self, handoff_id: str, agent: Actor) -> HandoffPackage:
        """Back to the queue: by its owner, or by a manager on the owner's behalf."""
        who = self.actor(agent, Action.WORK_INBOX)
        owner = self.store.get_handoff(handoff_id).claimed_by
        if owner != who.name:
            require(who, Action.REASSIGN)
        pkg = self.store.release(handoff_id, owner or who.name)
        self._audit(pkg, "release", who.name, {"from": owner})
        return pkg

    def reassign(self, handoff_id: str, to_agent: Actor, by: Actor) -> HandoffPackage:
        """A manager hands a queued or claimed ticket to another active agent."""
        manager = self.actor(by, Action.REASSIGN)
        target = self.actor(to_agent, Action.WORK_INBOX)
        current = self.store.get_handoff(handoff_id)
        if current.status is HandoffStatus.RESOLVED:
            raise InputError(f"Ticket {current.ticket_id} is already resolved.")
        if current.claimed_by == target.name:
            return current
        if current.claimed_by:
            self.store.release(handoff_id, current.claimed_by)
        pkg = self.store.claim(handoff_id, target.name)
        self._audit(pkg, "reassign", manager.name, {"from": current.claimed_by,
                                                    "to": target.name})
        return pkg

    def add_note(self, handoff_id: str, agent: Actor, text: str) -> DeskEvent:
        """A private note for colleagues: kept in the audit log, never in the conversation."""
        who = self.actor(agent, Action.WORK_INBOX)
        body = clean_message(text, self.settings.max_message_chars)
        pkg = self.store.get_handoff(handoff_id)
        return self._audit(pkg, "note", who.name, {"text": body})

    def package(self, handoff_id: str, viewer: Actor) -> HandoffPackage:
        """The handoff as an agent reads it: fresh from the store, with the internal notes."""
        self.actor(viewer, Action.READ_TICKETS)
        pkg = self.store.get_handoff(handoff_id)
        notes = [InternalNote(author=e.actor, at=e.at, text=str(e.detail.get("text", "")))
                 for e in self.records.events(handoff_id=handoff_id, kind="note")]  # fmt: skip
        return pkg.model_copy(update={"notes": notes})

    # ------------------------------------------------------------------ macros
    def save_macro(self, name: str, text: str, by: Actor) -> Macro:
        who = self.actor(by, Action.MANAGE_MACROS)
        return self.records.save_macro(name, text, who.name)

    def delete_macro(self, name: str, by: Actor) -> None:
        self.actor(by, Action.MANAGE_MACROS)
        self.records.delete_macro(name)

    def fill_macro(self, name: str, handoff_id: str, agent: Actor) -> str:
        """The macro's text with this ticket's values, for the agent to edit and send."""
        who = self.actor(agent, Action.WORK_INBOX)
        pkg = self.store.get_handoff(handoff_id)
        link = ""
        if pkg.draft and pkg.draft.sources:
            src = pkg.draft.sources[0]
            link = str(src.url or "") if str(src.url or "").startswith("http") else src.title
        values = {"customer_name": pkg.customer_id, "ticket_id": pkg.ticket_id,
                  "agent_name": who.name, "article_link": link}  # fmt: skip
        return render(self.records.macro(name).text, values)

    def reply(
        self, handoff_id: str, agent: Actor, text: str, cited_articles: Sequence[str] | None = None
    ) -> Ticket:
        """Send the agent's reply (an edited draft or their own words) to the customer,
        optionally citing knowledge-base articles by id."""
        agent = self.actor(agent, Action.WORK_INBOX).name
        body = clean_message(text, self.settings.max_message_chars)
        handoff = self._owned(handoff_id, agent)
        body = self.redactor.for_storage(body, f"{handoff.customer_id}/{handoff.session_id}")
        body, sources = reply_sources(body, handoff, cited_articles or ())
        meta = MessageMetadata(ticket_id=handoff.ticket_id, agent=agent,
                               session_id=handoff.session_id)
        if sources:
            meta.sources = sources
        if cited_articles:
            meta.update({"cited_articles": list(dict.fromkeys(cited_articles))})
        msg = Message(role=Role.AGENT, content=body, metadata=meta)

        def add_reply(ticket: Ticket) -> Ticket:  # applied to the ticket as stored now
            ticket.messages.append(msg)
            if ticket.status == TicketStatus.ESCALATED:
                ticket = lifecycle.transition(
                    ticket, TicketStatus.AWAITING_CUSTOMER, agent, "Specialist replied"
                )
            ticket.updated_at = utcnow()
            return ticket

        ticket = self.store.update_ticket(handoff.ticket_id, add_reply)
        if handoff.first_reply_at is None:
            self.store.mark_first_reply(handoff_id, msg.timestamp)
        self.store.append_handoff_message(ticket.ticket_id, msg)
        self.memory.add_message(ticket.customer_id, ticket.session_id, msg)
        self._audit(handoff, "reply", agent)
        return ticket

    def resolve(self, handoff_id: str, agent: Actor, note: str = "") -> Ticket:
        agent = self.actor(agent, Action.WORK_INBOX).name
        handoff = self._owned(handoff_id, agent)
        ticket = self._save(
            handoff.ticket_id, lambda t: _resolved(t, agent, note or "Resolved by specialist")
        )
        handoff = self.store.resolve_handoff(handoff_id, agent)
        self._audit(handoff, "resolve", agent, {"note": note} if note else {})
        for hook in self.on_resolve:
            try:
                hook(ticket, handoff, agent)
            except Exception:  # noqa: BLE001 - the ticket is resolved; say so, don't undo it
                log.exception("resolve hook failed for ticket %s", ticket.ticket_id)
        return ticket

    # ------------------------------------------------------------------ customer actions
    def customer_confirms(self, ticket_id: str) -> Ticket:
        """The customer says the auto-reply solved it."""
        return self._save(
            ticket_id,
            lambda t: lifecycle.transition(
                t, TicketStatus.RESOLVED, "customer", "Customer confirmed the answer solved it"
            ),
        )

    def rate(self, ticket_id: str, score: int, comment: str = "") -> None:
        ticket = self.store.get_ticket(ticket_id)
        if ticket.status != TicketStatus.RESOLVED:
            raise InputError("A ticket can be rated once it is resolved.")
        self.outcomes.rate(ticket_id, score, comment)

    # ------------------------------------------------------------------ helpers
    def actor(self, who: Actor, action: Action) -> Principal:
        """The caller as the user store knows them now (role and active flag re-read)."""
        name = who.name if isinstance(who, Principal) else clean_agent_name(who)
        return require(self.users.principal(name), action)

    def _audit(
        self, pkg: HandoffPackage, kind: str, actor: str, detail: dict[str, object] | None = None
    ) -> DeskEvent:
        event = DeskEvent(handoff_id=pkg.handoff_id, ticket_id=pkg.ticket_id, kind=kind,
                          actor=actor, detail=detail or {})  # fmt: skip
        self.records.record(event)
        return event

    def _owned(self, handoff_id: str, agent: str) -> HandoffPackage:
        handoff = self.store.get_handoff(handoff_id)
        if handoff.status == HandoffStatus.QUEUED:
            raise InputError(f"Claim ticket {handoff.ticket_id} before replying to it.")
        if handoff.claimed_by != agent:
            raise AlreadyClaimed(handoff_id, handoff.claimed_by or "someone else")
        if handoff.status == HandoffStatus.RESOLVED:
            raise InputError(f"Ticket {handoff.ticket_id} is already resolved.")
        return handoff

    def _save(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket:
        """Apply ``change`` to the ticket as stored now, under its lock (nothing another
        writer stored meanwhile is lost; its reporting events are written with it)."""

        def stamped(ticket: Ticket) -> Ticket:
            ticket = change(ticket)
            ticket.updated_at = utcnow()
            return ticket

        return self.store.update_ticket(ticket_id, stamped)


def reply_sources(
    text: str, handoff: HandoffPackage, cited_articles: Sequence[str]
) -> tuple[str, list[Source]]:
    """The sources an agent's reply cites: the draft's sources whose ``[n]`` markers the agent
    kept (markers renumbered to the kept ones), then the articles picked as cited that the
    draft or retrieval knows by title."""
    draft_sources = handoff.draft.sources if handoff.draft else []
    text, sources = renumber(text, draft_sources, keep_unknown=True)
    known = {s.article_id: s for s in draft_sources}
    for hit in handoff.retrieved:
        known.setdefault(hit.article_id, Source(article_id=hit.article_id, title=hit.title,
                                                url=hit.source_url))
    for article_id in cited_articles:
        if article_id in known:
            source_number(sources, known[article_id])
    return text, sources


def _resolved(ticket: Ticket, agent: str, reason: str) -> Ticket:
    """The ticket resolved by ``agent``, from whatever status it is stored in now.

    A handoff is queued a moment before the pipeline stores the ticket as escalated, so a
    quick agent can resolve a ticket still stored as created/processing/reopened: it is moved
    through ``escalated`` (the specialist took it over) to keep the trail legal. Already
    resolved (through another handoff of the same ticket) is left as it is.
    """
    path = {
        TicketStatus.CREATED: [TicketStatus.PROCESSING, TicketStatus.ESCALATED],
        TicketStatus.PROCESSING: [TicketStatus.ESCALATED],
        TicketStatus.REOPENED: [TicketStatus.ESCALATED],
        TicketStatus.RESOLVED: [],
    }.get(ticket.status)
    if path is None:  # awaiting_customer or escalated: resolved directly
        return lifecycle.transition(ticket, TicketStatus.RESOLVED, agent, reason)
    if not path and ticket.status == TicketStatus.RESOLVED:
        return ticket
    for step in path:
        ticket = lifecycle.transition(ticket, step, agent, "Specialist took the ticket over")
    return lifecycle.transition(ticket, TicketStatus.RESOLVED, agent, reason)
