"""Conversation memory in one SQLite file: the embedded default of the ``MemoryStore`` port.

It mirrors the Redis adapter's semantics exactly (``tests/test_memory.py`` runs one
contract suite against both): a session expires ``session_ttl`` after its last
message, history keeps the last ``history_max`` messages within ``history_ttl``.
The pure helpers (time conversion, the summary) live in ``support_core.memory``,
shared with ``memory_redis`` so the two cannot drift apart.

Concurrency: one connection guarded by a lock serves every thread of a process;
WAL mode, a busy timeout and ``BEGIN IMMEDIATE`` writes let several processes
share the file without "database is locked" failures; processes opening a new file at
the same moment retry its setup (``sqlite_wal``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from support_core.adapters.sqlite_wal import enable_wal, retry_while_locked
from support_core.errors import BackendUnavailable
from support_core.memory import (
    Clock,
    check_limits,
    normalized,
    summarize,
    to_micros,
    to_micros_delta,
)
from support_core.models import CustomerSummary, Message, utcnow

BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory_sessions (
    customer_id TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,              -- UTC microseconds
    PRIMARY KEY (customer_id, session_id)
);
CREATE INDEX IF NOT EXISTS memory_sessions_expiry ON memory_sessions (expires_at);
CREATE TABLE IF NOT EXISTS memory_session_messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    body        TEXT NOT NULL                  -- Message JSON
);
CREATE INDEX IF NOT EXISTS memory_session_messages_session
    ON memory_session_messages (customer_id, session_id, id);
CREATE TABLE IF NOT EXISTS memory_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    ts          INTEGER NOT NULL,              -- message timestamp, UTC microseconds
    body        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_history_customer ON memory_history (customer_id, ts, id);
CREATE INDEX IF NOT EXISTS memory_history_ts ON memory_history (ts);
CREATE TABLE IF NOT EXISTS memory_escalations (
    customer_id TEXT NOT NULL,
    ticket_id   TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, ticket_id)
);
CREATE INDEX IF NOT EXISTS memory_escalations_time ON memory_escalations (recorded_at);
"""


# ----------------------------------------------------------------------------- adapter
class SQLiteMemory:
    """``MemoryStore`` backed by a SQLite file (by default ``Settings.memory_sqlite_path``)."""

    def __init__(
        self,
        path: str | Path,
        session_ttl_seconds: float,
        history_ttl_days: float,
        history_max_messages: int,
        clock: Clock | None = None,
    ) -> None:
        check_limits(session_ttl_seconds, history_ttl_days, history_max_messages)
        self.path = Path(path)
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self.history_ttl = timedelta(days=history_ttl_days)
        self.history_max = history_max_messages
        self._clock = clock or utcnow
        self._lock = threading.RLock()
        self._conn = self._open()

    # --------------------------------------------------------------------------- plumbing
    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # transactions are explicit, see _transaction
                check_same_thread=False,  # every use is serialised by self._lock
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            enable_wal(conn, BUSY_TIMEOUT_MS / 1000)
            retry_while_locked(lambda: conn.executescript(_SCHEMA), BUSY_TIMEOUT_MS / 1000)
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            problem = f"Cannot open the memory database at {self.path}: {exc}"
            raise BackendUnavailable(problem) from exc
        return conn

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One transaction under the thread lock; IMMEDIATE takes the write lock up front so
        concurrent writers wait on busy_timeout instead of failing on a lock upgrade."""
        with self._lock:
            try:
                self._conn.execute(f"BEGIN {mode}")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                problem = f"The memory database at {self.path} failed: {exc}"
                raise BackendUnavailable(problem) from exc

    def _now(self) -> int:
        return to_micros(self._clock())

    def _cutoff(self, now: int) -> int:
        """Oldest timestamp (inclusive) still inside the history window."""
        return now - to_micros_delta(self.history_ttl)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --------------------------------------------------------------------------- writes
    def add_message(self, customer_id: str, session_id: str, message: Message) -> None:
        stored = normalized(message)
        body, ts, now = stored.model_dump_json(), to_micros(stored.timestamp), self._now()
        with self._transaction() as db:
            self._drop_expired_sessions(db, now)
            db.execute(
                "INSERT INTO memory_sessions VALUES (?, ?, ?) ON CONFLICT DO UPDATE"
                " SET expires_at = excluded.expires_at",
                (customer_id, session_id, now + to_micros_delta(self.session_ttl)),
            )
            db.execute(
                "INSERT INTO memory_session_messages (customer_id, session_id, body)"
                " VALUES (?, ?, ?)",
                (customer_id, session_id, body),
            )
            db.execute(
                "INSERT INTO memory_history (customer_id, ts, body) VALUES (?, ?, ?)",
                (customer_id, ts, body),
            )
            self._prune_history(db, customer_id, now)

    def _drop_expired_sessions(self, db: sqlite3.Connection, now: int) -> None:
        """Expired sessions vanish (like Redis keys), so a reused session id starts empty."""
        db.execute(
            "DELETE FROM memory_session_messages WHERE (customer_id, session_id) IN"
            " (SELECT customer_id, session_id FROM memory_sessions WHERE expires_at <= ?)",
            (now,),
        )
        db.execute("DELETE FROM memory_sessions WHERE expires_at <= ?", (now,))

    def _prune_history(self, db: sqlite3.Connection, customer_id: str, now: int) -> None:
        """Drop what left the window (for every customer, like Redis key expiry) and
        everything of this customer beyond the newest ``history_max``."""
        cutoff = self._cutoff(now)
        db.execute("DELETE FROM memory_history WHERE ts < ?", (cutoff,))
        db.execute("DELETE FROM memory_escalations WHERE recorded_at < ?", (cutoff,))
        db.execute(
            "DELETE FROM memory_history WHERE id IN (SELECT id FROM memory_history"
            " WHERE customer_id = ? ORDER BY ts DESC, id DESC LIMIT -1 OFFSET ?)",
            (customer_id, self.history_max),
        )

    def record_escalation(self, customer_id: str, ticket_id: str) -> None:
        now = self._now()
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO memory_escalations VALUES (?, ?, ?)",
                (customer_id, ticket_id, now),
            )
            db.execute("DELETE FROM memory_escalations WHERE recorded_at < ?", (self._cutoff(now),))

    def forget_customer(self, customer_id: str) -> None:
        with self._transaction() as db:
            for table in (
                "memory_sessions",
                "memory_session_messages",
                "memory_history",
                "memory_escalations",
            ):
                db.execute(f"DELETE FROM {table} WHERE customer_id = ?", (customer_id,))

    # --------------------------------------------------------------------------- reads
    def get_session(self, customer_id: str, session_id: str) -> list[Message]:
        with self._transaction("DEFERRED") as db:
            rows = db.execute(
                "SELECT m.body FROM memory_session_messages m JOIN memory_sessions s"
                " USING (customer_id, session_id) WHERE customer_id = ? AND session_id = ?"
                " AND s.expires_at > ? ORDER BY m.id",
                (customer_id, session_id, self._now()),
            ).fetchall()
        return [Message.model_validate_json(body) for (body,) in rows]

    def get_history(self, customer_id: str, limit: int = 20) -> list[Message]:
        if limit <= 0:
            return []
        with self._transaction("DEFERRED") as db:
            rows = self._history_rows(db, customer_id, min(limit, self.history_max))
        return [Message.model_validate_json(body) for (body,) in reversed(rows)]

    def _history_rows(self, db: sqlite3.Connection, customer_id: str, limit: int) -> list[tuple]:
        """Newest first, windowed and capped even if no write has pruned yet."""
        return db.execute(
            "SELECT body FROM memory_history WHERE customer_id = ? AND ts >= ?"
            " ORDER BY ts DESC, id DESC LIMIT ?",
            (customer_id, self._cutoff(self._now()), limit),
        ).fetchall()

    def get_summary(self, customer_id: str) -> CustomerSummary:
        with self._transaction("DEFERRED") as db:
            rows = self._history_rows(db, customer_id, self.history_max)
            (escalations,) = db.execute(
                "SELECT count(*) FROM memory_escalations WHERE customer_id = ?"
                " AND recorded_at >= ?",
                (customer_id, self._cutoff(self._now())),
            ).fetchone()
        history = [Message.model_validate_json(body) for (body,) in reversed(rows)]
        return summarize(customer_id, history, escalations)

    def ping(self) -> None:
        with self._transaction("DEFERRED") as db:
            db.execute("SELECT count(*) FROM memory_sessions").fetchone()
