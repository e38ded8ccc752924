"""An Embedder wrapper that remembers vectors in SQLite.

The key is sha256(model name + text), so re-ingesting an unchanged knowledge base, or
one where a single paragraph changed, embeds only what is new, and switching models
never returns a stale vector.

Queries are *not* written to disk: they are customers' messages, mostly unique, and
persisting them would grow the file without bound and keep customer text in one more
place. A small in-process LRU covers repeats (a customer re-sending, the search page).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from support_core.adapters.sqlite_wal import enable_wal, retry_while_locked
from support_core.ports import Embedder

_SCHEMA = "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vector BLOB)"
_LOOKUP_BATCH = 500  # stays below SQLite's host-parameter limit
QUERY_CACHE_SIZE = 256
OPEN_TIMEOUT = 10.0  # seconds another process may hold the file while this one opens it


class CachedEmbedder:
    """Wraps any :class:`Embedder`; ``hits`` and ``misses`` count cached and fresh texts."""

    def __init__(self, inner: Embedder, path: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.hits = 0
        self.misses = 0
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=OPEN_TIMEOUT)
        enable_wal(self._db, OPEN_TIMEOUT)
        retry_while_locked(lambda: self._db.execute(_SCHEMA), OPEN_TIMEOUT)
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached(list(texts), "doc", self.inner.embed)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector
        vector = self.inner.embed_query(text)
        with self._lock:
            self._queries[text] = vector
            if len(self._queries) > QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        return vector

    def __getattr__(self, name: str) -> Any:
        """Anything else (``max_tokens``, ``count_tokens``, ...) is the inner embedder's."""
        if name == "inner":  # not yet set during __init__
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        self._db.close()

    def _key(self, kind: str, text: str) -> str:
        return hashlib.sha256(f"{self.name}\x00{kind}\x00{text}".encode()).hexdigest()

    def _cached(self, texts: list[str], kind: str, compute) -> np.ndarray:  # type: ignore[no-untyped-def]
        keys = [self._key(kind, t) for t in texts]
        found = self._lookup(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first_text = {k: t for k, t in zip(keys, texts, strict=True)}
            vectors = np.asarray(compute([first_text[k] for k in missing]), dtype=np.float32)
            fresh = dict(zip(missing, vectors, strict=True))
            self._store(fresh)
            found.update(fresh)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32, copy=False)

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), _LOOKUP_BATCH):
                batch = unique[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                sql = f"SELECT key, vector FROM vectors WHERE key IN ({marks})"
                for key, blob in self._db.execute(sql, batch):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _store(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [(k, int(v.shape[0]), v.astype(np.float32).tobytes()) for k, v in vectors.items()]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
