"""SLA clocks per handoff: a first-response and a resolution target by priority.

The clocks start when the ticket reaches the human queue (the handoff's ``created_at``) and
use the priority it was handed off with, so raising the priority after a breach does not
move the deadline it just missed. A clock is *met* when the event happened before its due
time, *breached* when it did not (or has not and the due time is past), and *at risk* while
open with less than ``sla_warning_share`` of its target left.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from enum import Enum

from pydantic import BaseModel

from support_core.config import Settings
from support_core.models import HandoffPackage, Priority, utcnow

LEVELS = [Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL]


class ClockState(str, Enum):
    MET = "met"
    RUNNING = "running"
    AT_RISK = "at_risk"
    BREACHED = "breached"


class SlaStatus(BaseModel):
    first_response_due: datetime
    resolution_due: datetime
    first_response: ClockState
    resolution: ClockState
    seconds_left: float | None  # until the next open clock's due time (negative = overdue)

    @property
    def breached(self) -> bool:
        return ClockState.BREACHED in (self.first_response, self.resolution)

    @property
    def at_risk(self) -> bool:
        return not self.breached and ClockState.AT_RISK in (self.first_response, self.resolution)

    @property
    def urgency(self) -> int:
        """0 breached, 1 at risk, 2 running, 3 all met: the inbox's first sort key."""
        if self.breached:
            return 0
        return 1 if self.at_risk else (2 if self.seconds_left is not None else 3)


def targets(settings: Settings, priority: Priority) -> tuple[timedelta, timedelta]:
    return (
        timedelta(minutes=settings.sla_first_response_minutes[priority.value]),
        timedelta(minutes=settings.sla_resolution_minutes[priority.value]),
    )


def _clock(
    due: datetime, done_at: datetime | None, target: timedelta, now: datetime, warn: float
) -> ClockState:
    if done_at is not None:
        return ClockState.MET if done_at <= due else ClockState.BREACHED
    if now > due:
        return ClockState.BREACHED
    return ClockState.AT_RISK if (due - now) <= target * warn else ClockState.RUNNING


def status(
    settings: Settings,
    h: HandoffPackage,
    base_priority: Priority | None = None,
    now: datetime | None = None,
) -> SlaStatus:
    now = now or utcnow()
    first_target, resolve_target = targets(settings, base_priority or h.priority)
    first_due, resolve_due = h.created_at + first_target, h.created_at + resolve_target
    warn = settings.sla_warning_share
    first = _clock(first_due, h.first_reply_at, first_target, now, warn)
    resolution = _clock(resolve_due, h.resolved_at, resolve_target, now, warn)
    open_dues = [d for d, done in ((first_due, h.first_reply_at), (resolve_due, h.resolved_at))
                 if done is None]  # fmt: skip
    left = (min(open_dues) - now).total_seconds() if open_dues else None
    return SlaStatus(first_response_due=first_due, resolution_due=resolve_due,
                     first_response=first, resolution=resolution, seconds_left=left)  # fmt: skip


def raised(priority: Priority, levels: int) -> Priority:
    """``priority`` raised by ``levels`` steps, at most critical."""
    return LEVELS[min(LEVELS.index(priority) + levels, len(LEVELS) - 1)]


def breached_clocks(s: SlaStatus) -> list[str]:
    return [name for name, state in (("first_response", s.first_response),
                                     ("resolution", s.resolution))
            if state is ClockState.BREACHED]  # fmt: skip


def attainment(
    settings: Settings, handoffs: list[HandoffPackage], now: datetime | None = None
) -> dict[str, dict[str, float | int | None]]:
    """Per priority (as handed off): how many clocks were decided and the share met."""
    now = now or utcnow()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for h in handoffs:
        s = status(settings, h, now=now)
        c = counts[h.priority.value]
        c["handoffs"] += 1
        for name, state in (("first_response", s.first_response), ("resolution", s.resolution)):
            if state in (ClockState.MET, ClockState.BREACHED):
                c[f"{name}_decided"] += 1
                c[f"{name}_met"] += state is ClockState.MET
    result: dict[str, dict[str, float | int | None]] = {}
    for p in reversed(LEVELS):
        c = counts.get(p.value, defaultdict(int))
        row: dict[str, float | int | None] = {"handoffs": c["handoffs"]}
        for name in ("first_response", "resolution"):
            decided = c[f"{name}_decided"]
            row[f"{name}_decided"] = decided
            row[f"{name}_attainment"] = c[f"{name}_met"] / decided if decided else None
        result[p.value] = row
    return result
