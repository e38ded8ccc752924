"""The ticket store on PostgreSQL (``SUPPORT_DATABASE_URL=postgresql://...``), for a team
whose app processes share one desk.

Same SQL and the same concurrency story as the SQLite adapter (see ``ticket_store_sql``);
the named lock of a write transaction is ``pg_advisory_xact_lock`` on the lock's name, so
writers of *different* tickets never wait for each other. Waiting is bounded by
``lock_timeout`` (``SUPPORT_DATABASE_TIMEOUT_SECONDS``); past it the write fails with
:class:`StorageBusy`. One connection per store (threads share it under the store's lock).
The URL is kept and shown only with its password masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from support_core.adapters.memory_redis import mask_url
from support_core.adapters.ticket_store_sql import SqlTicketStore
from support_core.errors import BackendUnavailable, StorageBusy, StorageError, StorageFull

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)""",
    """CREATE TABLE IF NOT EXISTS tickets (
        rid BIGSERIAL, ticket_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, session_id TEXT,
        status TEXT NOT NULL, priority TEXT, subject TEXT, created_at TEXT NOT NULL,
        updated_at TEXT, is_demo INTEGER, queue TEXT, escalated INTEGER,
        escalation_reason TEXT, escalation_rule TEXT, confidence DOUBLE PRECISION,
        sentiment_level TEXT, frustration DOUBLE PRECISION, action TEXT, json TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS transitions (
        ticket_id TEXT, seq INTEGER, from_status TEXT, to_status TEXT, at TEXT, actor TEXT,
        reason TEXT, PRIMARY KEY (ticket_id, seq))""",
    """CREATE TABLE IF NOT EXISTS handoffs (
        rid BIGSERIAL, handoff_id TEXT PRIMARY KEY, ticket_id TEXT NOT NULL, queue TEXT,
        priority TEXT, status TEXT NOT NULL, claimed_by TEXT, claimed_at TEXT,
        first_reply_at TEXT, resolved_at TEXT, created_at TEXT, json TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS spans (
        rid BIGSERIAL, ticket_id TEXT, trace_id TEXT, span_id TEXT, parent_id TEXT, name TEXT,
        start TEXT, "end" TEXT, duration_ms DOUBLE PRECISION, attributes TEXT, status TEXT,
        PRIMARY KEY (ticket_id, span_id))""",
    "CREATE INDEX IF NOT EXISTS tickets_customer ON tickets (customer_id, created_at)",
    "CREATE INDEX IF NOT EXISTS tickets_created ON tickets (created_at)",
    "CREATE INDEX IF NOT EXISTS tickets_status ON tickets (status)",
    "CREATE INDEX IF NOT EXISTS handoffs_status ON handoffs (status, queue)",
    "CREATE INDEX IF NOT EXISTS handoffs_ticket ON handoffs (ticket_id)",
]
SCHEMA_LOCK = "deskpilot:schema"


def to_pyformat(sql: str) -> str:
    """The shared SQL uses ``?`` placeholders; psycopg wants ``%s`` (and ``%%`` for ``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresTicketStore(SqlTicketStore):
    """:class:`~support_core.ports.TicketStore` on a PostgreSQL database."""

    ROWID = "rid"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        super().__init__()
        self.url = mask_url(url)
        self.where_label = self.url
        self.timeout = timeout
        try:
            self.conn = psycopg.connect(
                url, autocommit=True, row_factory=dict_row, connect_timeout=5
            )
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendUnavailable(
                f"Cannot reach the ticket database at {self.url}: {first.replace(url, self.url)}"
            ) from None
        self.conn.execute(f"SET lock_timeout = '{int(timeout * 1000)}ms'")
        with self.transaction(lock=SCHEMA_LOCK):
            for statement in SCHEMA:
                self._exec(statement)
        self.prepare_reporting()

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ------------------------------------------------------------------------- hooks
    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        return self.conn.execute(to_pyformat(sql), params).rowcount  # type: ignore[arg-type]

    def _query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return self.conn.execute(to_pyformat(sql), params).fetchall()  # type: ignore[arg-type,return-value]

    @property
    def connection(self) -> psycopg.Connection[Any]:
        return self.conn

    def _begin(self) -> None:
        self.conn.execute("BEGIN")

    def _end(self, commit: bool) -> None:
        if self.conn.closed:
            return
        self.conn.execute("COMMIT" if commit else "ROLLBACK")

    def _lock(self, name: str) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])

    def _translate(self, exc: Exception) -> Exception | None:
        if isinstance(exc, psycopg.errors.DiskFull | psycopg.errors.OutOfMemory):
            return StorageFull(self.url)
        if isinstance(exc, psycopg.errors.LockNotAvailable | psycopg.errors.QueryCanceled):
            return StorageBusy(self.url, self.timeout)
        if isinstance(exc, psycopg.OperationalError):
            return StorageError(f"Lost the ticket database at {self.url}; retry in a moment.")
        return None

    def _tables_with(self, *columns: str) -> list[str]:
        marks = ", ".join("?" for _ in columns)
        sql = (
            "SELECT table_name FROM information_schema.columns "
            f"WHERE table_schema = current_schema() AND column_name IN ({marks}) "
            "AND table_name NOT LIKE '\\_%' GROUP BY table_name "
            "HAVING count(DISTINCT column_name) = ? ORDER BY table_name"
        )
        return [r["table_name"] for r in self._rows(sql, [*columns, len(columns)])]
