"""Masking at rest: decorators around the ticket-store and memory ports.

The pipeline and the desk mask what enters (before any model sees it), but anything that
calls a store directly (a repair, an import, the CLI, a future module) would otherwise write
what it was given. :class:`RedactingTicketStore` and :class:`RedactingMemory` wrap any adapter
and mask every free-text field on every write before delegating, so ``wiring`` installs them
for every backend and no caller can reach the disk unmasked.

Rules, the same as at the entry points (one :class:`Redactor`, so one placeholder book and key):

* scope: the conversation (``customer/session``), so ``[SECRET-1]`` in a stored message, in the
  handoff and in an agent's note about it is the same value;
* customer and agent text (messages, subjects, notes, reasons): cards, secrets and ids always;
  emails and phones unless ``show_contact_details_to_agents`` is on;
* text from the model or the knowledge base (drafts, retrieved passages, bot and system
  messages, macros): cards, secrets and ids, contacts kept (a KB's support number stays);
* spans: contacts always masked (traces never carry them);
* identifiers and machine values (ids, statuses, roles, agent names, timestamps) untouched.

Masking is idempotent: a placeholder is never a finding, so masked text passes unchanged (and
texts already seen clean are remembered, so re-saving a long ticket costs little).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from support_core.errors import NotFound
from support_core.models import (
    CustomerSummary,
    HandoffPackage,
    HandoffStatus,
    Message,
    Queue,
    Role,
    SentimentResult,
    Ticket,
    TicketStatus,
    Transition,
)
from support_core.ports import MemoryStore, TicketStore
from support_core.redaction import Redactor, find_pii

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P")

# Keys whose values are identifiers or machine values, never free text.
# (Enum values are skipped anyway; machine strings such as a rule name have no findings.)
IDENTIFIER_KEYS = frozenset({
    "ticket_id", "customer_id", "session_id", "handoff_id", "chunk_id", "article_id",
    "linked_ticket_id", "trace_id", "span_id", "parent_id", "event_key", "claimed_by", "agent",
    "actor", "author", "updated_by", "name", "category", "product", "topic_articles",
    "cited_articles", "from", "to", "start", "end", "at", "created_at", "updated_at",
    "timestamp", "claimed_at", "first_reply_at", "resolved_at", "last_contact",
})
# Keys holding text the model or the knowledge base wrote: contacts in it are kept.
WRITTEN_BY_SYSTEM = frozenset({"draft", "retrieved", "sources"})
SYSTEM_ROLES = frozenset({Role.ASSISTANT.value, Role.SYSTEM.value})
CLEAN_MEMO = 20_000  # digests of texts known to need no masking
SCOPE_MEMO = 4_096  # ticket id -> conversation scope, learned from this process's own writes


def conversation_scope(customer_id: str, session_id: str) -> str:
    """The placeholder scope the entry points use, so numbering agrees with them."""
    return f"{customer_id}/{session_id}"


class AtRestMasker:
    """Masks strings inside models, dicts and lists by the rules in the module docstring."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._clean: OrderedDict[bytes, None] = OrderedDict()

    # ------------------------------------------------------------------ text
    def text(self, text: str, scope: str, *, contacts: bool) -> str:
        if not text:
            return text
        memo = hashlib.blake2b(f"{int(contacts)}\0{text}".encode(), digest_size=16).digest()
        if memo in self._clean:
            return text
        if not find_pii(text, contacts=contacts):
            self._clean[memo] = None
            if len(self._clean) > CLEAN_MEMO:
                self._clean.popitem(last=False)
            return text
        return self.redactor.redact(text, scope, contacts=contacts)

    def people(self, text: str, scope: str) -> str:
        """Customer or staff text: contacts per ``show_contact_details_to_agents``."""
        return self.text(text, scope, contacts=not self.redactor.show_contacts)

    def system(self, text: str, scope: str) -> str:
        """Model or knowledge-base text: contacts kept, everything else masked."""
        return self.text(text, scope, contacts=False)

    # ------------------------------------------------------------------ structures
    def value(self, value: Any, scope: str, *, contacts: bool) -> Any:
        """``value`` with every free-text string masked (identifier keys skipped)."""
        if isinstance(value, str) and not isinstance(value, Enum):
            return self.text(value, scope, contacts=contacts)
        if isinstance(value, dict):
            role = value.get("role")
            if (role.value if isinstance(role, Enum) else role) in SYSTEM_ROLES:
                contacts = False
            return {
                k: v if k in IDENTIFIER_KEYS else self.value(
                    v, scope, contacts=contacts and k not in WRITTEN_BY_SYSTEM)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return type(value)(self.value(v, scope, contacts=contacts) for v in value)
        return value

    def model(self, obj: M, scope: str) -> M:
        """A masked copy of ``obj`` (``obj`` itself when nothing needed masking)."""
        dumped = obj.model_dump()
        masked = self.value(dumped, scope, contacts=not self.redactor.show_contacts)
        return obj if masked == dumped else type(obj).model_validate(masked)

    def in_place(self, obj: M, scope: str) -> M:
        """Mask ``obj``'s own fields, so the caller's copy is what was stored."""
        masked = self.model(obj, scope)
        if masked is not obj:
            for name in type(obj).model_fields:
                setattr(obj, name, getattr(masked, name))
        return obj

    def ticket(self, ticket: Ticket) -> Ticket:
        return self.in_place(ticket, conversation_scope(ticket.customer_id, ticket.session_id))

    def handoff(self, pkg: HandoffPackage) -> HandoffPackage:
        return self.in_place(pkg, conversation_scope(pkg.customer_id, pkg.session_id))

    def message(self, message: Message, scope: str) -> Message:
        return self.in_place(message, scope)

    def spans(self, spans: Sequence[dict[str, Any]], scope: str) -> list[dict[str, Any]]:
        return [self.value(dict(s), scope, contacts=True) for s in spans]

    def record(self, detail: dict[str, Any], scope: str) -> dict[str, Any]:
        """An audit entry's or a rating's free-text fields (staff or customer words)."""
        masked: dict[str, Any] = self.value(detail, scope, contacts=not self.redactor.show_contacts)
        return masked


class _Masking(Generic[P]):
    """Wraps one adapter (never another wrapper); whatever is not part of the port is read
    from the adapter itself."""

    inner: P

    def __init__(self, inner: P, redactor: Redactor) -> None:
        if isinstance(inner, _Masking):
            inner = inner.inner
        self.inner = inner
        self.masker = AtRestMasker(redactor)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


class RedactingTicketStore(_Masking[TicketStore]):
    """A :class:`TicketStore` that masks every free-text field before the inner store writes.

    Reads are delegated unchanged (what is stored is already masked). Attributes that are not
    part of the port (``db`` of the SQLite adapter, say) are read from the inner store;
    modules that keep their own SQL tables on the same database (users, desk records, the
    learning loop) reach it through ``auth.sql_store``, and the desk records mask through
    :meth:`mask_record`.
    """

    def __init__(self, inner: TicketStore, redactor: Redactor) -> None:
        super().__init__(inner, redactor)
        self._scopes: OrderedDict[str, str] = OrderedDict()
        self._scopes_lock = threading.Lock()

    # ------------------------------------------------------------------ scopes
    def scope_of_ticket(self, ticket_id: str) -> str:
        """The ticket's conversation scope.

        Spans, handoff messages and ratings name only the ticket; reading the whole ticket
        back for its customer and session cost one extra read per message on the hot path.
        Every ticket write through this wrapper records its scope, so the process that
        just saved a ticket (the one that writes its spans) never reads it again; a reopened
        ticket that moved to a new session is saved before anything else is written for it,
        which replaces the entry. A miss (a ticket written by another process) reads it."""
        with self._scopes_lock:
            scope = self._scopes.get(ticket_id)
            if scope is not None:
                self._scopes.move_to_end(ticket_id)
                return scope
        try:
            ticket = self.inner.get_ticket(ticket_id)
        except NotFound:
            return f"ticket:{ticket_id}"
        return self._remember_scope(ticket)

    def _remember_scope(self, ticket: Ticket) -> str:
        scope = conversation_scope(ticket.customer_id, ticket.session_id)
        with self._scopes_lock:
            self._scopes[ticket.ticket_id] = scope
            self._scopes.move_to_end(ticket.ticket_id)
            while len(self._scopes) > SCOPE_MEMO:
                self._scopes.popitem(last=False)
        return scope

    def scope_of_handoff(self, handoff_id: str, ticket_id: str | None = None) -> str:
        try:
            pkg = self.inner.get_handoff(handoff_id)
        except NotFound:
            return self.scope_of_ticket(ticket_id) if ticket_id else f"handoff:{handoff_id}"
        return conversation_scope(pkg.customer_id, pkg.session_id)

    def mask_record(
        self, detail: dict[str, Any], handoff_id: str, ticket_id: str | None = None
    ) -> dict[str, Any]:
        """An audit entry's detail (a private note, a resolve note), in its conversation's
        placeholder scope."""
        return self.masker.record(detail, self.scope_of_handoff(handoff_id, ticket_id))

    def mask_macro(self, text: str) -> str:
        return self.masker.system(text, "macros")

    # ------------------------------------------------------------------ tickets (writes)
    def save_ticket(self, ticket: Ticket) -> None:
        self.inner.save_ticket(self.masker.ticket(ticket))
        self._remember_scope(ticket)

    def update_ticket(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket:
        saved = self.inner.update_ticket(ticket_id, lambda t: self.masker.ticket(change(t)))
        self._remember_scope(saved)
        return saved

    def save_changes(self, base: Ticket, mine: Ticket) -> Ticket:
        # base is masked too (a copy), so the merge compares like with like
        scope = conversation_scope(base.customer_id, base.session_id)
        saved = self.inner.save_changes(self.masker.model(base, scope), self.masker.ticket(mine))
        self._remember_scope(saved)
        return saved

    def session_lock(self, customer_id: str, session_id: str) -> AbstractContextManager[None]:
        return self.inner.session_lock(customer_id, session_id)

    # ------------------------------------------------------------------ tickets (reads)
    def get_ticket(self, ticket_id: str) -> Ticket:
        return self.inner.get_ticket(ticket_id)

    def list_tickets(
        self,
        customer_id: str | None = None,
        status: TicketStatus | str | None = None,
        session_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[Ticket]:
        return self.inner.list_tickets(customer_id, status, session_id, since, until, limit)

    def customer_ids(self, limit: int = 500) -> list[str]:
        return self.inner.customer_ids(limit)

    def latest_ticket(self, customer_id: str, session_id: str | None = None) -> Ticket | None:
        return self.inner.latest_ticket(customer_id, session_id)

    def transitions(self, ticket_id: str) -> list[Transition]:
        return self.inner.transitions(ticket_id)

    def stuck_tickets(self, updated_before: datetime) -> list[Ticket]:
        return self.inner.stuck_tickets(updated_before)

    def escalated_without_handoff(self) -> list[Ticket]:
        return self.inner.escalated_without_handoff()

    # ------------------------------------------------------------------ handoffs
    def enqueue_handoff(self, pkg: HandoffPackage) -> HandoffPackage:
        return self.inner.enqueue_handoff(self.masker.handoff(pkg))

    def enqueue_handoff_once(self, pkg: HandoffPackage) -> tuple[HandoffPackage, bool]:
        return self.inner.enqueue_handoff_once(self.masker.handoff(pkg))

    def enqueue_claimed(
        self, pkg: HandoffPackage, agent: str, at: datetime | None = None
    ) -> HandoffPackage:
        return self.inner.enqueue_claimed(self.masker.handoff(pkg), agent, at)

    def get_handoff(self, handoff_id: str) -> HandoffPackage:
        return self.inner.get_handoff(handoff_id)

    def list_handoffs(
        self,
        queue: Queue | str | None = None,
        status: HandoffStatus | str | None = None,
        claimed_by: str | None = None,
    ) -> list[HandoffPackage]:
        return self.inner.list_handoffs(queue, status, claimed_by)

    def active_handoff(self, ticket_id: str) -> HandoffPackage | None:
        return self.inner.active_handoff(ticket_id)

    def latest_handoff(self, ticket_id: str) -> HandoffPackage | None:
        return self.inner.latest_handoff(ticket_id)

    def append_handoff_message(
        self, ticket_id: str, message: Message, sentiment: SentimentResult | None = None
    ) -> HandoffPackage | None:
        scope = self.scope_of_ticket(ticket_id)
        if sentiment is not None:
            sentiment = self.masker.model(sentiment, scope)
        return self.inner.append_handoff_message(
            ticket_id, self.masker.message(message, scope), sentiment)

    def queue_counts(self) -> dict[str, dict[str, int]]:
        return self.inner.queue_counts()

    def claim(self, handoff_id: str, agent: str, at: datetime | None = None) -> HandoffPackage:
        return self.inner.claim(handoff_id, agent, at)

    def release(self, handoff_id: str, agent: str) -> HandoffPackage:
        return self.inner.release(handoff_id, agent)

    def mark_first_reply(self, handoff_id: str, at: datetime | None = None) -> HandoffPackage:
        return self.inner.mark_first_reply(handoff_id, at)

    def resolve_handoff(
        self, handoff_id: str, agent: str, at: datetime | None = None
    ) -> HandoffPackage:
        return self.inner.resolve_handoff(handoff_id, agent, at)

    # ------------------------------------------------------------------ spans, reporting
    def save_spans(self, ticket_id: str, spans: Sequence[dict[str, Any]]) -> int:
        return self.inner.save_spans(
            ticket_id, self.masker.spans(spans, self.scope_of_ticket(ticket_id)))

    def spans(self, ticket_id: str) -> list[dict[str, Any]]:
        return self.inner.spans(ticket_id)

    def events(
        self, ticket_id: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        return self.inner.events(ticket_id, name)

    def event_counts(
        self, since: datetime | None, until: datetime | None, include_demo: bool
    ) -> dict[str, int]:
        return self.inner.event_counts(since, until, include_demo)

    def record_rating_row(self, row: dict[str, Any]) -> None:
        ticket_id = str(row["ticket_id"])
        self.inner.record_rating_row(self.masker.record(row, self.scope_of_ticket(ticket_id)))

    def rating_row(self, ticket_id: str) -> dict[str, Any] | None:
        return self.inner.rating_row(ticket_id)

    def ratings(self, ticket_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return self.inner.ratings(ticket_ids)

    def rated_tickets(
        self, since: datetime, until: datetime, include_demo: bool, limit: int
    ) -> list[dict[str, Any]]:
        return self.inner.rated_tickets(since, until, include_demo, limit)

    def knows_ticket(self, ticket_id: str) -> bool:
        return self.inner.knows_ticket(ticket_id)

    def outcome_rows(
        self, since: datetime | None, until: datetime | None, include_demo: bool,
        ticket_id: str | None = None,
    ) -> list[dict[str, Any]]:
        return self.inner.outcome_rows(since, until, include_demo, ticket_id)

    def trails(
        self, since: datetime | None, until: datetime | None, include_demo: bool
    ) -> dict[str, list[Transition]]:
        return self.inner.trails(since, until, include_demo)

    # ------------------------------------------------------------------ housekeeping
    def delete_demo_data(self) -> dict[str, int]:
        return self.inner.delete_demo_data()

    def close(self) -> None:
        self.inner.close()


class RedactingMemory(_Masking[MemoryStore]):
    """A :class:`MemoryStore` that masks each message before the inner backend keeps it."""


    def add_message(self, customer_id: str, session_id: str, message: Message) -> None:
        scope = conversation_scope(customer_id, session_id)
        self.inner.add_message(customer_id, session_id, self.masker.message(message, scope))

    def get_session(self, customer_id: str, session_id: str) -> list[Message]:
        return self.inner.get_session(customer_id, session_id)

    def get_history(self, customer_id: str, limit: int = 20) -> list[Message]:
        return self.inner.get_history(customer_id, limit)

    def get_summary(self, customer_id: str) -> CustomerSummary:
        return self.inner.get_summary(customer_id)

    def record_escalation(self, customer_id: str, ticket_id: str) -> None:
        self.inner.record_escalation(customer_id, ticket_id)

    def forget_customer(self, customer_id: str) -> None:
        self.inner.forget_customer(customer_id)

    def ping(self) -> None:
        self.inner.ping()

