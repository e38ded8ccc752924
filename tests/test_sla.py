"""SLA clocks: due times per priority, breaches recorded once, priority raised, order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from support_core import sla
from support_core.models import Priority, utcnow
from support_core.views import InboxView
from tests.conftest import make_settings
from tests.desk_helpers import PASSWORD, desk_service, escalate


@pytest.fixture
def svc(tmp_path: Path):  # type: ignore[no-untyped-def]
    service = desk_service(make_settings(tmp_path / "data"))
    service.users.add("ana", "agent", PASSWORD)
    return service


def test_due_times_follow_the_priority_targets(svc) -> None:
    now = utcnow()
    h = escalate(svc, priority=Priority.CRITICAL, created_at=now - timedelta(minutes=5))
    s = sla.status(svc.settings, h, now=now)
    assert s.first_response_due == h.created_at + timedelta(minutes=15)
    assert s.resolution_due == h.created_at + timedelta(hours=4)
    assert (s.first_response, s.breached) == (sla.ClockState.RUNNING, False)
    assert 590 <= (s.seconds_left or 0) <= 600
    late = sla.status(svc.settings, h, now=now + timedelta(minutes=8))  # 2 of 15 min left
    assert late.at_risk and not late.breached
    over = sla.status(svc.settings, h, now=now + timedelta(minutes=11))
    assert over.breached and over.first_response is sla.ClockState.BREACHED


def test_settings_change_the_targets(tmp_path: Path) -> None:
    fast = make_settings(tmp_path, sla_first_response_minutes={
        "critical": 1, "high": 2, "medium": 3, "low": 4})  # fmt: skip
    assert sla.targets(fast, Priority.MEDIUM)[0] == timedelta(minutes=3)
    with pytest.raises(ValueError):
        make_settings(tmp_path, sla_first_response_minutes={"critical": 1})


def test_a_breach_is_recorded_once_raises_priority_and_sorts_first(svc) -> None:
    now = utcnow()
    fresh_high = escalate(svc, customer="fresh", priority=Priority.HIGH, created_at=now)
    late_low = escalate(svc, customer="late", priority=Priority.LOW,
                        created_at=now - timedelta(hours=25))  # fmt: skip
    ana = svc.users.principal("ana")
    rows = svc.views.inbox(ana, InboxView.OPEN, now=now)
    assert [r.handoff_id for r in rows] == [late_low.handoff_id, fresh_high.handoff_id]
    assert rows[0].sla.breached and rows[0].handoff.priority is Priority.MEDIUM
    assert rows[0].base_priority is Priority.LOW
    svc.views.inbox(ana, InboxView.OPEN, now=now)  # looked at again: nothing new recorded
    breaches = svc.records.events(kind="sla_breach")
    assert [(e.handoff_id, e.detail["clock"], e.actor) for e in breaches] == [
        (late_low.handoff_id, "first_response", "sla")]  # fmt: skip
    later = svc.views.inbox(ana, InboxView.OPEN, now=now + timedelta(days=3))
    assert {r.handoff_id: r.handoff.priority for r in later}[late_low.handoff_id] is Priority.HIGH
    assert len(svc.records.events(kind="sla_breach")) == 4  # both clocks of both handoffs


def test_attainment_counts_decided_clocks_per_priority(svc) -> None:
    now = utcnow()
    met = escalate(svc, priority=Priority.HIGH, created_at=now - timedelta(minutes=30))
    escalate(svc, priority=Priority.HIGH, created_at=now - timedelta(hours=2))  # breached
    escalate(svc, priority=Priority.HIGH, created_at=now)  # still running: not counted
    svc.desk.claim(met.handoff_id, "ana")
    svc.desk.reply(met.handoff_id, "ana", "On it.")
    high = sla.attainment(svc.settings, svc.store.list_handoffs(), now=now)["high"]
    assert high["handoffs"] == 3 and high["first_response_decided"] == 2
    assert high["first_response_attainment"] == 0.5
