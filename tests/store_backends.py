"""The ``open_store`` fixture: every contract test runs on SQLite and on a fresh PostgreSQL
database (127.0.0.1:5432, created per test and dropped after; the tests fail, never skip,
when the server is missing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support_core.adapters.ticket_store_postgres import PostgresTicketStore
from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore
from support_core.ports import TicketStore
from support_core.testing.postgres import fresh_database

Opener = Callable[[], TicketStore]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens another store on the same database (another Streamlit process, say)."""
    opened: list[TicketStore] = []

    def make(factory: Callable[[], TicketStore]) -> Opener:
        def opener() -> TicketStore:
            opened.append(factory())
            return opened[-1]
        return opener

    if request.param == "sqlite":
        yield make(lambda: SQLiteTicketStore(tmp_path / "deskpilot.db"))
    else:
        with fresh_database() as url:
            yield make(lambda: PostgresTicketStore(url))
            for store in opened:
                store.close()
            return
    for store in opened:
        store.close()
