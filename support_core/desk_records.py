"""The desk's own records next to the tickets: an audit log of agent and manager actions
(claims, replies, resolutions, internal notes, reassignments, SLA breaches) and the macros.

Kept in ``<data dir>/desk.db`` beside the users, so the ticket store stays as it is. An
event that must happen once (an SLA breach of one clock) carries a ``once_key``; a unique
index on it makes recording it twice a no-op, even from two processes.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlite_utils import Database

from support_core.errors import InputError, NotFound
from support_core.macros import check_template, clean_macro_name
from support_core.models import utcnow
from support_core.store import Migration, apply_migrations, iso, open_database, table


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


def _schema(db: Database) -> None:
    table(db, "desk_events").create(
        {"event_id": int, "handoff_id": str, "ticket_id": str, "kind": str, "actor": str,
         "at": str, "detail": str, "once_key": str},
        pk="event_id", not_null={"handoff_id", "kind", "actor", "at"}, if_not_exists=True,
    )  # fmt: skip
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS desk_events_once ON desk_events (once_key) "
        "WHERE once_key IS NOT NULL"
    )
    db.execute("CREATE INDEX IF NOT EXISTS desk_events_handoff ON desk_events (handoff_id, at)")
    table(db, "macros").create(
        {"name": str, "text": str, "updated_by": str, "updated_at": str},
        pk="name", if_not_exists=True,
    )


MIGRATIONS: list[Migration] = [("desk_0001_events_macros", _schema)]


class DeskRecords:
    def __init__(self, path: str | Path) -> None:
        self.db = open_database(path)
        apply_migrations(self.db, MIGRATIONS)

    # ------------------------------------------------------------------ events
    def record(self, event: DeskEvent, once_key: str | None = None) -> bool:
        """Append ``event``; False when an event with the same ``once_key`` exists already."""
        with self.db.conn:
            cur = self.db.conn.execute(
                "INSERT OR IGNORE INTO desk_events "
                "(handoff_id, ticket_id, kind, actor, at, detail, once_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [event.handoff_id, event.ticket_id, event.kind, event.actor, iso(event.at),
                 json.dumps(event.detail, ensure_ascii=False), once_key],
            )  # fmt: skip
        return cur.rowcount == 1

    def events(
        self, handoff_id: str | None = None, ticket_id: str | None = None, kind: str | None = None
    ) -> list[DeskEvent]:
        clauses, params = [], []
        for column, value in (("handoff_id", handoff_id), ("ticket_id", ticket_id),
                              ("kind", kind)):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = " AND ".join(clauses) or "1"
        sql = f"SELECT * FROM desk_events WHERE {where} ORDER BY at, event_id"
        rows = self.db.query(sql, params)
        return [
            DeskEvent(handoff_id=r["handoff_id"], ticket_id=r["ticket_id"], kind=r["kind"],
                      actor=r["actor"], at=datetime.fromisoformat(r["at"]),
                      detail=json.loads(r["detail"] or "{}"))
            for r in rows
        ]  # fmt: skip

    def priority_bumps(self) -> dict[str, int]:
        """How many levels each handoff's priority was raised (one per recorded breach)."""
        rows = self.db.query(
            "SELECT handoff_id, COUNT(*) AS n FROM desk_events WHERE kind = 'sla_breach' "
            "GROUP BY handoff_id"
        )
        return {r["handoff_id"]: r["n"] for r in rows}

    # ------------------------------------------------------------------ macros
    def save_macro(self, name: str, text: str, by: str) -> Macro:
        name, text = clean_macro_name(name), check_template(text)
        with self.db.conn:
            self.db.conn.execute(
                "INSERT INTO macros (name, text, updated_by, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET text = excluded.text, "
                "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                [name, text, by, iso(utcnow())],
            )
        return self.macro(name)

    def macro(self, name: str) -> Macro:
        rows = list(self.db.query("SELECT * FROM macros WHERE name = ?", [name.strip()]))
        if not rows:
            raise NotFound(f"There is no macro named {name.strip()!r}.")
        return _macro(rows[0])

    def macros(self) -> list[Macro]:
        return [_macro(r) for r in self.db.query("SELECT * FROM macros ORDER BY name")]

    def delete_macro(self, name: str) -> None:
        with self.db.conn:
            cur = self.db.conn.execute("DELETE FROM macros WHERE name = ?", [name.strip()])
        if cur.rowcount == 0:
            raise InputError(f"There is no macro named {name.strip()!r}.")

    def delete_events(self, handoff_ids: set[str]) -> int:
        """Forget the events of these handoffs (when demo data is removed)."""
        with self.db.conn:
            return sum(
                self.db.conn.execute("DELETE FROM desk_events WHERE handoff_id = ?", [h]).rowcount
                for h in handoff_ids
            )


def _macro(row: dict[str, Any]) -> Macro:
    return Macro(name=row["name"], text=row["text"], updated_by=row["updated_by"],
                 updated_at=datetime.fromisoformat(row["updated_at"]))  # fmt: skip
