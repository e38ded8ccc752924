"""This package's tables, on the TicketStore's database (added through its migrations list,
as ``csat`` does). All SQL of the learning loop lives here, so moving the ticket store to
another backend means porting this one module.

* ``resolutions``  one row per human-resolved ticket (the full record as JSON)
* ``gap_state``    a gap's status once someone acted on it (published / dismissed)
* ``feedback_pairs`` human-verified (question, article) positives for retrieval
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from support_core.adapters.ticket_store_sql import SqlTicketStore, iso
from support_core.learning.records import FeedbackPair, GapStatus, Resolution

# Plain SQL both SQLite and PostgreSQL accept, so the loop works on either ticket store.
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS resolutions (
        ticket_id TEXT PRIMARY KEY, handoff_id TEXT, resolved_at TEXT, is_demo INTEGER,
        json TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS gap_state (
        gap_id TEXT PRIMARY KEY, status TEXT, title TEXT, article_id TEXT, ticket_ids TEXT,
        actor TEXT, at TEXT)""",
    """CREATE TABLE IF NOT EXISTS feedback_pairs (
        question TEXT NOT NULL, article_id TEXT NOT NULL, source TEXT NOT NULL,
        ticket_id TEXT, agent TEXT, rank_before INTEGER, at TEXT,
        PRIMARY KEY (question, article_id))""",
]


class LearningStore:
    """Resolutions, gap states and feedback pairs, sharing the ticket store's database, its
    connection and its lock (SQLite or PostgreSQL alike)."""

    def __init__(self, tickets: SqlTicketStore) -> None:
        self.tickets = tickets
        with tickets.transaction(lock="learning:schema"):
            for statement in SCHEMA:
                tickets._exec(statement)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.tickets._rows(sql, params)

    # ------------------------------------------------------------------ resolutions
    def save_resolution(self, res: Resolution) -> None:
        """One row per ticket: a reopened ticket resolved again replaces its record."""
        row = {
            "ticket_id": res.ticket_id, "handoff_id": res.handoff_id,
            "resolved_at": iso(res.resolved_at), "is_demo": int(res.is_demo),
            "json": res.model_dump_json(exclude={"csat"}),
        }
        self.tickets.upsert_row("resolutions", row)

    def resolutions(self, since: datetime | None = None) -> list[Resolution]:
        """Oldest first."""
        where, params = ("resolved_at >= ?", [iso(since)]) if since else ("1", [])
        sql = f"SELECT json FROM resolutions WHERE {where} ORDER BY resolved_at, ticket_id"
        return [Resolution.model_validate_json(r["json"]) for r in self._rows(sql, params)]

    def resolution(self, ticket_id: str) -> Resolution | None:
        rows = self._rows("SELECT json FROM resolutions WHERE ticket_id = ?", [ticket_id])
        return Resolution.model_validate_json(rows[0]["json"]) if rows else None

    # ------------------------------------------------------------------ gaps
    def set_gap_state(
        self, gap_id: str, status: GapStatus, *, ticket_ids: Sequence[str], title: str = "",
        article_id: str | None = None, actor: str = "", at: datetime,
    ) -> None:
        row = {
            "gap_id": gap_id, "status": status.value, "title": title, "article_id": article_id,
            "ticket_ids": json.dumps(list(ticket_ids)), "actor": actor, "at": iso(at),
        }
        self.tickets.upsert_row("gap_state", row, pk="gap_id")

    def gap_states(self) -> dict[str, dict[str, Any]]:
        rows = self._rows("SELECT * FROM gap_state")
        return {r["gap_id"]: {**r, "ticket_ids": json.loads(r["ticket_ids"] or "[]")}
                for r in rows}

    # ------------------------------------------------------------------ feedback pairs
    def add_pair(self, pair: FeedbackPair) -> bool:
        """Store a pair; the same (question, article) twice is kept once. True if new."""
        row = pair.model_dump() | {"at": iso(pair.at)}
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sql = (f"INSERT INTO feedback_pairs ({columns}) VALUES ({marks}) "
               "ON CONFLICT (question, article_id) DO NOTHING")
        with self.tickets.transaction():
            return self.tickets._exec(sql, list(row.values())) > 0

    def pairs(self) -> list[FeedbackPair]:
        rows = self._rows("SELECT * FROM feedback_pairs ORDER BY at, question")
        return [FeedbackPair.model_validate(r) for r in rows]

    def pair_count(self) -> int:
        return int(self._rows("SELECT count(*) AS n FROM feedback_pairs")[0]["n"])
