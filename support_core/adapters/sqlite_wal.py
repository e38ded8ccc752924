"""Setting up a SQLite file that several processes may open at the same moment.

Turning a new file into WAL mode needs an exclusive lock. When two connections both hold
the shared lock and ask for it, SQLite answers the second "database is locked" at once
instead of calling its busy handler (waiting could deadlock), so ``busy_timeout`` does
not cover this one moment. Before this module, four processes opening a fresh file
together failed about one open in ten, for the memory, ticket and embedding-cache files
alike (``tests/test_sqlite_wal.py``), and CI failed on it once. The setup is
idempotent (``journal_mode = WAL`` and ``CREATE ... IF NOT EXISTS``), so retrying it
until the busy timeout is used up is safe.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def is_lock_error(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "database is busy" errors."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and ("locked" in text or "busy" in text)


def retry_while_locked(
    action: Callable[[], T], timeout: float, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``action``, again after a short random pause whenever it fails on a lock, for at
    most ``timeout`` seconds; the last lock error is raised when the time is up."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_lock_error(exc) or time.monotonic() >= deadline:
                raise
        sleep(pause * (1 + random.random()))  # noqa: S311 - jitter, not security
        pause = min(pause * 2, 0.2)


def enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put ``conn``'s file in WAL mode, waiting out other processes doing the same."""
    retry_while_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone(), timeout)
