"""The ticket store's logic in SQL both SQLite and PostgreSQL speak; adapters add the rest.

Why it looks like this (the concurrency story, see issue 10):

* Every write runs in one transaction that first takes a *named lock* (``ticket:<id>``,
  ``session:<customer>/<session>``, ``handoff:<id>``). SQLite has one writer at a time, so
  ``BEGIN IMMEDIATE`` is the lock; PostgreSQL takes ``pg_advisory_xact_lock`` on the name.
  Threads of one process share the adapter's connection, serialised by ``self.lock``.
* A ticket is saved with compare-and-set on its ``version`` (inside that lock): saving a copy
  that is older than the stored one raises :class:`ConcurrentUpdate` instead of erasing
  someone else's message. :meth:`update_ticket` is the safe read-change-write (the change is
  applied to the ticket as stored, under the lock); :meth:`save_changes` replays a long
  writer's changes onto it (``ticket_merge.rebase``).
* Transitions are keyed ``(ticket_id, seq)`` and inserted with ``ON CONFLICT DO NOTHING``;
  because trails only grow under the lock, ``seq`` is the position in the trail.
* Handoff claim state lives in columns and is changed by single conditional ``UPDATE``s (the
  database picks exactly one winner); the JSON copy holds the package and is overlaid with
  the columns when read. Conversation appends are read-change-write under the handoff lock.
* Reporting events (``support_core.reporting``) are inserted in the transaction of the change
  they describe, with deterministic keys and ``ON CONFLICT DO NOTHING``: each is stored exactly
  once however many writers race. Metrics are queries over them (:meth:`outcome_rows`).
* Times are stored as UTC ISO-8601 text with microseconds: string order is time order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, NoReturn

from support_core.clarify import RULE as CLARIFY_RULE
from support_core.errors import AlreadyClaimed, ConcurrentUpdate, InvalidTransition, NotFound
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
from support_core.reporting import (
    EVENT_COLUMNS,
    EventName,
    claimed_event,
    first_reply_event,
    handoff_events,
    rated_event,
    ticket_events,
)

PRIORITY_RANK_SQL = (
    "CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"
)
HANDOFF_COLUMNS = "json, status, claimed_by, claimed_at, first_reply_at, resolved_at"

# Tables every backend shares, in plain SQL both SQLite and PostgreSQL accept.
REPORTING_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS csat (ticket_id TEXT PRIMARY KEY, score INTEGER, comment TEXT, "
    "at TEXT)",
    """CREATE TABLE IF NOT EXISTS reporting_events (
        event_key TEXT PRIMARY KEY, ticket_id TEXT NOT NULL, name TEXT NOT NULL, at TEXT NOT NULL,
        seq INTEGER, value DOUBLE PRECISION, detail TEXT, actor TEXT)""",
    "CREATE INDEX IF NOT EXISTS reporting_events_ticket ON reporting_events (ticket_id, name)",
    "CREATE INDEX IF NOT EXISTS reporting_events_name_at ON reporting_events (name, at)",
]
BACKFILL_EVENTS = "reporting.0001_backfill_events"
BACKFILL_PAGE = 500


# ----------------------------------------------------------------------------- helpers
def iso(moment: datetime) -> str:
    """UTC, fixed width: lexical order of the stored strings is chronological order."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat(timespec="microseconds")


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _action(ticket: Ticket) -> str | None:
    if ticket.escalation and ticket.escalation.should_escalate:
        return "escalated"
    if ticket.escalation and ticket.escalation.rule == CLARIFY_RULE:
        return "clarify"  # asked which topic: neither an answer nor a handoff
    return "auto_reply" if ticket.draft else None


def ticket_row(ticket: Ticket) -> dict[str, Any]:
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


def transition_row(ticket_id: str, seq: int, t: Transition) -> dict[str, Any]:
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


def handoff_row(pkg: HandoffPackage) -> dict[str, Any]:
    return {
        "handoff_id": pkg.handoff_id, "ticket_id": pkg.ticket_id, "queue": pkg.queue.value,
        "priority": pkg.priority.value, "status": pkg.status.value,
        "claimed_by": pkg.claimed_by, "claimed_at": iso_or_none(pkg.claimed_at),
        "first_reply_at": iso_or_none(pkg.first_reply_at),
        "resolved_at": iso_or_none(pkg.resolved_at), "created_at": iso(pkg.created_at),
        "json": pkg.model_dump_json(),
    }


def handoff_from_row(row: dict[str, Any]) -> HandoffPackage:
    """The JSON package with the live claim state from its columns."""
    pkg = HandoffPackage.model_validate_json(row["json"])
    return pkg.model_copy(update={
        "status": HandoffStatus(row["status"]), "claimed_by": row["claimed_by"],
        "claimed_at": _when(row["claimed_at"]), "first_reply_at": _when(row["first_reply_at"]),
        "resolved_at": _when(row["resolved_at"]),
    })


def span_row(ticket_id: str, span: dict[str, Any]) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id, "trace_id": span.get("trace_id"), "span_id": span["span_id"],
        "parent_id": span.get("parent_id"), "name": span["name"], "start": span.get("start"),
        "end": span.get("end"), "duration_ms": span.get("duration_ms"),
        "attributes": json.dumps(span.get("attributes") or {}, default=str),
        "status": span.get("status"),
    }


def insert_sql(table: str, row: dict[str, Any], on_conflict: str = "") -> str:
    columns = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join("?" for _ in row)
    return f'INSERT INTO "{table}" ({columns}) VALUES ({marks}) {on_conflict}'.rstrip()


def upsert_sql(table: str, row: dict[str, Any], pk: str) -> str:
    """Insert, or update every other column in place."""
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in row if c != pk)
    return insert_sql(table, row, f"ON CONFLICT({pk}) DO UPDATE SET {updates}")


def where(clauses: dict[str, Any]) -> tuple[str, list[Any]]:
    """``{"status = ?": "queued", "x = ?": None}`` -> SQL for the clauses whose value is set."""
    used = {sql: value for sql, value in clauses.items() if value is not None}
    return " AND ".join(used) or "1 = 1", list(used.values())


def window(
    prefix: str, since: datetime | None, until: datetime | None, include_demo: bool
) -> tuple[str, list[Any]]:
    return where({
        f"{prefix}created_at >= ?": iso_or_none(since),
        f"{prefix}created_at < ?": iso_or_none(until),
        f"{prefix}is_demo = ?": None if include_demo else 0,
    })


def _latest(name: EventName, column: str, order: str = "at") -> str:
    return (f"(SELECT e.{column} FROM reporting_events e WHERE e.ticket_id = t.ticket_id "
            f"AND e.name = '{name.value}' ORDER BY e.{order} DESC, e.event_key DESC LIMIT 1)")


def _count(name: EventName) -> str:
    return (f"(SELECT count(*) FROM reporting_events e WHERE e.ticket_id = t.ticket_id "
            f"AND e.name = '{name.value}')")


E = EventName
# A ticket's outcome, computed from its events when asked (never stored): resolved when its
# latest resolve is later in the trail than its latest reopen; escalated when it ever reached
# a human; the latest resolution time, first-reply time, rule and rating.
OUTCOME_SQL = (
    "SELECT t.ticket_id, t.customer_id, t.created_at, t.is_demo, t.sentiment_level, "
    "t.escalation_reason, "
    f"coalesce({_latest(E.ESCALATED, 'detail', 'seq')}, t.escalation_rule) AS escalation_rule, "
    f"{_latest(E.RESOLVED, 'seq', 'seq')} AS resolved_seq, "
    f"{_latest(E.REOPENED, 'seq', 'seq')} AS reopened_seq, "
    f"{_latest(E.RESOLVED, 'at', 'seq')} AS resolved_at, "
    f"{_latest(E.RESOLVED, 'value', 'seq')} AS resolution_seconds, "
    f"{_latest(E.FIRST_HUMAN_REPLY, 'value')} AS first_human_reply_seconds, "
    f"{_latest(E.RATED, 'value')} AS score, "
    f"{_count(E.ESCALATED)} AS escalations, {_count(E.AUTO_REPLIED)} AS auto_reply_count, "
    f"{_count(E.HUMAN_REPLIED)} AS human_reply_count FROM tickets t"
)


# ----------------------------------------------------------------------------- the store
class SqlTicketStore:
    """Implements :class:`support_core.ports.TicketStore`; subclasses supply the connection,
    the named lock, the schema and the error translation (the ``_`` hooks below)."""

    ROWID = "rowid"  # a column that orders rows by insertion
    where_label = "database"  # for messages; never contains a password

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._depth = 0

    # ------------------------------------------------------------------------- hooks
    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    @property
    def connection(self) -> Any:
        """The driver connection (sqlite3 or psycopg), for modules adding their own tables."""
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _end(self, commit: bool) -> None:
        raise NotImplementedError

    def _lock(self, name: str) -> None:
        """Hold ``name`` until the current transaction ends."""

    def _translate(self, exc: Exception) -> Exception | None:
        """A typed DeskpilotError for a driver error (disk full, locked), else None."""
        return None

    def _tables_with(self, *columns: str) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------- plumbing
    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:
            typed = self._translate(exc)
            if typed is not None:
                raise typed from exc
            raise

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            return self._guard(lambda: self._query(sql, list(params)))  # type: ignore[no-any-return]

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.lock:
            return self._guard(lambda: self._execute(sql, list(params)))  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Any]:
        """One transaction (nested calls join the outer one) holding the named ``lock``;
        yields the driver connection."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._guard(self._begin)
            self._depth += 1
            try:
                if lock:
                    self._guard(lambda: self._lock(lock))
                yield self.connection
            except BaseException:
                self._depth -= 1
                if outer:
                    self._end(commit=False)
                raise
            self._depth -= 1
            if outer:
                self._guard(lambda: self._end(commit=True))

    def insert_events(self, events: Sequence[dict[str, Any]]) -> None:
        """Append reporting events; one whose key is stored already is skipped (exactly once)."""
        columns = ", ".join(EVENT_COLUMNS)
        marks = "(" + ", ".join("?" for _ in EVENT_COLUMNS) + ")"
        for start in range(0, len(events), 100):
            chunk = events[start:start + 100]
            sql = (f"INSERT INTO reporting_events ({columns}) VALUES "
                   f"{', '.join(marks for _ in chunk)} ON CONFLICT DO NOTHING")
            self._exec(sql, [e[c] for e in chunk for c in EVENT_COLUMNS])

    def prepare_reporting(self) -> None:
        """Create the rating and event tables, and once per database derive the events of
        everything stored before the event log existed (tickets, claims, replies, ratings)."""
        with self.transaction(lock="deskpilot:reporting"):
            for statement in REPORTING_SCHEMA:
                self._exec(statement)
            if self._rows("SELECT name FROM _migrations WHERE name = ?", [BACKFILL_EVENTS]):
                return
            self._backfill_events()
            self._exec("INSERT INTO _migrations (name, applied_at) VALUES (?, ?) "
                       "ON CONFLICT DO NOTHING", [BACKFILL_EVENTS, iso(utcnow())])

    def _backfill_events(self) -> None:
        last = ""
        while True:
            rows = self._rows("SELECT ticket_id, json FROM tickets WHERE ticket_id > ? "
                              "ORDER BY ticket_id LIMIT ?", [last, BACKFILL_PAGE])
            if not rows:
                break
            for row in rows:
                self.insert_events(ticket_events(Ticket.model_validate_json(row["json"])))
            last = rows[-1]["ticket_id"]
        for row in self._rows(f"SELECT {HANDOFF_COLUMNS} FROM handoffs"):
            self.insert_events(handoff_events(handoff_from_row(row)))
        for row in self._rows("SELECT ticket_id, score, at FROM csat WHERE score IS NOT NULL"):
            self.insert_events([rated_event(row["ticket_id"], row["score"],
                                            datetime.fromisoformat(row["at"]))])

    def upsert_row(self, name: str, row: dict[str, Any], pk: str = "ticket_id") -> None:
        """Insert ``row`` or overwrite the row with the same primary key."""
        with self.transaction():
            self._exec(upsert_sql(name, row, pk), list(row.values()))

    # ------------------------------------------------------------------------- tickets
    def save_ticket(self, ticket: Ticket) -> None:
        """Insert or update the ticket (compare-and-set on ``version``: a copy older than the
        stored ticket raises ConcurrentUpdate) and append the transitions not yet stored."""
        with self.transaction(lock=f"ticket:{ticket.ticket_id}"):
            stored = self._rows("SELECT json FROM tickets WHERE ticket_id = ?", [ticket.ticket_id])
            if stored and json.loads(stored[0]["json"]).get("version", 0) != ticket.version:
                raise ConcurrentUpdate(ticket.ticket_id)
            ticket.version += 1
            try:
                row = ticket_row(ticket)
                self._exec(upsert_sql("tickets", row, "ticket_id"), list(row.values()))
                for i, t in enumerate(ticket.transitions):
                    step = transition_row(ticket.ticket_id, i, t)
                    self._exec(insert_sql("transitions", step, "ON CONFLICT DO NOTHING"),
                               list(step.values()))
                self.insert_events(ticket_events(ticket))
            except BaseException:
                ticket.version -= 1
                raise

    def update_ticket(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket:
        """Read the stored ticket, apply ``change`` and save, all under the ticket's lock."""
        with self.transaction(lock=f"ticket:{ticket_id}"):
            ticket = change(self.get_ticket(ticket_id))
            self.save_ticket(ticket)
        return ticket

    def save_changes(self, base: Ticket, mine: Ticket) -> Ticket:
        """Store what ``mine`` changed since it was read as ``base`` on top of whatever others
        stored meanwhile (see ``ticket_merge``); returns the ticket as stored."""
        from support_core.ticket_merge import rebase

        return self.update_ticket(mine.ticket_id, lambda current: rebase(base, mine, current))

    @contextmanager
    def session_lock(self, customer_id: str, session_id: str) -> Iterator[None]:
        """Serialise "find or open this session's ticket and add the message" across threads
        and processes, so two simultaneous messages land on one ticket."""
        with self.transaction(lock=f"session:{customer_id}/{session_id}"):
            yield

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
        cond, params = where({
            "customer_id = ?": customer_id,
            "session_id = ?": session_id,
            "status = ?": TicketStatus(status).value if status else None,
            "created_at >= ?": iso_or_none(since),
            "created_at < ?": iso_or_none(until),
        })
        sql = (f"SELECT json FROM tickets WHERE {cond} "
               f"ORDER BY created_at DESC, {self.ROWID} DESC LIMIT ?")
        return [Ticket.model_validate_json(r["json"]) for r in self._rows(sql, [*params, limit])]

    def customer_ids(self, limit: int = 500) -> list[str]:
        """Customers with tickets, most recently active first."""
        sql = ("SELECT customer_id FROM tickets GROUP BY customer_id "
               "ORDER BY max(updated_at) DESC LIMIT ?")
        return [r["customer_id"] for r in self._rows(sql, [limit])]

    def latest_ticket(self, customer_id: str, session_id: str | None = None) -> Ticket | None:
        """The customer's most recently created ticket (in ``session_id`` when given)."""
        cond, params = where({"customer_id = ?": customer_id, "session_id = ?": session_id})
        sql = (f"SELECT json FROM tickets WHERE {cond} "
               f"ORDER BY created_at DESC, {self.ROWID} DESC LIMIT 1")
        rows = self._rows(sql, params)
        return Ticket.model_validate_json(rows[0]["json"]) if rows else None

    def transitions(self, ticket_id: str) -> list[Transition]:
        rows = self._rows("SELECT * FROM transitions WHERE ticket_id = ? ORDER BY seq", [ticket_id])
        return [transition_from_row(r) for r in rows]

    def stuck_tickets(self, updated_before: datetime) -> list[Ticket]:
        """Tickets still ``created``/``processing`` whose last change is older than the cut."""
        sql = ("SELECT json FROM tickets WHERE status IN ('created', 'processing') "
               f"AND updated_at < ? ORDER BY updated_at, {self.ROWID}")
        return [Ticket.model_validate_json(r["json"])
                for r in self._rows(sql, [iso(updated_before)])]

    def escalated_without_handoff(self) -> list[Ticket]:
        """Escalated tickets no human can see: no handoff that is still open."""
        sql = (
            "SELECT t.json FROM tickets t WHERE t.status = 'escalated' AND NOT EXISTS ("
            "SELECT 1 FROM handoffs h WHERE h.ticket_id = t.ticket_id AND h.status != 'resolved')"
        )
        return [Ticket.model_validate_json(r["json"]) for r in self._rows(sql)]

    # ------------------------------------------------------------------------- handoffs
    def enqueue_handoff(self, pkg: HandoffPackage) -> HandoffPackage:
        """Queue a handoff. Enqueuing the same ``handoff_id`` again keeps the stored one."""
        row = handoff_row(pkg)
        with self.transaction():
            self._exec(insert_sql("handoffs", row, "ON CONFLICT DO NOTHING"), list(row.values()))
        return self.get_handoff(pkg.handoff_id)

    def enqueue_handoff_once(self, pkg: HandoffPackage) -> tuple[HandoffPackage, bool]:
        """Queue ``pkg`` unless its ticket already has an open handoff (two processes
        escalating the same ticket at once); returns (the open handoff, queued now?)."""
        with self.transaction(lock=f"ticket:{pkg.ticket_id}"):
            active = self.active_handoff(pkg.ticket_id)
            if active is not None:
                return active, False
            return self.enqueue_handoff(pkg), True

    def enqueue_claimed(
        self, pkg: HandoffPackage, agent: str, at: datetime | None = None
    ) -> HandoffPackage:
        """Queue ``pkg`` and claim it for ``agent`` in one transaction, so no other agent
        ever sees it queued (a reopened ticket going back to the person who resolved it)."""
        with self.transaction(lock=f"ticket:{pkg.ticket_id}"):
            self.enqueue_handoff(pkg)
            return self.claim(pkg.handoff_id, agent, at)

    def get_handoff(self, handoff_id: str) -> HandoffPackage:
        rows = self._rows(f"SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE handoff_id = ?",
                          [handoff_id])
        if not rows:
            raise NotFound(f"There is no handoff {handoff_id}.")
        return handoff_from_row(rows[0])

    def list_handoffs(
        self,
        queue: Queue | str | None = None,
        status: HandoffStatus | str | None = None,
        claimed_by: str | None = None,
    ) -> list[HandoffPackage]:
        """Most urgent first (critical, high, medium, low), then oldest first."""
        cond, params = where({
            "queue = ?": Queue(queue).value if queue else None,
            "status = ?": HandoffStatus(status).value if status else None,
            "claimed_by = ?": claimed_by,
        })
        order = f"{PRIORITY_RANK_SQL}, created_at, {self.ROWID}"
        sql = f"SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE {cond} ORDER BY {order}"
        return [handoff_from_row(r) for r in self._rows(sql, params)]

    def active_handoff(self, ticket_id: str) -> HandoffPackage | None:
        """The ticket's newest handoff that is not resolved (a human owns or will own it)."""
        return self._newest_handoff(ticket_id, "AND status != 'resolved'")

    def latest_handoff(self, ticket_id: str) -> HandoffPackage | None:
        """The ticket's newest handoff in any status (for outcomes: first-reply time)."""
        return self._newest_handoff(ticket_id, "")

    def _newest_handoff(self, ticket_id: str, condition: str) -> HandoffPackage | None:
        sql = (
            f"SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE ticket_id = ? {condition} "
            f"ORDER BY created_at DESC, {self.ROWID} DESC LIMIT 1"
        )
        rows = self._rows(sql, [ticket_id])
        return handoff_from_row(rows[0]) if rows else None

    def append_handoff_message(
        self, ticket_id: str, message: Message, sentiment: SentimentResult | None = None
    ) -> HandoffPackage | None:
        """Add a message (and, for a customer follow-up, its sentiment) to the ticket's active
        handoff, so the agent sees follow-ups, replies and the sentiment trail in the package.
        Returns it, or None when there is none."""
        active = self.active_handoff(ticket_id)
        if active is None:
            return None
        with self.transaction(lock=f"handoff:{active.handoff_id}"):
            rows = self._rows("SELECT json FROM handoffs WHERE handoff_id = ?",
                              [active.handoff_id])
            pkg = HandoffPackage.model_validate_json(rows[0]["json"])
            pkg.conversation.append(message)
            if sentiment is not None:
                pkg.sentiment_trail.append(sentiment)
            self._exec("UPDATE handoffs SET json = ? WHERE handoff_id = ?",
                       [pkg.model_dump_json(), active.handoff_id])
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

    def _update_handoff(self, sql_set: str, cond: str, params: Sequence[Any]) -> int:
        """One conditional UPDATE of the claim-state columns; returns the rows changed."""
        with self.transaction():
            return self._exec(f"UPDATE handoffs SET {sql_set} WHERE {cond}", params)

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
        with self.transaction():
            changed = self._update_handoff(
                "status = 'claimed', claimed_by = ?, claimed_at = ?",
                "handoff_id = ? AND status = 'queued'", [agent, iso(at or utcnow()), handoff_id],
            )
            current = self.get_handoff(handoff_id)
            if changed:
                self.insert_events([e for e in [claimed_event(current)] if e])
        if changed or (current.status is HandoffStatus.CLAIMED and current.claimed_by == agent):
            return current
        self._refuse(handoff_id, agent, HandoffStatus.CLAIMED.value)

    def release(self, handoff_id: str, agent: str) -> HandoffPackage:
        """Give a claimed handoff back to its queue; only the agent holding it may."""
        changed = self._update_handoff(
            "status = 'queued', claimed_by = NULL, claimed_at = NULL",
            "handoff_id = ? AND status = 'claimed' AND claimed_by = ?", [handoff_id, agent],
        )
        if not changed:
            self._refuse(handoff_id, agent, HandoffStatus.QUEUED.value)
        return self.get_handoff(handoff_id)

    def mark_first_reply(self, handoff_id: str, at: datetime | None = None) -> HandoffPackage:
        """Record the first human reply; later calls keep the first time."""
        with self.transaction():
            changed = self._update_handoff(
                "first_reply_at = ?", "handoff_id = ? AND first_reply_at IS NULL",
                [iso(at or utcnow()), handoff_id],
            )
            current = self.get_handoff(handoff_id)
            if changed:
                self.insert_events([e for e in [first_reply_event(current)] if e])
        return current

    def resolve_handoff(
        self, handoff_id: str, agent: str, at: datetime | None = None
    ) -> HandoffPackage:
        """Close a handoff. A queued one is claimed by ``agent`` in the same step; one claimed
        by someone else raises :class:`AlreadyClaimed`; resolving twice is harmless."""
        when = iso(at or utcnow())
        changed = self._update_handoff(
            "status = 'resolved', resolved_at = ?, claimed_by = coalesce(claimed_by, ?), "
            "claimed_at = coalesce(claimed_at, ?)",
            "handoff_id = ? AND status != 'resolved' AND (claimed_by IS NULL OR claimed_by = ?)",
            [when, agent, when, handoff_id, agent],
        )
        current = self.get_handoff(handoff_id)
        if not changed and current.status is not HandoffStatus.RESOLVED:
            self._refuse(handoff_id, agent, HandoffStatus.RESOLVED.value)
        return current

    # ------------------------------------------------------------------------- spans
    def save_spans(self, ticket_id: str, spans: Sequence[dict[str, Any]]) -> int:
        """Store finished spans (``SpanCollector`` dicts) for a ticket; re-saving is a no-op."""
        rows = [span_row(ticket_id, s) for s in spans]
        with self.transaction():
            for row in rows:
                self._exec(insert_sql("spans", row, "ON CONFLICT DO NOTHING"), list(row.values()))
        return len(rows)

    def spans(self, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's spans, in start order, with ``attributes`` decoded."""
        sql = f'SELECT * FROM spans WHERE ticket_id = ? ORDER BY start, {self.ROWID}'
        rows = self._rows(sql, [ticket_id])
        return [{k: v for k, v in r.items() if k != "rid"}
                | {"attributes": json.loads(r["attributes"] or "{}")} for r in rows]

    # ------------------------------------------------------------------------- reporting
    def events(
        self, ticket_id: str | None = None, name: EventName | str | None = None
    ) -> list[dict[str, Any]]:
        """The reporting events (of one ticket, of one kind), oldest first."""
        cond, params = where({"ticket_id = ?": ticket_id,
                              "name = ?": EventName(name).value if name else None})
        sql = f"SELECT * FROM reporting_events WHERE {cond} ORDER BY at, seq, event_key"
        return self._rows(sql, params)

    def event_counts(
        self, since: datetime | None, until: datetime | None, include_demo: bool
    ) -> dict[str, int]:
        """How many events of each kind the tickets created in the window have."""
        cond, params = window("t.", since, until, include_demo)
        sql = ("SELECT e.name, count(*) AS n FROM reporting_events e JOIN tickets t "
               f"ON t.ticket_id = e.ticket_id WHERE {cond} GROUP BY e.name")
        return {r["name"]: int(r["n"]) for r in self._rows(sql, params)}

    def record_rating_row(self, row: dict[str, Any]) -> None:
        """The ticket's rating (a re-rating replaces it) and a ``rated`` event, together."""
        with self.transaction(lock=f"ticket:{row['ticket_id']}"):
            self.upsert_row("csat", row)
            self.insert_events([rated_event(row["ticket_id"], row["score"],
                                            datetime.fromisoformat(row["at"]))])

    def rating_row(self, ticket_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM csat WHERE ticket_id = ?", [ticket_id])
        return rows[0] if rows else None

    def ratings(self, ticket_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Ratings of many tickets in one query (no N+1 on the metrics page)."""
        if not ticket_ids:
            return {}
        marks = ", ".join("?" for _ in ticket_ids)
        rows = self._rows(f"SELECT * FROM csat WHERE ticket_id IN ({marks})", list(ticket_ids))
        return {r["ticket_id"]: r for r in rows}

    def rated_tickets(
        self, since: datetime, until: datetime, include_demo: bool, limit: int
    ) -> list[dict[str, Any]]:
        """Newest tickets created in [since, until) with their rating, in one query; demo
        tickets are filtered before the limit, not after."""
        sql = (
            "SELECT t.ticket_id, t.customer_id, t.status, t.subject, t.created_at, t.escalated, "
            "t.is_demo, c.score FROM tickets t LEFT JOIN csat c ON c.ticket_id = t.ticket_id "
            "WHERE t.created_at >= ? AND t.created_at < ? AND (? = 1 OR t.is_demo = 0) "
            "ORDER BY t.created_at DESC LIMIT ?"
        )
        return self._rows(sql, [iso(since), iso(until), int(include_demo), limit])

    def knows_ticket(self, ticket_id: str) -> bool:
        return bool(self._rows("SELECT 1 AS x FROM tickets WHERE ticket_id = ?", [ticket_id]))

    def outcome_rows(
        self, since: datetime | None, until: datetime | None, include_demo: bool,
        ticket_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """One row per ticket created in the window (or just ``ticket_id``), oldest first:
        the ticket's columns plus what its reporting events say (see :data:`OUTCOME_SQL`)."""
        cond, params = window("t.", since, until, include_demo)
        if ticket_id is not None:
            cond, params = f"{cond} AND t.ticket_id = ?", [*params, ticket_id]
        return self._rows(f"{OUTCOME_SQL} WHERE {cond} ORDER BY t.created_at, t.ticket_id", params)

    def trails(
        self, since: datetime | None, until: datetime | None, include_demo: bool
    ) -> dict[str, list[Transition]]:
        """Audit trails of the tickets created in the window."""
        cond, params = window("t.", since, until, include_demo)
        sql = (
            "SELECT tr.* FROM transitions tr JOIN tickets t ON t.ticket_id = tr.ticket_id "
            f"WHERE {cond} ORDER BY tr.ticket_id, tr.seq"
        )
        trails: dict[str, list[Transition]] = {}
        for r in self._rows(sql, params):
            trails.setdefault(r["ticket_id"], []).append(transition_from_row(r))
        return trails

    # ------------------------------------------------------------------------- demo data
    def delete_demo_data(self) -> dict[str, int]:
        """Delete every demo ticket and everything keyed by its id, in any table.

        Generic on purpose: any table with a ``ticket_id`` column (handoffs, transitions,
        spans, outcomes, csat, ...) loses the demo tickets' rows, and any table with an
        ``is_demo`` column loses its demo rows. Returns rows deleted per table.
        """
        with self.transaction():
            ids: set[str] = set()
            for name in self._tables_with("is_demo", "ticket_id"):
                found = self._rows(f'SELECT ticket_id FROM "{name}" WHERE is_demo = 1')
                ids |= {r["ticket_id"] for r in found}
            flagged = set(self._tables_with("is_demo"))
            return {name: self._delete_demo_rows(name, sorted(ids), name in flagged)
                    for name in self._tables_with("ticket_id")}

    def _delete_demo_rows(self, name: str, ids: list[str], flagged: bool) -> int:
        deleted = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            deleted += self._exec(f'DELETE FROM "{name}" WHERE ticket_id IN ({marks})', chunk)
        if flagged:
            deleted += self._exec(f'DELETE FROM "{name}" WHERE is_demo = 1')
        return deleted
