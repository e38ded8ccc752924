"""Passage-unit vectors, embedded once at ingest, so answering needs no extra encoder call.

The composer scores the sentences and step blocks of the best hits against the question
(``support_core.answer_select``). Encoding them per question cost ~45 ms for only four
short units; stored here, beside the chunk, scoring every unit of a hit is one matrix
product. One row per chunk in the KB's SQLite registry: the chunk's unit vectors as one
float32 matrix, and a key over the exact texts that were embedded. A reader that derives
different texts (the chunk changed, or the unit rules did) sees a different key and falls
back to embedding at query time, so a stored vector never scores the wrong text. Rows go
with their article: replaced whole on re-ingest, deleted with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np
import sqlite_utils

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS unit_vectors (chunk_id TEXT PRIMARY KEY, article_id TEXT, "
    "key TEXT, n INTEGER, dim INTEGER, vectors BLOB)"
)
_INDEX = "CREATE INDEX IF NOT EXISTS unit_vectors_article ON unit_vectors (article_id)"
_LOOKUP_BATCH = 500  # below SQLite's host-parameter limit


class UnitVectors:
    """Per-chunk unit matrices in the registry database (shared connection and lock)."""

    def __init__(self, db: sqlite_utils.Database, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock
        self._db.execute(_SCHEMA)
        self._db.execute(_INDEX)

    def replace_article(
        self, article_id: str, rows: Iterable[tuple[str, str, np.ndarray]]
    ) -> None:
        """The article's old rows go (all of them, so a shrunk article leaves none), the
        new ones come in: ``(chunk_id, key of the embedded texts, vectors)`` per chunk."""
        values = [
            (chunk_id, article_id, key, int(m.shape[0]), int(m.shape[1]),
             np.asarray(m, dtype=np.float32).tobytes())
            for chunk_id, key, m in rows if len(m)
        ]
        with self._lock, self._db.conn:
            self._db.conn.execute("DELETE FROM unit_vectors WHERE article_id = ?", [article_id])
            self._db.conn.executemany(
                "INSERT OR REPLACE INTO unit_vectors VALUES (?, ?, ?, ?, ?, ?)", values)

    def delete_article(self, article_id: str) -> None:
        with self._lock, self._db.conn:
            self._db.conn.execute("DELETE FROM unit_vectors WHERE article_id = ?", [article_id])

    def get(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
        """``chunk_id -> (key, vectors)`` for the chunks that have stored units."""
        found: dict[str, tuple[str, np.ndarray]] = {}
        unique = list(dict.fromkeys(chunk_ids))
        with self._lock:
            for start in range(0, len(unique), _LOOKUP_BATCH):
                batch = unique[start:start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                sql = (f"SELECT chunk_id, key, n, dim, vectors FROM unit_vectors "
                       f"WHERE chunk_id IN ({marks})")
                for chunk_id, key, n, dim, blob in self._db.conn.execute(sql, batch):
                    matrix = np.frombuffer(blob, dtype=np.float32).reshape(n, dim)
                    found[chunk_id] = (key, matrix)
        return found

    def article_chunks(self, article_id: str) -> list[str]:
        """Chunk ids with stored units (for tests and admin checks)."""
        with self._lock:
            rows = self._db.conn.execute(
                "SELECT chunk_id FROM unit_vectors WHERE article_id = ? ORDER BY chunk_id",
                [article_id]).fetchall()
        return [r[0] for r in rows]

    def count(self) -> int:
        """Chunks with stored units."""
        with self._lock:
            return int(self._db.conn.execute("SELECT COUNT(*) FROM unit_vectors").fetchone()[0])

    def count_units(self) -> int:
        """Unit vectors stored, over all chunks."""
        with self._lock:
            row = self._db.conn.execute("SELECT COALESCE(SUM(n), 0) FROM unit_vectors").fetchone()
        return int(row[0])

