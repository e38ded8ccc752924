"""Compatibility home of the ticket store: the SQLite adapter and its helpers, re-exported.

The store's interface is :class:`support_core.ports.TicketStore`; the adapters live in
``support_core/adapters/`` (``ticket_store_sqlite``, ``ticket_store_postgres``) and
``wiring.build_store`` picks one. ``TicketStore(path)`` here is the SQLite adapter, so code
and tests that open a file directly keep working.
"""

from __future__ import annotations

from support_core.adapters.ticket_store_sql import (
    PRIORITY_RANK_SQL,
    SqlTicketStore,
    iso,
    iso_or_none,
    transition_from_row,
)
from support_core.adapters.ticket_store_sqlite import (
    MIGRATIONS,
    Migration,
    SQLiteTicketStore,
    apply_migrations,
    open_database,
    table,
)

TicketStore = SQLiteTicketStore

__all__ = [
    "MIGRATIONS", "PRIORITY_RANK_SQL", "Migration", "SQLiteTicketStore", "SqlTicketStore",
    "TicketStore", "apply_migrations", "iso", "iso_or_none", "open_database", "table",
    "transition_from_row",
]
