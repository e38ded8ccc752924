"""The outside world, behind small Protocols. Adapters in ``adapters/`` implement
them and only ``wiring.py`` chooses which one runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from support_core.models import (
    CustomerSummary,
    HandoffPackage,
    HandoffStatus,
    Message,
    Queue,
    SentimentResult,
    Ticket,
    TicketStatus,
    Transition,
)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (float32, shape (n, dim))."""

    name: str  # identifies the model; part of the embedding-cache key

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class VectorStore(Protocol):
    """Chunk vectors with metadata. Similarities are cosine (higher is closer). Metadata
    values are scalars; ``where`` keeps the rows whose metadata equals every key's value
    (each adapter translates it into its own filter language)."""

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None: ...

    def delete(
        self, *, ids: Sequence[str] | None = None, where: Mapping[str, Any] | None = None
    ) -> None: ...

    def query(
        self, embedding: np.ndarray, n: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]: ...

    def get(
        self, *, ids: Sequence[str] | None = None, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, document, metadata) rows."""
        ...

    def count(self) -> int: ...


@runtime_checkable
class MemoryStore(Protocol):
    """Per-customer session (expires ``session_ttl`` after its last message) and
    history (last ``history_max`` messages within ``history_ttl``)."""

    def add_message(self, customer_id: str, session_id: str, message: Message) -> None: ...

    def get_session(self, customer_id: str, session_id: str) -> list[Message]: ...

    def get_history(self, customer_id: str, limit: int = 20) -> list[Message]:
        """Most recent ``limit`` history messages, oldest first."""
        ...

    def get_summary(self, customer_id: str) -> CustomerSummary: ...

    def record_escalation(self, customer_id: str, ticket_id: str) -> None: ...

    def forget_customer(self, customer_id: str) -> None: ...

    def ping(self) -> None:
        """Raise BackendUnavailable when the backend cannot be reached."""
        ...


class LLMReply(BaseModel):
    text: str
    parsed: Any | None = None  # a validated pydantic object when a schema was asked for
    tokens_used: int = 0
    model: str = ""


class LLMClient(Protocol):
    """An OpenAI-compatible chat model. Raises ``LLMError`` on any failure."""

    model: str

    def chat(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        schema: type[BaseModel] | None = None,
        max_tokens: int = 800,
        temperature: float = 0.2,
    ) -> LLMReply: ...


@runtime_checkable
class TicketStore(Protocol):
    """Tickets, their audit trail, the handoff queue, spans, reporting events and ratings.

    Adapters: ``adapters/ticket_store_sqlite.py`` (default) and ``ticket_store_postgres.py``
    (``SUPPORT_DATABASE_URL``); one contract suite (tests/test_ticket_store_contract.py) runs
    on both. Concurrency contract: no write is lost. ``save_ticket`` is compare-and-set on
    ``Ticket.version`` (a stale copy raises ConcurrentUpdate); ``update_ticket`` and
    ``save_changes`` are the safe read-change-write paths; ``claim`` has exactly one winner.
    """

    # tickets
    def save_ticket(self, ticket: Ticket) -> None: ...

    def update_ticket(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket: ...

    def save_changes(self, base: Ticket, mine: Ticket) -> Ticket: ...

    def session_lock(self, customer_id: str, session_id: str) -> AbstractContextManager[None]: ...

    def get_ticket(self, ticket_id: str) -> Ticket: ...

    def list_tickets(
        self,
        customer_id: str | None = None,
        status: TicketStatus | str | None = None,
        session_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[Ticket]: ...

    def customer_ids(self, limit: int = 500) -> list[str]: ...

    def latest_ticket(self, customer_id: str, session_id: str | None = None) -> Ticket | None: ...

    def transitions(self, ticket_id: str) -> list[Transition]: ...

    def stuck_tickets(self, updated_before: datetime) -> list[Ticket]: ...

    def escalated_without_handoff(self) -> list[Ticket]: ...

    # handoffs
    def enqueue_handoff(self, pkg: HandoffPackage) -> HandoffPackage: ...

    def enqueue_handoff_once(self, pkg: HandoffPackage) -> tuple[HandoffPackage, bool]: ...

    def enqueue_claimed(
        self, pkg: HandoffPackage, agent: str, at: datetime | None = None
    ) -> HandoffPackage: ...

    def get_handoff(self, handoff_id: str) -> HandoffPackage: ...

    def list_handoffs(
        self,
        queue: Queue | str | None = None,
        status: HandoffStatus | str | None = None,
        claimed_by: str | None = None,
    ) -> list[HandoffPackage]: ...

    def active_handoff(self, ticket_id: str) -> HandoffPackage | None: ...

    def latest_handoff(self, ticket_id: str) -> HandoffPackage | None: ...

    def append_handoff_message(
        self, ticket_id: str, message: Message, sentiment: SentimentResult | None = None
    ) -> HandoffPackage | None: ...

    def queue_counts(self) -> dict[str, dict[str, int]]: ...

    def claim(self, handoff_id: str, agent: str, at: datetime | None = None) -> HandoffPackage: ...

    def release(self, handoff_id: str, agent: str) -> HandoffPackage: ...

    def mark_first_reply(self, handoff_id: str, at: datetime | None = None) -> HandoffPackage: ...

    def resolve_handoff(
        self, handoff_id: str, agent: str, at: datetime | None = None
    ) -> HandoffPackage: ...

    # spans
    def save_spans(self, ticket_id: str, spans: Sequence[dict[str, Any]]) -> int: ...

    def spans(self, ticket_id: str) -> list[dict[str, Any]]: ...

    # reporting events, ratings and the per-ticket outcomes computed from them (rows;
    # csat.py holds the rules and the arithmetic). Events are written by the writes above.
    def events(
        self, ticket_id: str | None = None, name: str | None = None
    ) -> list[dict[str, Any]]: ...

    def event_counts(
        self, since: datetime | None, until: datetime | None, include_demo: bool
    ) -> dict[str, int]: ...

    def record_rating_row(self, row: dict[str, Any]) -> None: ...

    def rating_row(self, ticket_id: str) -> dict[str, Any] | None: ...

    def ratings(self, ticket_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def rated_tickets(
        self, since: datetime, until: datetime, include_demo: bool, limit: int
    ) -> list[dict[str, Any]]: ...

    def knows_ticket(self, ticket_id: str) -> bool: ...

    def outcome_rows(
        self, since: datetime | None, until: datetime | None, include_demo: bool,
        ticket_id: str | None = None,
    ) -> list[dict[str, Any]]: ...

    def trails(
        self, since: datetime | None, until: datetime | None, include_demo: bool
    ) -> dict[str, list[Transition]]: ...

    # housekeeping
    def delete_demo_data(self) -> dict[str, int]: ...

    def close(self) -> None: ...
