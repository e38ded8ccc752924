"""Staff accounts, password sign-in and idle-expiring sessions, on the ticket store's database.

Why it looks like this:

* The tables live beside the tickets (SQLite file or ``SUPPORT_DATABASE_URL``), in plain SQL
  both backends run, so app processes on different hosts share one set of users, failure
  counts and sessions. An older ``desk.db`` is imported once (``desk_import``).

* Passwords are kept only as argon2id hashes (``argon2-cffi``'s ``PasswordHasher``, a
  memory-hard function); an unknown name is verified against a dummy hash so both failures
  take the same time and say the same words.
* Failed sign-ins are counted per name *in the database*, so a restart or a second
  process does not reset them. After ``auth_max_failures`` failures each further try must
  wait ``auth_backoff_seconds * 2**(extra failures)`` (capped at one hour); a success
  resets the counter.
* A session is a random token whose ``last_seen`` moves on every use; one unused for longer
  than ``auth_idle_minutes`` is expired. Resuming re-reads the user, so disabling a user or
  changing their role takes effect on their next page load.
* Accounts without a password (``password_hash`` NULL) cannot sign in: the demo data's
  agent is one.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel

from support_core.access import Principal, StaffRole
from support_core.adapters.ticket_store_sql import SqlTicketStore, iso
from support_core.errors import InputError, NotFound, SignInRequired, SignInThrottled
from support_core.models import utcnow
from support_core.ports import TicketStore
from support_core.validation import clean_agent_name

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_BACKOFF_SECONDS = 3600.0


class UserInfo(BaseModel):
    """What may be shown about a user (never the hash)."""

    name: str
    role: StaffRole
    active: bool
    can_sign_in: bool
    created_at: datetime


SCHEMA = [
    """CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT, active INTEGER NOT NULL,
        created_at TEXT NOT NULL, disabled_at TEXT)""",
    """CREATE TABLE IF NOT EXISTS sign_in_failures (
        name TEXT PRIMARY KEY, failures INTEGER, last_at TEXT)""",
    """CREATE TABLE IF NOT EXISTS staff_sessions (
        token TEXT PRIMARY KEY, name TEXT, created_at TEXT, last_seen TEXT)""",
]


def sql_store(store: TicketStore | str | Path) -> SqlTicketStore:
    """The SQL ticket store to keep a module's tables on (a path opens the SQLite one; a
    masking decorator is looked through: these tables hold no customer text, or mask their
    own through it, see ``DeskRecords``)."""
    from support_core.adapters.redacting_store import RedactingTicketStore

    if isinstance(store, RedactingTicketStore):
        store = store.inner
    if isinstance(store, str | Path):
        from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore

        return SQLiteTicketStore(store)
    if not isinstance(store, SqlTicketStore):
        raise TypeError(f"{type(store).__name__} keeps no SQL tables")
    return store


def clean_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"A password may have at most {MAX_PASSWORD_CHARS} characters.")
    return password


def parse_role(value: object) -> StaffRole:
    try:
        return StaffRole(str(value).strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in StaffRole)
        raise InputError(f"Unknown role {value!r}; use one of {roles}.") from None


class UserStore:
    """Users, failure counts and sessions on the ticket store's database (SQLite or
    PostgreSQL); a path opens a SQLite ticket store on that file."""

    def __init__(
        self,
        store: TicketStore | str | Path,
        idle_minutes: float = 30.0,
        max_failures: int = 5,
        backoff_seconds: float = 30.0,
    ) -> None:
        self.db = sql_store(store)
        with self.db.transaction(lock="auth:schema"):
            for statement in SCHEMA:
                self.db._exec(statement)
        self.idle = timedelta(minutes=idle_minutes)
        self.max_failures = max_failures
        self.backoff_seconds = backoff_seconds
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------ users
    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self.db._rows(sql, params)

    def _write(self, *statements: tuple[str, list[Any]], lock: str | None = None) -> int:
        """Run the statements in one transaction; returns the first one's changed rows."""
        with self.db.transaction(lock=lock):
            counts = [self.db._exec(sql, params) for sql, params in statements]
        return counts[0]

    def has_users(self) -> bool:
        return bool(self._rows("SELECT 1 FROM users LIMIT 1"))

    def add(self, name: str, role: StaffRole | str, password: str | None) -> UserInfo:
        """A new user; ``password=None`` makes an account that cannot sign in."""
        name, role = clean_agent_name(name), parse_role(role)
        hashed = self._hasher.hash(clean_password(password)) if password is not None else None
        added = self._write((
            "INSERT INTO users (name, role, password_hash, active, created_at) "
            "VALUES (?, ?, ?, 1, ?) ON CONFLICT DO NOTHING",
            [name, role.value, hashed, iso(utcnow())],
        ))
        if added == 0:
            raise InputError(f"There is already a user named {name}.")
        return self.get(name)

    def create_first_admin(self, name: str, password: str) -> UserInfo:
        """The first user of a fresh desk; refused once any user exists (one atomic insert)."""
        name, hashed = clean_agent_name(name), self._hasher.hash(clean_password(password))
        added = self._write((  # the lock: two first admins at once on PostgreSQL, one wins
            "INSERT INTO users (name, role, password_hash, active, created_at) "
            "SELECT ?, 'admin', ?, 1, ? WHERE NOT EXISTS (SELECT 1 FROM users)",
            [name, hashed, iso(utcnow())],
        ), lock="auth:first-admin")
        if added == 0:
            raise InputError("This desk already has users; ask an admin to add you.")
        return self.get(name)

    def ensure_account(self, name: str, role: StaffRole) -> Principal:
        """An account that cannot sign in (e.g. the demo data's agent), created if missing."""
        name = clean_agent_name(name)
        self._write((
            "INSERT INTO users (name, role, password_hash, active, created_at) "
            "VALUES (?, ?, NULL, 1, ?) ON CONFLICT DO NOTHING",
            [name, role.value, iso(utcnow())],
        ))
        return self.principal(name)

    def get(self, name: str) -> UserInfo:
        rows = self._rows("SELECT * FROM users WHERE name = ?", [name])
        if not rows:
            raise NotFound(f"There is no user named {name}.")
        return _info(rows[0])

    def list(self) -> list[UserInfo]:
        return [_info(r) for r in self._rows("SELECT * FROM users ORDER BY name")]

    def disable(self, name: str) -> UserInfo:
        name = clean_agent_name(name)
        self.get(name)
        self._write(
            ("UPDATE users SET active = 0, disabled_at = ? WHERE name = ?", [iso(utcnow()), name]),
            ("DELETE FROM staff_sessions WHERE name = ?", [name]),
        )
        return self.get(name)

    def principal(self, name: str) -> Principal:
        """The active user called ``name`` (how the CLI's ``--agent`` is checked)."""
        rows = self._rows("SELECT * FROM users WHERE name = ? AND active = 1", [name.strip()])
        if not rows:
            raise SignInRequired(
                f"There is no active user named {name.strip()!r}. An admin adds one with: "
                f"deskpilot users add NAME --role agent --password-stdin"
            )
        return Principal(rows[0]["name"], StaffRole(rows[0]["role"]))

    # ------------------------------------------------------------------ sign-in
    def authenticate(self, name: str, password: str, now: datetime | None = None) -> Principal:
        """Check a password, slowing down repeated failures; the same words for every failure."""
        now = now or utcnow()
        name = " ".join(str(name).split())
        self._check_throttle(name, now)
        rows = self._rows("SELECT * FROM users WHERE name = ? AND active = 1", [name])
        stored = rows[0]["password_hash"] if rows else None
        try:
            self._hasher.verify(stored or self._dummy_hash, password)
            ok = stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok:
            self._record_failure(name, now)
            raise SignInRequired("Wrong name or password.")
        statements = [("DELETE FROM sign_in_failures WHERE name = ?", [name])]
        if self._hasher.check_needs_rehash(cast(str, stored)):
            statements.append(("UPDATE users SET password_hash = ? WHERE name = ?",
                               [self._hasher.hash(password), name]))
        self._write(*statements)
        return Principal(rows[0]["name"], StaffRole(rows[0]["role"]))

    def _check_throttle(self, name: str, now: datetime) -> None:
        rows = self._rows("SELECT * FROM sign_in_failures WHERE name = ?", [name])
        if not rows or rows[0]["failures"] < self.max_failures:
            return
        extra = rows[0]["failures"] - self.max_failures
        wait = min(self.backoff_seconds * 2**extra, MAX_BACKOFF_SECONDS)
        ready = datetime.fromisoformat(rows[0]["last_at"]) + timedelta(seconds=wait)
        if now < ready:
            left = (ready - now).total_seconds()
            raise SignInThrottled(
                f"Too many failed sign-ins for {name}; try again in {int(left) + 1} s.", left
            )

    def _record_failure(self, name: str, now: datetime) -> None:
        self._write((
            "INSERT INTO sign_in_failures (name, failures, last_at) VALUES (?, 1, ?) "
            "ON CONFLICT(name) DO UPDATE SET failures = sign_in_failures.failures + 1, "
            "last_at = excluded.last_at",
            [name, iso(now)],
        ))

    # ------------------------------------------------------------------ sessions
    def start_session(self, principal: Principal, now: datetime | None = None) -> str:
        token = secrets.token_urlsafe(32)
        at = iso(now or utcnow())
        self._write((
            "INSERT INTO staff_sessions (token, name, created_at, last_seen) VALUES (?, ?, ?, ?)",
            [token, principal.name, at, at],
        ))
        return token

    def resume(self, token: str, now: datetime | None = None) -> Principal:
        """The session's user, if it was used within the idle time; its clock moves on."""
        now = now or utcnow()
        rows = self._rows(
            "SELECT s.last_seen, u.name, u.role FROM staff_sessions s "
            "JOIN users u ON u.name = s.name AND u.active = 1 WHERE s.token = ?",
            [token],
        )
        if not rows or datetime.fromisoformat(rows[0]["last_seen"]) + self.idle < now:
            self.end_session(token)
            raise SignInRequired("Your session has expired; please sign in again.")
        self._write(("UPDATE staff_sessions SET last_seen = ? WHERE token = ?", [iso(now), token]))
        return Principal(rows[0]["name"], StaffRole(rows[0]["role"]))

    def end_session(self, token: str) -> None:
        self._write(("DELETE FROM staff_sessions WHERE token = ?", [token]))


def _info(row: dict[str, Any]) -> UserInfo:
    return UserInfo(
        name=row["name"],
        role=StaffRole(row["role"]),
        active=bool(row["active"]),
        can_sign_in=bool(row["password_hash"]) and bool(row["active"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )
