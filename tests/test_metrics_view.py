"""The metrics page's chart data and the learning panels' lines, without a browser."""

from __future__ import annotations

from support_core import metrics_view as mv
from support_core.csat import EscalationReasonCount, SupportMetrics
from support_core.learning.replay import ReplayReport, ReplaySide


def test_time_charts_pick_a_readable_unit_and_leave_resolved_out() -> None:
    unit, cols = mv.status_times({"escalated": 7200.0, "processing": 3600.0, "resolved": 9e6})
    assert unit == "hours" and cols == {"status": ["escalated", "processing"], "hours": [2.0, 1.0]}
    m = SupportMetrics(avg_first_human_reply_seconds=300.0, avg_resolution_seconds=None)
    assert mv.reply_times(m) == ("minutes", {"measure": ["first human reply", "resolution"],
                                             "minutes": [5.0, 0.0]})


def test_quality_charts_keep_every_reason_and_mood() -> None:
    m = SupportMetrics(avg_csat_auto=4.5, avg_csat_human=3.0,
                       sentiment_mix={"angry": 2, "neutral": 5},
                       top_escalation_reasons=[EscalationReasonCount(rule="legal_threat", count=3)])
    assert mv.csat_by_handler(m)["avg CSAT"] == [4.5, 3.0]
    assert mv.escalation_reasons(m) == [{"rule": "legal_threat", "count": 3}]
    assert mv.sentiment_mix(m) == {"sentiment": ["angry", "neutral"], "tickets": [2, 5]}
    assert set(m.sentiment_mix) <= set(mv.SENTIMENT_COLORS)


def test_learning_lines_and_rows() -> None:
    first = {"median_seconds": 600, "p90_seconds": 5400, "waiting": 2,
             "per_queue": {"tier1": {"median_seconds": 120, "p90_seconds": None}}}
    assert mv.first_reply_line(first).endswith("median 10 min, p90 1 h 30 min, 2 still waiting")
    assert mv.first_reply_rows(first) == [{"queue": "tier1", "statistic": "median", "minutes": 2.0}]
    use = {"resolutions": 4, "share": {"as_is": 0.5, "edited": 0.25, "discarded": None},
           "counts": {"as_is": 2, "heavily_edited": 1, "no_draft": 1}}
    assert mv.draft_use_line(use).endswith("as-is 50%, edited 25%, discarded –")
    assert mv.draft_use_rows(use) == [{"use": "as-is", "count": 2},
                                      {"use": "heavily-edited", "count": 1}]
    assert mv.csat_rows({"angry": {"avg_csat": 2.5, "count": 4}}, "signal") == [
        {"signal": "angry", "avg CSAT": 2.5, "ratings": 4}]


def test_replay_rows_and_delta() -> None:
    report = ReplayReport(
        tickets=10, thresholds_current={}, thresholds_proposed={}, changed=[],
        current=ReplaySide(escalation_rate=0.3, escalated=3, queues={"ai": 7, "tier1": 3}),
        proposed=ReplaySide(escalation_rate=0.45, escalated=4, queues={"tier1": 4}),
    )  # fmt: skip
    assert mv.replay_delta(report) == "+15.0 pts"
    assert mv.replay_queue_rows(report) == [
        {"rules": "current", "queue": "ai", "tickets": 7},
        {"rules": "current", "queue": "tier1", "tickets": 3},
        {"rules": "proposed", "queue": "tier1", "tickets": 4}]
