"""The metrics page's charts as data: colours per outcome and mood, each chart's rows, the
time unit that reads naturally, and the learning loop's panels (first human reply, draft
use, CSAT by reason or signal, the what-if replay). The page only picks the chart type.
"""

from __future__ import annotations

from typing import Any

from support_core.csat import SupportMetrics
from support_core.display import duration, open_status_times, pct, time_unit
from support_core.learning.replay import ReplayReport

SENTIMENT_COLORS = {
    "positive": "#16a34a", "neutral": "#94a3b8", "frustrated": "#f59e0b",
    "angry": "#dc2626", "urgent": "#7c3aed", "unknown": "#e5e7eb",
}  # fmt: skip
OUTCOME_COLORS = {"AI": "#2563eb", "escalated": "#f59e0b", "auto-resolution": "#2563eb",
                  "escalation": "#f59e0b"}  # fmt: skip
Columns = dict[str, list[Any]]


def csat_by_handler(m: SupportMetrics) -> Columns:
    return {"handled by": ["AI (auto-reply)", "human agent"],
            "avg CSAT": [m.avg_csat_auto, m.avg_csat_human]}  # fmt: skip


def escalation_reasons(m: SupportMetrics) -> list[dict[str, Any]]:
    return [r.model_dump() for r in m.top_escalation_reasons]


def sentiment_mix(m: SupportMetrics) -> Columns:
    return {"sentiment": list(m.sentiment_mix), "tickets": list(m.sentiment_mix.values())}


def in_unit(label: str, seconds: dict[str, float | None]) -> tuple[str, Columns]:
    """``seconds`` in the unit that makes the largest read naturally (missing: 0)."""
    divisor, unit = time_unit(v for v in seconds.values() if v is not None)
    return unit, {label: list(seconds), unit: [(v or 0) / divisor for v in seconds.values()]}


def status_times(in_status: dict[str, float]) -> tuple[str, Columns]:
    """Mean time per open status (resolved left out: its time only grows)."""
    return in_unit("status", dict(open_status_times(in_status)))


def reply_times(m: SupportMetrics) -> tuple[str, Columns]:
    return in_unit("measure", {"first human reply": m.avg_first_human_reply_seconds,
                               "resolution": m.avg_resolution_seconds})


# ----------------------------------------------------------------------------- learning loop
def first_reply_line(first: dict[str, Any]) -> str:
    return (f"**Time to first human reply** · median {duration(first['median_seconds'])}, "
            f"p90 {duration(first['p90_seconds'])}, {first['waiting']} still waiting")


def first_reply_rows(first: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"queue": q, "statistic": stat, "minutes": v[f"{stat}_seconds"] / 60}
            for q, v in first["per_queue"].items() for stat in ("median", "p90")
            if v[f"{stat}_seconds"] is not None]  # fmt: skip


def draft_use_line(use: dict[str, Any]) -> str:
    share = use["share"]
    return (f"**AI drafts in {use['resolutions']} resolution(s)** · "
            f"as-is {pct(share['as_is'])}, edited {pct(share['edited'])}, "
            f"discarded {pct(share['discarded'])}")


def draft_use_rows(use: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"use": k.replace("_", "-"), "count": v}
            for k, v in use["counts"].items() if k != "no_draft"]  # fmt: skip


def csat_rows(table: dict[str, dict[str, Any]], what: str) -> list[dict[str, Any]]:
    return [{what: k, "avg CSAT": v["avg_csat"], "ratings": v["count"]} for k, v in table.items()]


def replay_queue_rows(report: ReplayReport) -> list[dict[str, Any]]:
    sides = (("current", report.current.queues), ("proposed", report.proposed.queues))
    return [{"rules": side, "queue": q, "tickets": n}
            for side, mix in sides for q, n in mix.items()]  # fmt: skip


def replay_delta(report: ReplayReport) -> str:
    """How the escalation rate would move, in percentage points."""
    delta = report.proposed.escalation_rate - report.current.escalation_rate
    return f"{delta * 100:+.1f} pts"
