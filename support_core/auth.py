"""Staff accounts, password sign-in and idle-expiring sessions, in ``<data dir>/desk.db``.

Why it looks like this:

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
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel
from sqlite_utils import Database

from support_core.access import Principal, StaffRole
from support_core.errors import InputError, NotFound, SignInRequired, SignInThrottled
from support_core.models import utcnow
from support_core.store import Migration, apply_migrations, iso, open_database, table
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


def _schema(db: Database) -> None:
    table(db, "users").create(
        {"name": str, "role": str, "password_hash": str, "active": int, "created_at": str,
         "disabled_at": str},
        pk="name", not_null={"role", "active", "created_at"}, if_not_exists=True,
    )  # fmt: skip
    table(db, "sign_in_failures").create(
        {"name": str, "failures": int, "last_at": str}, pk="name", if_not_exists=True
    )
    table(db, "staff_sessions").create(
        {"token": str, "name": str, "created_at": str, "last_seen": str},
        pk="token", if_not_exists=True,
    )


MIGRATIONS: list[Migration] = [("auth_0001_users_sessions", _schema)]


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
    def __init__(
        self,
        path: str | Path,
        idle_minutes: float = 30.0,
        max_failures: int = 5,
        backoff_seconds: float = 30.0,
    ) -> None:
        self.db = open_database(path)
        apply_migrations(self.db, MIGRATIONS)
        self.idle = timedelta(minutes=idle_minutes)
        self.max_failures = max_failures
        self.backoff_seconds = backoff_seconds
        self._hasher = PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------ users
    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def has_users(self) -> bool:
        return bool(self._rows("SELECT 1 FROM users LIMIT 1"))

    def add(self, name: str, role: StaffRole | str, password: str | None) -> UserInfo:
        """A new user; ``password=None`` makes an account that cannot sign in."""
        name, role = clean_agent_name(name), parse_role(role)
        hashed = self._hasher.hash(clean_password(password)) if password is not None else None
        with self.db.conn:
            cur = self.db.conn.execute(
                "INSERT OR IGNORE INTO users (name, role, password_hash, active, created_at) "
                "VALUES (?, ?, ?, 1, ?)",
                [name, role.value, hashed, iso(utcnow())],
            )
        if cur.rowcount == 0:
            raise InputError(f"There is already a user named {name}.")
        return self.get(name)

    def create_first_admin(self, name: str, password: str) -> UserInfo:
        """The first user of a fresh desk; refused once any user exists (one atomic insert)."""
        name, hashed = clean_agent_name(name), self._hasher.hash(clean_password(password))
        with self.db.conn:
            cur = self.db.conn.execute(
                "INSERT INTO users (name, role, password_hash, active, created_at) "
                "SELECT ?, 'admin', ?, 1, ? WHERE NOT EXISTS (SELECT 1 FROM users)",
                [name, hashed, iso(utcnow())],
            )
        if cur.rowcount == 0:
            raise InputError("This desk already has users; ask an admin to add you.")
        return self.get(name)

    def ensure_account(self, name: str, role: StaffRole) -> Principal:
        """An account that cannot sign in (e.g. the demo data's agent), created if missing."""
        name = clean_agent_name(name)
        with self.db.conn:
            self.db.conn.execute(
                "INSERT OR IGNORE INTO users (name, role, password_hash, active, created_at) "
                "VALUES (?, ?, NULL, 1, ?)",
                [name, role.value, iso(utcnow())],
            )
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
        with self.db.conn:
            self.db.conn.execute(
                "UPDATE users SET active = 0, disabled_at = ? WHERE name = ?",
                [iso(utcnow()), name],
            )
            self.db.conn.execute("DELETE FROM staff_sessions WHERE name = ?", [name])
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
        with self.db.conn:
            self.db.conn.execute("DELETE FROM sign_in_failures WHERE name = ?", [name])
            if self._hasher.check_needs_rehash(stored or ""):
                self.db.conn.execute(
                    "UPDATE users SET password_hash = ? WHERE name = ?",
                    [self._hasher.hash(password), name],
                )
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
        with self.db.conn:
            self.db.conn.execute(
                "INSERT INTO sign_in_failures (name, failures, last_at) VALUES (?, 1, ?) "
                "ON CONFLICT(name) DO UPDATE SET failures = failures + 1, "
                "last_at = excluded.last_at",
                [name, iso(now)],
            )

    # ------------------------------------------------------------------ sessions
    def start_session(self, principal: Principal, now: datetime | None = None) -> str:
        token = secrets.token_urlsafe(32)
        at = iso(now or utcnow())
        with self.db.conn:
            self.db.conn.execute(
                "INSERT INTO staff_sessions (token, name, created_at, last_seen) "
                "VALUES (?, ?, ?, ?)",
                [token, principal.name, at, at],
            )
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
        with self.db.conn:
            self.db.conn.execute(
                "UPDATE staff_sessions SET last_seen = ? WHERE token = ?", [iso(now), token]
            )
        return Principal(rows[0]["name"], StaffRole(rows[0]["role"]))

    def end_session(self, token: str) -> None:
        with self.db.conn:
            self.db.conn.execute("DELETE FROM staff_sessions WHERE token = ?", [token])


def _info(row: dict[str, Any]) -> UserInfo:
    return UserInfo(
        name=row["name"],
        role=StaffRole(row["role"]),
        active=bool(row["active"]),
        can_sign_in=bool(row["password_hash"]) and bool(row["active"]),
        created_at=datetime.fromisoformat(row["created_at"]),
    )
