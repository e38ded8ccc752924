"""The outside world, behind small Protocols. Adapters in ``adapters/`` implement
them and only ``wiring.py`` chooses which one runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from support_core.models import CustomerSummary, Message


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (float32, shape (n, dim))."""

    name: str  # identifies the model; part of the embedding-cache key

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class VectorStore(Protocol):
    """Chunk vectors with metadata. Similarities are cosine (higher is closer)."""

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
