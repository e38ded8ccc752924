"""Import an older ``<data dir>/desk.db`` (users, sign-in failures, sessions, the audit log,
macros) into the ticket store's database, once.

Before, these tables lived in a SQLite file per instance, so two app processes on different
hosts had different users. Now they live beside the tickets; an instance that still has its
``desk.db`` copies every row over on first start (``ON CONFLICT DO NOTHING``: a user who
already exists in the shared database keeps the shared row), then marks the file so the copy
is not repeated. The file itself is left in place. Audit events get ids derived from the file
and their old number, so a repeated import (say the mark could not be written) adds nothing.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import sqlite3
from pathlib import Path
from typing import Any

from support_core.adapters.ticket_store_sql import SqlTicketStore, insert_sql, iso
from support_core.models import utcnow

log = logging.getLogger(__name__)
MARK = "desk.imported_into_ticket_store"
TABLES = ("users", "sign_in_failures", "staff_sessions", "macros", "desk_events")


def _legacy_rows(conn: sqlite3.Connection, name: str) -> list[dict[str, Any]]:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        [name]).fetchone():
        return []
    cur = conn.execute(f'SELECT * FROM "{name}"')
    columns = [c[0] for c in cur.description]
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def _already_imported(conn: sqlite3.Connection) -> bool:
    try:
        found = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", [MARK]).fetchone()
        return found is not None
    except sqlite3.OperationalError:  # no _migrations table: never imported
        return False


def import_desk_db(path: Path, store: SqlTicketStore) -> dict[str, int]:
    """Copy ``path``'s rows into ``store`` (whose desk tables must exist); returns the rows
    added per table, {} when there is no file or it was imported before."""
    if not path.exists():
        return {}
    conn = sqlite3.connect(str(path), timeout=10)
    try:
        if _already_imported(conn):
            return {}
        tag = hashlib.sha1(f"{socket.gethostname()}:{path.resolve()}".encode()).hexdigest()[:8]
        added: dict[str, int] = {}
        with store.transaction(lock="desk:import"):
            for name in TABLES:
                added[name] = 0
                for row in _legacy_rows(conn, name):
                    if name == "desk_events":
                        row["event_id"] = f"imp{tag}_{int(row['event_id']):09d}"
                    added[name] += store._exec(insert_sql(name, row, "ON CONFLICT DO NOTHING"),
                                               list(row.values()))
        try:
            with conn:
                conn.execute("CREATE TABLE IF NOT EXISTS _migrations "
                             "(name TEXT PRIMARY KEY, applied_at TEXT)")
                conn.execute("INSERT OR IGNORE INTO _migrations VALUES (?, ?)",
                             [MARK, iso(utcnow())])
        except sqlite3.Error as exc:  # read-only file: the next start imports again (a no-op)
            log.warning("Imported %s but could not mark it: %s", path, exc)
        if any(added.values()):
            log.info("Imported %s into the ticket store: %s", path, added)
        return added
    finally:
        conn.close()
