"""The :class:`~support_core.ports.VectorStore` over Chroma.

Embedded (``PersistentClient`` under ``settings.chroma_path``) unless ``chroma_url``
points at a server. The collection uses cosine space and has no embedding function of
its own: Deskpilot always passes vectors, so Chroma never downloads a model. Chroma
reports cosine *distance*; we hand back similarity (1 - distance).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np

from support_core.config import Settings
from support_core.errors import BackendUnavailable

_WRITE_BATCH = 1000  # below Chroma's max batch size on every backend


def make_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_url:
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    url = urlparse(settings.chroma_url)
    try:
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    except Exception as err:  # connection errors differ between chromadb versions
        raise BackendUnavailable(f"Chroma at {settings.chroma_url} is unreachable: {err}") from err


def chroma_where(where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The port's equality filter in Chroma's syntax: several keys need an explicit ``$and``."""
    clauses = [{key: value} for key, value in (where or {}).items()]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaStore:
    """Chunk vectors, texts and metadata in one Chroma collection."""

    def __init__(self, client: Any, collection_name: str) -> None:
        try:
            self._collection = client.get_or_create_collection(
                name=collection_name,
                embedding_function=None,
                metadata={"hnsw:space": "cosine"},
            )
        except Exception as err:
            raise BackendUnavailable(
                f"Chroma collection '{collection_name}' failed: {err}"
            ) from err

    @classmethod
    def from_settings(cls, settings: Settings) -> ChromaStore:
        return cls(make_client(settings), settings.chroma_collection)

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: np.ndarray,
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        for start in range(0, len(ids), _WRITE_BATCH):
            end = start + _WRITE_BATCH
            self._call(
                self._collection.upsert,
                ids=list(ids[start:end]),
                embeddings=np.asarray(embeddings[start:end], dtype=np.float32),
                documents=list(documents[start:end]),
                metadatas=[dict(m) for m in metadatas[start:end]],
            )

    def delete(
        self, *, ids: Sequence[str] | None = None, where: Mapping[str, Any] | None = None
    ) -> None:
        if ids is not None and not ids:
            return
        self._call(self._collection.delete, ids=list(ids) if ids else None,
                   where=chroma_where(where))

    def query(
        self, embedding: np.ndarray, n: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        if n <= 0 or self.count() == 0:
            return []
        result = self._call(
            self._collection.query,
            query_embeddings=[np.asarray(embedding, dtype=np.float32)],
            n_results=n,
            where=chroma_where(where),
            include=["distances"],
        )
        ids, distances = result["ids"][0], result["distances"][0]
        return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

    def get(
        self, *, ids: Sequence[str] | None = None, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str, dict[str, Any]]]:
        if ids is not None and not ids:
            return []
        result = self._call(
            self._collection.get,
            ids=list(ids) if ids else None,
            where=chroma_where(where),
            include=["documents", "metadatas"],
        )
        rows = zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        return [(i, doc or "", dict(meta or {})) for i, doc, meta in rows]

    def count(self) -> int:
        return int(self._call(self._collection.count))

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except Exception as err:  # chromadb raises many unrelated types for a lost server
            raise BackendUnavailable(f"The vector store failed: {err}") from err
