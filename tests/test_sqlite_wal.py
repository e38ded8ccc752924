"""Several processes opening the same new SQLite file at once.

CI once failed on this: four app processes opened a fresh ``memory.db`` together and one
got "database is locked" from the WAL switch, which ``busy_timeout`` does not cover. The
process race below opens every SQLite store of a desk (memory, tickets, embedding cache)
from several processes released at the same instant, many times over.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from support_core.adapters.sqlite_wal import is_lock_error, retry_while_locked

pytestmark = pytest.mark.timeout(240)
PROCESSES = 4
TRIALS = 20


class Flaky:
    """Raises ``error`` for the first ``failures`` calls, then returns "done"."""

    def __init__(self, failures: int, error: str = "database is locked") -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise sqlite3.OperationalError(self.error)
        return "done"


def test_a_lock_error_is_retried_until_the_action_succeeds() -> None:
    action = Flaky(3)
    assert retry_while_locked(action, timeout=5, sleep=lambda s: None) == "done"
    assert action.calls == 4


def test_other_errors_are_not_retried() -> None:
    action = Flaky(1, error="no such table: x")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_while_locked(action, timeout=5, sleep=lambda s: None)
    assert action.calls == 1


def test_the_lock_error_is_raised_once_the_timeout_is_used_up() -> None:
    action = Flaky(10**9)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        retry_while_locked(action, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2
    assert action.calls > 1


def test_lock_errors_are_told_apart() -> None:
    assert is_lock_error(sqlite3.OperationalError("database is locked"))
    assert is_lock_error(sqlite3.OperationalError("database table is busy"))
    assert not is_lock_error(sqlite3.OperationalError("disk I/O error"))
    assert not is_lock_error(ValueError("locked"))


def open_store(store: str, folder: str, start_at: float) -> str:
    """Wait for ``start_at``, open one of the desk's SQLite stores in ``folder``; return ""
    or the error."""
    from support_core.adapters.embedding_cache import CachedEmbedder
    from support_core.adapters.memory_sqlite import SQLiteMemory
    from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore

    while time.time() < start_at:
        pass
    try:
        if store == "memory":
            SQLiteMemory(Path(folder) / "memory.db", 7200, 90, 500).close()
        elif store == "tickets":
            SQLiteTicketStore(Path(folder) / "tickets.db").close()
        else:
            CachedEmbedder(SimpleNamespace(name="unused"), Path(folder) / "embeddings.db")  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - reported to the parent, asserted there
        return f"{store}: {type(exc).__name__}: {exc}"
    return ""


@pytest.mark.parametrize("store", ["memory", "tickets", "embeddings"])
def test_processes_opening_a_new_store_file_together_all_succeed(
    store: str, tmp_path: Path
) -> None:
    """Before the retry about one open in ten failed here, on every one of the three stores."""
    ctx = multiprocessing.get_context("spawn")
    failures: list[str] = []
    with ctx.Pool(PROCESSES) as pool:
        pool.starmap(open_store, [(store, str(tmp_path / "warm"), 0.0)] * PROCESSES)  # imports
        for trial in range(TRIALS):
            start_at = time.time() + 0.15
            jobs = [(store, str(tmp_path / f"t{trial}"), start_at)] * PROCESSES
            failures += [r for r in pool.starmap(open_store, jobs) if r]
    assert failures == []
