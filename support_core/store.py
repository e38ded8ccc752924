"""Tickets, their audit trail, the handoff queue and stored traces, in one SQLite file.

Why it looks like this:

* One connection per :class:`TicketStore`, shared across threads (``check_same_thread=False``)
  and serialised by a lock; WAL and a 5 s busy timeout let several stores (Streamlit
  sessions, the CLI) share the file.
* Correctness across *processes* never relies on that lock: a claim is a single conditional
  ``UPDATE ... WHERE status = 'queued'``, so SQLite itself picks exactly one winner.
* Each ticket row keeps the queryable fields as columns and the full :class:`Ticket` as JSON;
  the JSON is the source of truth when a ticket is read back. Handoffs keep their claim state
  in columns *and* in the JSON, updated by the same statement (``json_set``).
* Transitions are keyed by ``(ticket_id, seq)`` (``seq`` = position in the ticket's trail), so
  saving a ticket twice never duplicates its audit trail.
* The schema is a list of named migrations recorded in ``_migrations``; other modules on the
  same file (``csat``) add theirs through :func:`apply_migrations`.
* Times are stored as UTC ISO-8601 with microseconds, so string order is time order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

from sqlite_utils import Database
from sqlite_utils.db import Table

from support_core.errors import AlreadyClaimed, InvalidTransition, NotFound
from support_core.models import (
    HandoffPackage,
    HandoffStatus,
    Message,
    Queue,
    SentimentResult,
    Ticket,
    TicketStatus,
    Transition,
    utcnow,
)

Migration = tuple[str, Callable[[Database], None]]

PRIORITY_RANK_SQL = (
    "CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"
)


# ----------------------------------------------------------------------------- helpers
def iso(moment: datetime) -> str:
    """UTC, fixed width: lexical order of the stored strings is chronological order."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat(timespec="microseconds")


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def table(db: Database, name: str) -> Table:
    """``db[name]`` typed as a Table (sqlite-utils types it as ``Table | View``)."""
    return Table(db, name)


def open_database(path: str | Path) -> Database:
    """A sqlite-utils Database on ``path`` in WAL mode, usable from any thread."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA busy_timeout = 5000")
    db = Database(conn)
    db.enable_wal()
    return db


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


def _index(db: Database, name: str, columns: list[str]) -> None:
    table(db, name).create_index(columns, if_not_exists=True)


MIGRATIONS: list[Migration] = [("store.0001_initial", _initial_schema)]


def _action(ticket: Ticket) -> str | None:
    if ticket.escalation and ticket.escalation.should_escalate:
        return "escalated"
    return "auto_reply" if ticket.draft else None


def _ticket_row(ticket: Ticket) -> dict[str, Any]:
    esc, sent = ticket.escalation, ticket.sentiment
    return {
        "ticket_id": ticket.ticket_id, "customer_id": ticket.customer_id,
        "session_id": ticket.session_id, "status": ticket.status.value,
        "priority": ticket.priority.value, "subject": ticket.subject,
        "created_at": iso(ticket.created_at), "updated_at": iso(ticket.updated_at),
        "is_demo": int(ticket.is_demo), "queue": esc.queue.value if esc else None,
        "escalated": int(bool(esc and esc.should_escalate)),
        "escalation_reason": esc.reason if esc else None,
        "escalation_rule": esc.rule if esc else None,
        "confidence": ticket.draft.confidence if ticket.draft else None,
        "sentiment_level": sent.level.value if sent else None,
        "frustration": sent.frustration_score if sent else None,
        "action": _action(ticket), "json": ticket.model_dump_json(),
    }


def _transition_row(ticket_id: str, seq: int, t: Transition) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id, "seq": seq,
        "from_status": t.from_status.value if t.from_status else None,
        "to_status": t.to_status.value, "at": iso(t.at), "actor": t.actor, "reason": t.reason,
    }


def transition_from_row(row: dict[str, Any]) -> Transition:
    return Transition(
        from_status=row["from_status"], to_status=row["to_status"],
        at=datetime.fromisoformat(row["at"]), actor=row["actor"], reason=row["reason"] or "",
    )


def _handoff_row(pkg: HandoffPackage) -> dict[str, Any]:
    return {
        "handoff_id": pkg.handoff_id, "ticket_id": pkg.ticket_id, "queue": pkg.queue.value,
        "priority": pkg.priority.value, "status": pkg.status.value,
        "claimed_by": pkg.claimed_by, "claimed_at": iso_or_none(pkg.claimed_at),
        "first_reply_at": iso_or_none(pkg.first_reply_at),
        "resolved_at": iso_or_none(pkg.resolved_at), "created_at": iso(pkg.created_at),
        "json": pkg.model_dump_json(),
    }


def _insert_sql(table: str, row: dict[str, Any], verb: str = "INSERT") -> str:
    columns = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join("?" for _ in row)
    return f"{verb} INTO {table} ({columns}) VALUES ({marks})"


def _upsert_sql(table: str, row: dict[str, Any], pk: str) -> str:
    """Insert, or update every other column in place (the row keeps its rowid)."""
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in row if c != pk)
    return f"{_insert_sql(table, row)} ON CONFLICT({pk}) DO UPDATE SET {updates}"


def _where(clauses: dict[str, Any]) -> tuple[str, list[Any]]:
    """``{"status = ?": "queued", "x = ?": None}`` -> SQL for the clauses whose value is set."""
    used = {sql: value for sql, value in clauses.items() if value is not None}
    sql = " AND ".join(used) or "1"
    return sql, list(used.values())


# ----------------------------------------------------------------------------- the store
class TicketStore:
    """Persistence for tickets, transitions, handoffs and spans (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = open_database(self.path)
        self.lock = threading.RLock()
        with self.lock:
            apply_migrations(self.db, MIGRATIONS)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one SQLite transaction (commit on success, rollback on error)."""
        with self.lock, self.db.conn:
            yield self.db.conn

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.db.query(sql, params))

    def upsert_row(self, name: str, row: dict[str, Any], pk: str = "ticket_id") -> None:
        """Insert ``row`` or overwrite the row with the same primary key.

        (sqlite-utils' ``upsert`` first inserts only the key, which NOT NULL columns turn into
        a silent no-op, so full rows are written this way.)
        """
        with self.transaction() as conn:
            conn.execute(_upsert_sql(name, row, pk), list(row.values()))

    # ------------------------------------------------------------------------- tickets
    def save_ticket(self, ticket: Ticket) -> None:
        """Insert or update the ticket; append the transitions not yet stored; one transaction."""
        row = _ticket_row(ticket)
        trail = [_transition_row(ticket.ticket_id, i, t) for i, t in enumerate(ticket.transitions)]
        with self.transaction() as conn:
            conn.execute(_upsert_sql("tickets", row, "ticket_id"), list(row.values()))
            for t in trail:
                conn.execute(_insert_sql("transitions", t, "INSERT OR IGNORE"), list(t.values()))

    def get_ticket(self, ticket_id: str) -> Ticket:
        rows = self._rows("SELECT json FROM tickets WHERE ticket_id = ?", [ticket_id])
        if not rows:
            raise NotFound(f"There is no ticket {ticket_id}.")
        return Ticket.model_validate_json(rows[0]["json"])

    def list_tickets(
        self,
        customer_id: str | None = None,
        status: TicketStatus | str | None = None,
        session_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[Ticket]:
        """Newest first; ``since`` inclusive and ``until`` exclusive, on ``created_at``."""
        where, params = _where({
            "customer_id = ?": customer_id,
            "session_id = ?": session_id,
            "status = ?": TicketStatus(status).value if status else None,
            "created_at >= ?": iso_or_none(since),
            "created_at < ?": iso_or_none(until),
        })
        sql = f"SELECT json FROM tickets WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ?"
        return [Ticket.model_validate_json(r["json"]) for r in self._rows(sql, [*params, limit])]

    def customer_ids(self, limit: int = 500) -> list[str]:
        """Customers with tickets, most recently active first."""
        sql = ("SELECT customer_id FROM tickets GROUP BY customer_id "
               "ORDER BY max(updated_at) DESC LIMIT ?")
        return [r["customer_id"] for r in self._rows(sql, [limit])]

    def latest_ticket(self, customer_id: str, session_id: str | None = None) -> Ticket | None:
        """The customer's most recently created ticket (in ``session_id`` when given)."""
        where, params = _where({"customer_id = ?": customer_id, "session_id = ?": session_id})
        sql = f"SELECT json FROM tickets WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT 1"
        rows = self._rows(sql, params)
        return Ticket.model_validate_json(rows[0]["json"]) if rows else None

    def transitions(self, ticket_id: str) -> list[Transition]:
        rows = self._rows("SELECT * FROM transitions WHERE ticket_id = ? ORDER BY seq", [ticket_id])
        return [transition_from_row(r) for r in rows]

    # ------------------------------------------------------------------------- handoffs
    def enqueue_handoff(self, pkg: HandoffPackage) -> HandoffPackage:
        """Queue a handoff. Enqueuing the same ``handoff_id`` again keeps the stored one."""
        row = _handoff_row(pkg)
        with self.transaction() as conn:
            conn.execute(_insert_sql("handoffs", row, "INSERT OR IGNORE"), list(row.values()))
        return self.get_handoff(pkg.handoff_id)

    def get_handoff(self, handoff_id: str) -> HandoffPackage:
        rows = self._rows("SELECT json FROM handoffs WHERE handoff_id = ?", [handoff_id])
        if not rows:
            raise NotFound(f"There is no handoff {handoff_id}.")
        return HandoffPackage.model_validate_json(rows[0]["json"])

    def list_handoffs(
        self,
        queue: Queue | str | None = None,
        status: HandoffStatus | str | None = None,
        claimed_by: str | None = None,
    ) -> list[HandoffPackage]:
        """Most urgent first (critical, high, medium, low), then oldest first."""
        where, params = _where({
            "queue = ?": Queue(queue).value if queue else None,
            "status = ?": HandoffStatus(status).value if status else None,
            "claimed_by = ?": claimed_by,
        })
        order = f"{PRIORITY_RANK_SQL}, created_at, rowid"
        rows = self._rows(f"SELECT json FROM handoffs WHERE {where} ORDER BY {order}", params)
        return [HandoffPackage.model_validate_json(r["json"]) for r in rows]

    def active_handoff(self, ticket_id: str) -> HandoffPackage | None:
        """The ticket's newest handoff that is not resolved (a human owns or will own it)."""
        return self._newest_handoff(ticket_id, "AND status != 'resolved'")

    def latest_handoff(self, ticket_id: str) -> HandoffPackage | None:
        """The ticket's newest handoff in any status (for outcomes: first-reply time)."""
        return self._newest_handoff(ticket_id, "")

    def _newest_handoff(self, ticket_id: str, condition: str) -> HandoffPackage | None:
        sql = (
            f"SELECT json FROM handoffs WHERE ticket_id = ? {condition} "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1"
        )
        rows = self._rows(sql, [ticket_id])
        return HandoffPackage.model_validate_json(rows[0]["json"]) if rows else None

    def append_handoff_message(
        self, ticket_id: str, message: Message, sentiment: SentimentResult | None = None
    ) -> HandoffPackage | None:
        """Add a message (and, for a customer follow-up, its sentiment) to the ticket's active
        handoff, so the agent sees follow-ups, replies and the sentiment trail in the package.
        Returns it, or None when there is none."""
        active = self.active_handoff(ticket_id)
        if active is None:
            return None
        sql_set = "json = json_insert(json, '$.conversation[#]', json(?)"
        params: list[Any] = [message.model_dump_json()]
        if sentiment is not None:
            sql_set += ", '$.sentiment_trail[#]', json(?)"
            params.append(sentiment.model_dump_json())
        self._update_handoff(sql_set + ")", "handoff_id = ?", [*params, active.handoff_id])
        return self.get_handoff(active.handoff_id)

    def queue_counts(self) -> dict[str, dict[str, int]]:
        """``{queue: {"queued": n, "claimed": m}}`` for every human queue, zeros included."""
        counts = {q.value: {"queued": 0, "claimed": 0} for q in Queue if q is not Queue.AUTO}
        sql = (
            "SELECT queue, status, count(*) AS n FROM handoffs "
            "WHERE status IN ('queued', 'claimed') GROUP BY queue, status"
        )
        for r in self._rows(sql):
            counts.setdefault(r["queue"], {"queued": 0, "claimed": 0})[r["status"]] = r["n"]
        return counts

    def _update_handoff(self, sql_set: str, where: str, params: Sequence[Any]) -> int:
        """One UPDATE of the live columns and the JSON copy; returns the rows changed."""
        with self.transaction() as conn:
            cur = conn.execute(f"UPDATE handoffs SET {sql_set} WHERE {where}", list(params))
            return cur.rowcount

    def _refuse(self, handoff_id: str, agent: str, wanted: str) -> NoReturn:
        """Explain why a claim-state change did not apply (called after a 0-row UPDATE)."""
        current = self.get_handoff(handoff_id)
        if current.claimed_by and current.claimed_by != agent:
            raise AlreadyClaimed(handoff_id, current.claimed_by)
        raise InvalidTransition(current.status.value, wanted)

    def claim(self, handoff_id: str, agent: str, at: datetime | None = None) -> HandoffPackage:
        """Claim a queued handoff for ``agent``; exactly one of several racing agents wins.

        Re-claiming your own claim returns it unchanged; a claim held by someone else raises
        :class:`AlreadyClaimed` naming them.
        """
        when = iso(at or utcnow())
        changed = self._update_handoff(
            "status = 'claimed', claimed_by = ?, claimed_at = ?, json = json_set(json, "
            "'$.status', 'claimed', '$.claimed_by', ?, '$.claimed_at', ?)",
            "handoff_id = ? AND status = 'queued'",
            [agent, when, agent, when, handoff_id],
        )
        current = self.get_handoff(handoff_id)
        if changed or (current.status is HandoffStatus.CLAIMED and current.claimed_by == agent):
            return current
        self._refuse(handoff_id, agent, HandoffStatus.CLAIMED.value)

    def release(self, handoff_id: str, agent: str) -> HandoffPackage:
        """Give a claimed handoff back to its queue; only the agent holding it may."""
        changed = self._update_handoff(
            "status = 'queued', claimed_by = NULL, claimed_at = NULL, json = json_set(json, "
            "'$.status', 'queued', '$.claimed_by', json('null'), '$.claimed_at', json('null'))",
            "handoff_id = ? AND status = 'claimed' AND claimed_by = ?",
            [handoff_id, agent],
        )
        if not changed:
            self._refuse(handoff_id, agent, HandoffStatus.QUEUED.value)
        return self.get_handoff(handoff_id)

    def mark_first_reply(self, handoff_id: str, at: datetime | None = None) -> HandoffPackage:
        """Record the first human reply; later calls keep the first time."""
        when = iso(at or utcnow())
        self._update_handoff(
            "first_reply_at = ?, json = json_set(json, '$.first_reply_at', ?)",
            "handoff_id = ? AND first_reply_at IS NULL",
            [when, when, handoff_id],
        )
        return self.get_handoff(handoff_id)

    def resolve_handoff(
        self, handoff_id: str, agent: str, at: datetime | None = None
    ) -> HandoffPackage:
        """Close a handoff. A queued one is claimed by ``agent`` in the same step; one claimed
        by someone else raises :class:`AlreadyClaimed`; resolving twice is harmless."""
        when = iso(at or utcnow())
        claimed_by = "coalesce(claimed_by, ?)"
        claimed_at = "coalesce(claimed_at, ?)"
        changed = self._update_handoff(
            f"status = 'resolved', resolved_at = ?, claimed_by = {claimed_by}, "
            f"claimed_at = {claimed_at}, json = json_set(json, '$.status', 'resolved', "
            f"'$.resolved_at', ?, '$.claimed_by', {claimed_by}, '$.claimed_at', {claimed_at})",
            "handoff_id = ? AND status != 'resolved' AND (claimed_by IS NULL OR claimed_by = ?)",
            [when, agent, when, when, agent, when, handoff_id, agent],
        )
        current = self.get_handoff(handoff_id)
        if not changed and current.status is not HandoffStatus.RESOLVED:
            self._refuse(handoff_id, agent, HandoffStatus.RESOLVED.value)
        return current

    # ------------------------------------------------------------------------- spans
    def save_spans(self, ticket_id: str, spans: Sequence[dict[str, Any]]) -> int:
        """Store finished spans (``SpanCollector`` dicts) for a ticket; re-saving is a no-op."""
        rows = [_span_row(ticket_id, s) for s in spans]
        with self.transaction() as conn:
            for row in rows:
                conn.execute(_insert_sql("spans", row, "INSERT OR IGNORE"), list(row.values()))
        return len(rows)

    def spans(self, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's spans, in start order, with ``attributes`` decoded."""
        sql = "SELECT * FROM spans WHERE ticket_id = ? ORDER BY start, rowid"
        rows = self._rows(sql, [ticket_id])
        return [{**r, "attributes": json.loads(r["attributes"] or "{}")} for r in rows]

    # ------------------------------------------------------------------------- demo data
    def delete_demo_data(self) -> dict[str, int]:
        """Delete every demo ticket and everything keyed by its id, in any table of the file.

        Generic on purpose: any table with a ``ticket_id`` column (handoffs, transitions,
        spans, outcomes, csat, ...) loses the demo tickets' rows, and any table with an
        ``is_demo`` column loses its demo rows. Returns rows deleted per table.
        """
        with self.transaction() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS _demo_ids (ticket_id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM _demo_ids")
            for name in self._tables_with("is_demo", "ticket_id"):
                select = f"SELECT ticket_id FROM [{name}] WHERE is_demo = 1"
                conn.execute(f"INSERT OR IGNORE INTO _demo_ids {select}")
            names = self._tables_with("ticket_id")
            return {name: self._delete_demo_rows(conn, name) for name in names}

    def _tables_with(self, *columns: str) -> list[str]:
        return [
            t.name for t in self.db.tables
            if not t.name.startswith("_") and set(columns) <= set(t.columns_dict)
        ]

    def _delete_demo_rows(self, conn: sqlite3.Connection, name: str) -> int:
        where = "ticket_id IN (SELECT ticket_id FROM _demo_ids)"
        if "is_demo" in table(self.db, name).columns_dict:
            where += " OR is_demo = 1"
        return conn.execute(f"DELETE FROM [{name}] WHERE {where}").rowcount


def _span_row(ticket_id: str, span: dict[str, Any]) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id, "trace_id": span.get("trace_id"), "span_id": span["span_id"],
        "parent_id": span.get("parent_id"), "name": span["name"], "start": span.get("start"),
        "end": span.get("end"), "duration_ms": span.get("duration_ms"),
        "attributes": json.dumps(span.get("attributes") or {}, default=str),
        "status": span.get("status"),
    }
