"""The desk's own records next to the tickets: an audit log of agent and manager actions
(claims, replies, resolutions, internal notes, reassignments, SLA breaches) and the macros.

Kept on the ticket store's database beside the users (plain SQL on SQLite or PostgreSQL), so
every app process of a team reads one audit log and one set of macros. An event that must
happen once (an SLA breach of one clock) carries a ``once_key``; a unique index on it makes
recording it twice a no-op, even from two processes. Events are ordered by time, then id
(``new_id`` text, so no backend-specific autoincrement is needed).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from support_core.adapters.redacting_store import RedactingTicketStore
from support_core.adapters.ticket_store_sql import iso
from support_core.auth import sql_store
from support_core.errors import InputError, NotFound
from support_core.macros import check_template, clean_macro_name
from support_core.models import new_id, utcnow
from support_core.ports import TicketStore


class DeskEvent(BaseModel):
    """One audited action on a handoff: who, when, what."""

    handoff_id: str
    ticket_id: str
    kind: str  # claim, reply, resolve, note, release, reassign, sla_breach
    actor: str
    at: datetime = Field(default_factory=utcnow)
    detail: dict[str, Any] = Field(default_factory=dict)


class Macro(BaseModel):
    name: str
    text: str
    updated_by: str
    updated_at: datetime


SCHEMA = [
    """CREATE TABLE IF NOT EXISTS desk_events (
        event_id TEXT PRIMARY KEY, handoff_id TEXT NOT NULL, ticket_id TEXT, kind TEXT NOT NULL,
        actor TEXT NOT NULL, at TEXT NOT NULL, detail TEXT, once_key TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS desk_events_once ON desk_events (once_key) "
    "WHERE once_key IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS desk_events_handoff ON desk_events (handoff_id, at)",
    """CREATE TABLE IF NOT EXISTS macros (
        name TEXT PRIMARY KEY, text TEXT, updated_by TEXT, updated_at TEXT)""",
]


class DeskRecords:
    """The audit log and the macros on the ticket store's database (a path opens the SQLite
    ticket store on that file). Given the masking store (as ``wiring`` does), notes, audit
    details and macros are masked through it before they are written."""

    def __init__(self, store: TicketStore | str | Path) -> None:
        self.db = sql_store(store)
        self.masking = store if isinstance(store, RedactingTicketStore) else None
        with self.db.transaction(lock="desk:schema"):
            for statement in SCHEMA:
                self.db._exec(statement)

    def _exec(self, sql: str, params: list[Any]) -> int:
        with self.db.transaction():
            return self.db._exec(sql, params)

    # ------------------------------------------------------------------ events
    def record(self, event: DeskEvent, once_key: str | None = None) -> bool:
        """Append ``event``; False when an event with the same ``once_key`` exists already."""
        if self.masking is not None:
            event = event.model_copy(update={"detail": self.masking.mask_record(
                event.detail, event.handoff_id, event.ticket_id)})
        added = self._exec(
            "INSERT INTO desk_events "
            "(event_id, handoff_id, ticket_id, kind, actor, at, detail, once_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [new_id("dev"), event.handoff_id, event.ticket_id, event.kind, event.actor,
             iso(event.at), json.dumps(event.detail, ensure_ascii=False), once_key],
        )  # fmt: skip
        return added == 1

    def events(
        self, handoff_id: str | None = None, ticket_id: str | None = None, kind: str | None = None
    ) -> list[DeskEvent]:
        clauses, params = [], []
        for column, value in (("handoff_id", handoff_id), ("ticket_id", ticket_id),
                              ("kind", kind)):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " AND ".join(clauses) or "1 = 1"
        sql = f"SELECT * FROM desk_events WHERE {where} ORDER BY at, event_id"
        rows = self.db._rows(sql, params)
        return [
            DeskEvent(handoff_id=r["handoff_id"], ticket_id=r["ticket_id"], kind=r["kind"],
                      actor=r["actor"], at=datetime.fromisoformat(r["at"]),
                      detail=json.loads(r["detail"] or "{}"))
            for r in rows
        ]  # fmt: skip

    def priority_bumps(self) -> dict[str, int]:
        """How many levels each handoff's priority was raised (one per recorded breach)."""
        rows = self.db._rows(
            "SELECT handoff_id, COUNT(*) AS n FROM desk_events WHERE kind = 'sla_breach' "
            "GROUP BY handoff_id"
        )
        return {r["handoff_id"]: int(r["n"]) for r in rows}

    # ------------------------------------------------------------------ macros
    def save_macro(self, name: str, text: str, by: str) -> Macro:
        name, text = clean_macro_name(name), check_template(text)
        if self.masking is not None:
            text = self.masking.mask_macro(text)
        self._exec(
            "INSERT INTO macros (name, text, updated_by, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET text = excluded.text, "
            "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            [name, text, by, iso(utcnow())],
        )
        return self.macro(name)

    def macro(self, name: str) -> Macro:
        rows = self.db._rows("SELECT * FROM macros WHERE name = ?", [name.strip()])
        if not rows:
            raise NotFound(f"There is no macro named {name.strip()!r}.")
        return _macro(rows[0])

    def macros(self) -> list[Macro]:
        return [_macro(r) for r in self.db._rows("SELECT * FROM macros ORDER BY name")]

    def delete_macro(self, name: str) -> None:
        if self._exec("DELETE FROM macros WHERE name = ?", [name.strip()]) == 0:
            raise InputError(f"There is no macro named {name.strip()!r}.")

    def delete_events(self, handoff_ids: set[str]) -> int:
        """Forget the events of these handoffs (when demo data is removed)."""
        with self.db.transaction():
            return sum(self.db._exec("DELETE FROM desk_events WHERE handoff_id = ?", [h])
                       for h in handoff_ids)


def _macro(row: dict[str, Any]) -> Macro:
    return Macro(name=row["name"], text=row["text"], updated_by=row["updated_by"],
                 updated_at=datetime.fromisoformat(row["updated_at"]))  # fmt: skip
