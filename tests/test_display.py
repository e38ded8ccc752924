"""How the staff pages' rows read, without a browser."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from support_core import display
from support_core.models import (
    ArticleInfo,
    IngestResult,
    IngestStatus,
    Priority,
    Ticket,
    TicketStatus,
    Transition,
)
from tests.conftest import make_settings

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
S = TicketStatus


def test_durations_read_naturally() -> None:
    assert [display.duration(s) for s in (None, 5, 75, 5400, 3 * 86400 + 3600)] == [
        "–", "5 s", "1 min", "1 h 30 min", "3 d 1 h"]
    assert [display.short_duration(s) for s in (None, 30, 840, 7560, 3 * 86400)] == [
        "–", "30 s", "14 min", "2.1 h", "3.0 d"]
    assert display.time_unit([30, 7200]) == (3600.0, "hours")
    assert display.time_unit([]) == (1.0, "seconds")


def test_day_window_includes_the_last_day() -> None:
    since, until = display.day_window(date(2025, 3, 1), date(2025, 3, 3))
    assert (since, until) == (T0.replace(hour=0), T0.replace(hour=0) + timedelta(days=3))


def test_trail_rows_say_how_long_each_status_lasted() -> None:
    def step(before: S | None, after: S, seconds: float) -> Transition:
        return Transition(from_status=before, to_status=after, at=T0 + timedelta(seconds=seconds))

    trail = [step(None, S.CREATED, 0), step(S.CREATED, S.PROCESSING, 90),
             step(S.PROCESSING, S.ESCALATED, 3600)]
    rows = display.trail_rows(trail, now=T0 + timedelta(hours=3))
    assert [r["stayed"] for r in rows] == ["1 min", "58 min", "2 h so far"]
    resolved = Transition(from_status=S.ESCALATED, to_status=S.RESOLVED, at=T0 + timedelta(hours=2))
    assert display.trail_rows([*trail, resolved])[-1]["stayed"] == "final"


def span(trace: str, span_id: str, start: float, ms: float, parent: str | None = None,
         status: str = "ok") -> dict[str, object]:
    return {"trace_id": trace, "span_id": span_id, "parent_id": parent, "name": span_id,
            "start": (T0 + timedelta(seconds=start)).isoformat(), "duration_ms": ms,
            "status": status, "attributes": {"k": 1}}


def test_spans_are_grouped_by_run_and_drawn_as_a_waterfall() -> None:
    spans = [span("b", "later", 60, 5.0), span("a", "root", 0, 100.0),
             span("a", "child", 0.02, 30.0, parent="root", status="ERROR: boom")]
    runs = display.span_runs(spans)
    assert [label for label, _ in runs] == ["Message 1 · 2025-03-01 09:00:00",
                                            "Message 2 · 2025-03-01 09:01:00"]
    w = display.waterfall(runs[0][1])
    assert w.labels == ["root (1)", "· child (2)"]
    assert w.offsets == [0.0, 20.0] and w.end == 100.0 and w.errors == [False, True]
    assert w.colors == [display.OK_COLOR, display.ERROR_COLOR]
    assert [r["status"] for r in w.rows] == ["ok", "error"]


def test_metrics_rows_leave_out_what_does_not_count() -> None:
    attainment = {"high": {"first_response_attainment": 0.5, "first_response_decided": 2,
                           "resolution_attainment": None, "resolution_decided": 0}}
    assert display.sla_rows(attainment) == [
        {"priority": "high", "clock": "first response", "met": 0.5, "decided": 2}]
    daily = [{"date": "2025-03-01", "tickets": 4, "escalated": 1, "auto_resolved": 2,
              "avg_csat": None},
             {"date": "2025-03-02", "tickets": 0, "escalated": 0, "auto_resolved": 0,
              "avg_csat": None}]
    shaped = display.daily_rows(daily)
    assert (shaped[0]["AI"], shaped[0]["auto-resolution"], shaped[0]["escalation"]) == (
        3, 0.5, 0.25)
    assert shaped[1]["escalation"] is None  # no tickets: no share, not 0 %
    assert display.open_status_times({"created": 1.0, "resolved": 9.0}) == {"created": 1.0}


def test_upload_and_article_rows() -> None:
    results = [IngestResult(source="a.md", status=IngestStatus.ADDED, title="A", chunks=3),
               IngestResult(source="b.pdf", status=IngestStatus.FAILED, error="no text"),
               IngestResult(source="c.md", status=IngestStatus.ADDED, flags=["c:0: override"])]
    assert display.upload_summary(results) == "2 added, 1 failed"
    assert display.upload_rows(results)[1] == {"file": "b.pdf", "result": "failed",
                                               "article": "", "chunks": 0, "reason": "no text",
                                               "held for approval": 0}
    infos = [ArticleInfo(article_id="a", title="A", category="c", product="p",
                         source_url="file:///x", source_path="/kb/a.md",
                         ingested_at="2025-03-01T09:00:00+00:00")]
    row = display.article_rows(infos)[0]
    assert (row["link"], row["file"], row["ingested"]) == (None, "a.md", "2025-03-01 09:00")


def test_trace_labels_and_caption_say_whose_ticket_it_is() -> None:
    t = Ticket(customer_id="cust", session_id="s9", subject="x" * 80, created_at=T0,
               status=TicketStatus.ESCALATED, priority=Priority.HIGH, is_demo=True)
    assert display.ticket_label(t) == f"2025-03-01 09:00 · cust · escalated · {'x' * 60}"
    assert display.ticket_caption(t) == (
        "Customer `cust` · session `s9` · high priority · now **escalated** · demo data")
    assert not display.ticket_caption(t.model_copy(update={"is_demo": False})).endswith("data")
    assert display.pick_index(["a", "b"], "b") == 1
    assert display.pick_index(["a", "b"], "gone") == display.pick_index(["a"], None) == 0


def test_backend_summary_names_the_model_memory_and_kb_size(tmp_path: Path) -> None:
    off = display.backend_summary(make_settings(tmp_path), 3)
    assert off == ("**LLM** off · answers quoted from the KB  \n**Memory** SQLite  \n"
                   "**Knowledge base** 3 articles")
    on = display.backend_summary(make_settings(tmp_path, llm_model="m1",
                                               redis_url="redis://127.0.0.1:6379/0"), 0)
    assert on.startswith("**LLM** on · `m1`  \n**Memory** Redis")


def test_upload_failures_name_the_file_and_reason_once() -> None:
    from support_core.models import IngestResult, IngestStatus

    results = [
        IngestResult(source="a.md", status=IngestStatus.FAILED,
                     error="a.md: belongs to another article"),
        IngestResult(source="b.md", status=IngestStatus.ADDED, title="B", chunks=2),
    ]
    assert display.upload_failures(results) == [
        "**a.md** was not ingested: belongs to another article"]


def test_search_plan_line_says_follow_up_or_alone() -> None:
    from support_core.models import SearchPlan

    t = Ticket(customer_id="c", session_id="s")
    assert display.search_plan_line(t) is None
    t.search_plan = SearchPlan(query="what about my spouse?", context_query="reset password spouse",
                               continuation=True, current_article="reset", previous_turns=2,
                               reason="refers back")
    line = display.search_plan_line(t) or ""
    assert "follow-up with 2 earlier turn(s)" in line and "`reset`" in line
    assert "refers back" in line
    t.search_plan = SearchPlan(query="how do I export invoices?", continuation=False)
    assert (display.search_plan_line(t) or "").startswith("Searched the latest message on its own")
