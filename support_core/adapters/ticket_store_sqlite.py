"""The ticket store on one SQLite file (the default), through sqlite-utils.

One connection per store, shared across threads (``check_same_thread=False``) and serialised
by the store's lock; WAL and a busy timeout let several stores (Streamlit sessions, the CLI,
other processes) share the file. Every write transaction starts with ``BEGIN IMMEDIATE``,
which takes SQLite's single write lock up front: that is the named lock of
:class:`~support_core.adapters.ticket_store_sql.SqlTicketStore` (coarser than needed, and
held only for the few milliseconds of a read-change-write).

The schema is a list of named migrations recorded in ``_migrations``; other modules on the
same file add theirs through :func:`apply_migrations`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import Table

from support_core.adapters.sqlite_wal import enable_wal, is_lock_error, retry_while_locked
from support_core.adapters.ticket_store_sql import SqlTicketStore, iso
from support_core.errors import StorageBusy, StorageError, StorageFull
from support_core.models import utcnow

Migration = tuple[str, Callable[[Database], None]]


def table(db: Database, name: str) -> Table:
    """``db[name]`` typed as a Table (sqlite-utils types it as ``Table | View``)."""
    return Table(db, name)


def open_database(path: str | Path, timeout: float = 10.0) -> Database:
    """A sqlite-utils Database on ``path`` in WAL mode, usable from any thread."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=timeout)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    enable_wal(conn, timeout)
    return Database(conn)


def apply_migrations(db: Database, migrations: Sequence[Migration]) -> list[str]:
    """Run the migrations not yet recorded in ``_migrations``; return the names applied.

    Migrations must be idempotent (``if_not_exists``), because two processes opening a new
    file at once may both run one before either records it.
    """
    migrations_table = table(db, "_migrations")
    migrations_table.create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db.query("SELECT name FROM _migrations")}
    applied = []
    for name, migrate in migrations:
        if name not in done:
            migrate(db)
            migrations_table.insert({"name": name, "applied_at": iso(utcnow())}, ignore=True)
            applied.append(name)
    return applied


def _index(db: Database, name: str, columns: list[str]) -> None:
    table(db, name).create_index(columns, if_not_exists=True)


def _initial_schema(db: Database) -> None:
    table(db, "tickets").create(
        {
            "ticket_id": str, "customer_id": str, "session_id": str, "status": str,
            "priority": str, "subject": str, "created_at": str, "updated_at": str,
            "is_demo": int, "queue": str, "escalated": int, "escalation_reason": str,
            "escalation_rule": str, "confidence": float, "sentiment_level": str,
            "frustration": float, "action": str, "json": str,
        },
        pk="ticket_id", not_null={"customer_id", "status", "created_at", "json"},
        if_not_exists=True,
    )
    table(db, "transitions").create(
        {"ticket_id": str, "seq": int, "from_status": str, "to_status": str, "at": str,
         "actor": str, "reason": str},
        pk=("ticket_id", "seq"), if_not_exists=True,
    )
    table(db, "handoffs").create(
        {
            "handoff_id": str, "ticket_id": str, "queue": str, "priority": str, "status": str,
            "claimed_by": str, "claimed_at": str, "first_reply_at": str, "resolved_at": str,
            "created_at": str, "json": str,
        },
        pk="handoff_id", not_null={"ticket_id", "status", "json"}, if_not_exists=True,
    )
    table(db, "spans").create(
        {"ticket_id": str, "trace_id": str, "span_id": str, "parent_id": str, "name": str,
         "start": str, "end": str, "duration_ms": float, "attributes": str, "status": str},
        pk=("ticket_id", "span_id"), if_not_exists=True,
    )
    _index(db, "tickets", ["customer_id", "created_at"])
    _index(db, "tickets", ["created_at"])
    _index(db, "tickets", ["status"])
    _index(db, "handoffs", ["status", "queue"])
    _index(db, "handoffs", ["ticket_id"])


MIGRATIONS: list[Migration] = [("store.0001_initial", _initial_schema)]


class SQLiteTicketStore(SqlTicketStore):
    """:class:`~support_core.ports.TicketStore` on a SQLite file."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        super().__init__()
        self.path = Path(path)
        self.timeout = timeout
        self.where_label = str(self.path)
        self.db = open_database(self.path, timeout)
        with self.lock:
            self._guard(
                lambda: retry_while_locked(lambda: apply_migrations(self.db, MIGRATIONS), timeout)
            )
        self.prepare_reporting()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # ------------------------------------------------------------------------- hooks
    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        return self.db.conn.execute(sql, params).rowcount

    def _query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    @property
    def connection(self) -> sqlite3.Connection:
        return self.db.conn

    def _begin(self) -> None:
        self.db.conn.execute("BEGIN IMMEDIATE")

    def _end(self, commit: bool) -> None:
        if self.db.conn.in_transaction:
            self.db.conn.execute("COMMIT" if commit else "ROLLBACK")

    def _translate(self, exc: Exception) -> Exception | None:
        if not isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
            return None
        text = str(exc).lower()
        if "full" in text:
            return StorageFull(self.where_label)
        if is_lock_error(exc):
            return StorageBusy(self.where_label, self.timeout)
        if isinstance(exc, sqlite3.OperationalError) and ("disk" in text or "readonly" in text):
            return StorageError(f"The ticket database {self.where_label} cannot be written: {exc}")
        return None

    def _tables_with(self, *columns: str) -> list[str]:
        return [
            t.name for t in self.db.tables
            if not t.name.startswith("_") and set(columns) <= set(t.columns_dict)
        ]
