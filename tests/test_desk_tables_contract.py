"""Staff users, sessions, macros and the audit log on the ticket store's database, on SQLite
and PostgreSQL alike: what one app process writes, another (a second store on the same
database) reads; and an older per-instance ``desk.db`` is imported once, nothing lost."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from support_core.access import Principal, StaffRole
from support_core.auth import UserStore
from support_core.desk_import import import_desk_db
from support_core.desk_records import DeskEvent, DeskRecords
from support_core.errors import InputError, NotFound, SignInRequired, SignInThrottled
from support_core.models import utcnow
from tests.desk_helpers import PASSWORD
from tests.store_backends import Opener


def users_on(open_store: Opener) -> UserStore:
    return UserStore(open_store(), max_failures=2, backoff_seconds=30)


def test_users_and_sessions_are_shared_between_processes(open_store: Opener) -> None:
    here, there = users_on(open_store), users_on(open_store)
    here.add("ana", "agent", PASSWORD)
    with pytest.raises(InputError, match="already a user"):
        there.add("ana", "manager", PASSWORD)
    assert there.authenticate("ana", PASSWORD) == Principal("ana", StaffRole.AGENT)
    token = here.start_session(Principal("ana", StaffRole.AGENT))
    assert there.resume(token).name == "ana"
    there.disable("ana")
    with pytest.raises(SignInRequired):
        here.resume(token)
    assert [u.active for u in here.list()] == [False]


def test_failed_sign_ins_count_across_processes(open_store: Opener) -> None:
    here, there = users_on(open_store), users_on(open_store)
    here.add("ana", "agent", PASSWORD)
    now = utcnow()
    for users in (here, there):  # one failure in each process: two in all
        with pytest.raises(SignInRequired):
            users.authenticate("ana", "wrong-guess", now=now)
    with pytest.raises(SignInThrottled):
        here.authenticate("ana", PASSWORD, now=now + timedelta(seconds=1))
    assert there.authenticate("ana", PASSWORD, now=now + timedelta(seconds=31)).name == "ana"


def test_only_one_first_admin_when_two_processes_race(open_store: Opener) -> None:
    stores = [users_on(open_store) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    won: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            won.append(stores[i].create_first_admin(f"admin-{i}", PASSWORD).name)
        except InputError:
            pass

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and [u.name for u in stores[0].list()] == won


def test_macros_and_the_audit_log_are_shared(open_store: Opener) -> None:
    here, there = DeskRecords(open_store()), DeskRecords(open_store())
    here.save_macro("refund", "Hello {customer_name}, your refund is on its way.", by="max")
    there.save_macro("refund", "Hi {customer_name}, the refund is on its way.", by="ana")
    assert [(m.name, m.updated_by) for m in here.macros()] == [("refund", "ana")]
    here.delete_macro("refund")
    with pytest.raises(NotFound):
        there.macro("refund")
    t0 = utcnow()
    here.record(DeskEvent(handoff_id="h1", ticket_id="t1", kind="claim", actor="ana", at=t0))
    there.record(DeskEvent(handoff_id="h1", ticket_id="t1", kind="note", actor="bo",
                           at=t0 + timedelta(seconds=1), detail={"text": "ça va"}))
    assert [(e.kind, e.actor) for e in here.events(handoff_id="h1")] == [
        ("claim", "ana"), ("note", "bo")]
    assert there.events(kind="note")[0].detail == {"text": "ça va"}


def test_an_event_with_a_once_key_is_recorded_once_under_races(open_store: Opener) -> None:
    records = [DeskRecords(open_store()) for _ in range(4)]
    barrier = threading.Barrier(len(records))
    results: list[bool] = []

    def breach(i: int) -> None:
        barrier.wait()
        event = DeskEvent(handoff_id="h1", ticket_id="t1", kind="sla_breach", actor="sla")
        results.append(records[i].record(event, once_key="h1:first_response"))

    threads = [threading.Thread(target=breach, args=(i,)) for i in range(len(records))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [False, False, False, True]
    assert records[0].priority_bumps() == {"h1": 1}


def old_desk_db(path: Path) -> None:
    """A desk.db as the previous version wrote it (sqlite-utils tables, integer event ids)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript("""
            CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT);
            CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT,
                active INTEGER NOT NULL, created_at TEXT NOT NULL, disabled_at TEXT);
            CREATE TABLE sign_in_failures (name TEXT PRIMARY KEY, failures INTEGER, last_at TEXT);
            CREATE TABLE staff_sessions (token TEXT PRIMARY KEY, name TEXT, created_at TEXT,
                last_seen TEXT);
            CREATE TABLE desk_events (event_id INTEGER PRIMARY KEY, handoff_id TEXT NOT NULL,
                ticket_id TEXT, kind TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL,
                detail TEXT, once_key TEXT);
            CREATE TABLE macros (name TEXT PRIMARY KEY, text TEXT, updated_by TEXT,
                updated_at TEXT);
        """)
    conn.close()


def test_an_old_desk_db_is_imported_once(open_store: Opener, tmp_path: Path) -> None:
    legacy = tmp_path / "desk.db"
    old_desk_db(legacy)
    at = utcnow().isoformat()
    conn = sqlite3.connect(legacy)
    with conn:
        conn.execute("INSERT INTO users VALUES ('ana', 'agent', ?, 1, ?, NULL)",
                     [PasswordHasher().hash(PASSWORD), at])
        conn.execute("INSERT INTO macros VALUES ('hello', 'Hello {customer_name}', 'max', ?)",
                     [at])
        conn.executemany("INSERT INTO desk_events (handoff_id, ticket_id, kind, actor, at, "
                         "detail, once_key) VALUES ('h1', 't1', 'reply', 'ana', ?, '{}', NULL)",
                         [[at]] * 3)
    conn.close()

    store = open_store()
    users, records = UserStore(store), DeskRecords(store)
    added = import_desk_db(legacy, records.db)
    assert added == {"users": 1, "sign_in_failures": 0, "staff_sessions": 0, "macros": 1,
                     "desk_events": 3}
    assert users.authenticate("ana", PASSWORD).name == "ana"
    assert [m.name for m in records.macros()] == ["hello"]
    assert len(records.events(handoff_id="h1")) == 3
    assert import_desk_db(legacy, records.db) == {}  # marked: not imported again
    assert len(DeskRecords(open_store()).events(handoff_id="h1")) == 3
