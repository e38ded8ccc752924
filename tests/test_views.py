"""The read side: the metrics ticket table filters demo rows before its limit, with ratings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from support_core import views as views_module
from support_core.models import Ticket, TicketStatus, utcnow
from tests.conftest import make_settings
from tests.desk_helpers import PASSWORD, desk_service


def test_ticket_table_filters_demo_before_the_limit_and_joins_ratings(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    svc = desk_service(make_settings(tmp_path / "data"))
    manager = svc.users.principal(svc.users.add("max", "manager", PASSWORD).name)
    now = utcnow()
    real = Ticket(customer_id="real", session_id="s", status=TicketStatus.RESOLVED,
                  created_at=now - timedelta(hours=5))  # fmt: skip
    svc.store.save_ticket(real)
    svc.outcomes.rate(real.ticket_id, 5)
    for i in range(3):  # newer demo tickets that would fill a small LIMIT first
        svc.store.save_ticket(Ticket(customer_id=f"demo-{i}", session_id="s", is_demo=True,
                                     created_at=now - timedelta(hours=1)))  # fmt: skip
    monkeypatch.setattr(views_module, "TICKET_TABLE_LIMIT", 2)
    since, until = now - timedelta(days=1), now + timedelta(minutes=1)
    rows = svc.views.metrics(manager, since, until, include_demo=False).tickets
    assert [(r["customer"], r["rating"]) for r in rows] == [("real", "5 / 5")]
    with_demo = svc.views.ticket_table(since, until, include_demo=True)
    assert len(with_demo) == 2 and all(r["rating"] == "not rated" for r in with_demo)
