"""What the staff pages show, shaped from stored records: pure functions, no Streamlit.

The pages (``pages/``) keep layout and widgets; the decisions about what a row says (how
long a ticket stayed in a status, which spans belong to which run, which SLA clocks count,
how a duration reads) live here, next to :mod:`support_core.views`, where they are tested
without a browser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from support_core.config import Settings
from support_core.csat import SupportMetrics
from support_core.desk_records import DeskEvent
from support_core.models import (
    ArticleInfo,
    IngestResult,
    IngestStatus,
    SearchHit,
    Ticket,
    TicketStatus,
    Transition,
    utcnow,
)


# ----------------------------------------------------------------------------- formatting
def duration(seconds: float | None) -> str:
    """``75`` -> ``1 min``; ``5400`` -> ``1 h 30 min``; ``None`` -> ``–``."""
    if seconds is None:
        return "–"
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return f"{int(max(seconds, 0))} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def short_duration(seconds: float | None) -> str:
    """A KPI card is narrow: one unit, one decimal (``2.1 h``, ``14 min``)."""
    if seconds is None:
        return "–"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def since(moment: datetime, now: datetime | None = None) -> str:
    return duration(((now or utcnow()) - moment).total_seconds())


def time_unit(seconds: Iterable[float]) -> tuple[float, str]:
    """The divisor and name of the unit that makes the largest value read naturally."""
    largest = max(seconds, default=0.0)
    if largest >= 2 * 3600:
        return 3600.0, "hours"
    return (60.0, "minutes") if largest >= 120 else (1.0, "seconds")


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def backend_summary(settings: Settings, articles: int) -> str:
    """The sidebar's lines: whether answers come from a model, where memory lives, KB size."""
    llm = (f"on · `{settings.llm_model}`" if settings.llm_enabled
           else "off · answers quoted from the KB")
    memory = "Redis" if settings.redis_url else "SQLite"
    return f"**LLM** {llm}  \n**Memory** {memory}  \n**Knowledge base** {articles} articles"


# ----------------------------------------------------------------------------- metrics
def day_window(first: date, last: date) -> tuple[datetime, datetime]:
    """Picked dates as a UTC ``[since, until)`` range, the last day included."""
    def midnight(d: date) -> datetime:
        return datetime.combine(d, time.min, tzinfo=timezone.utc)

    return midnight(first), midnight(last) + timedelta(days=1)


def kpi_cards(m: SupportMetrics) -> list[tuple[str, str, str | None]]:
    """(label, value, help) of the metrics page's cards; "–" where there is nothing yet."""
    gap = m.csat_gap
    return [
        ("Tickets", str(m.tickets), None),
        ("Auto-resolved", pct(m.auto_resolution_rate), "Resolved without ever reaching a human."),
        ("Escalated", pct(m.escalation_rate), "Share of tickets handed to a human."),
        ("CSAT", f"{m.avg_csat:.2f}" if m.avg_csat else "–", f"{m.csat_count} rating(s), 1-5."),
        ("CSAT gap", f"{gap:+.2f}" if gap is not None else "–",
         "AI minus human CSAT; within ±0.5 the AI satisfies as well as a person."),
        ("1st reply", short_duration(m.avg_first_human_reply_seconds),
         "Average time from handoff to a specialist's first reply (escalated tickets only)."),
    ]


def daily_rows(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The daily series with the AI-handled count and each day's shares (None: no tickets)."""
    def share(part: int, total: int) -> float | None:
        return part / total if total else None

    return [d | {"AI": d["tickets"] - d["escalated"],
                 "auto-resolution": share(d["auto_resolved"], d["tickets"]),
                 "escalation": share(d["escalated"], d["tickets"])} for d in daily]


def open_status_times(in_status: dict[str, float]) -> dict[str, float]:
    """Mean time per status without ``resolved`` (a resolved ticket's time only grows)."""
    return {s: v for s, v in in_status.items() if s != TicketStatus.RESOLVED.value}


def sla_rows(attainment: dict[str, dict[str, float | int | None]]) -> list[dict[str, Any]]:
    """One row per priority and clock that has decided handoffs (running clocks don't count)."""
    return [{"priority": p, "clock": clock.replace("_", " "), "met": row[f"{clock}_attainment"],
             "decided": row[f"{clock}_decided"]}
            for p, row in attainment.items() for clock in ("first_response", "resolution")
            if row[f"{clock}_decided"]]  # fmt: skip


# ----------------------------------------------------------------------------- trace
ERROR_COLOR, OK_COLOR = "#dc2626", "#2563eb"


def ticket_label(t: Ticket) -> str:
    """How a ticket reads in the trace page's picker."""
    return (f"{t.created_at:%Y-%m-%d %H:%M} · {t.customer_id} · {t.status.value} · "
            f"{t.subject[:60]}")


def pick_index(ids: list[str], wanted: str | None) -> int:
    """Where a picker starts: the linked ticket (``?ticket=``) when it is listed, else the top."""
    return ids.index(wanted) if wanted in ids else 0


def ticket_caption(t: Ticket) -> str:
    return (f"Customer `{t.customer_id}` · session `{t.session_id}` · "
            f"{t.priority.value} priority · now **{t.status.value}**"
            + (" · demo data" if t.is_demo else ""))


def search_plan_line(t: Ticket) -> str | None:
    """How the last message was searched: alone, or as a follow-up with its context."""
    plan = t.search_plan
    if plan is None:
        return None
    if not plan.continuation or not plan.context_query:
        head = f"Searched the latest message on its own ({plan.strategy})"
    else:
        topic = f", current article `{plan.current_article}`" if plan.current_article else ""
        head = (f"Searched as a follow-up with {plan.previous_turns} earlier turn(s){topic}: "
                f"“{plan.context_query}”")
    return head + (f" · {plan.reason}" if plan.reason else "")


def clarify_line(t: Ticket) -> str | None:
    """The clarifying question the last run asked instead of answering, with its topics."""
    e = t.escalation
    if e is None or e.rule != "clarify":
        return None
    topics = " / ".join(f"`{o['label']}`" for o in e.inputs.get("options") or [])
    return f"Asked a clarifying question instead of guessing: {topics} · {e.reason}"


def trail_rows(trail: list[Transition], now: datetime | None = None) -> list[dict[str, str]]:
    """The lifecycle table: each step with how long the ticket stayed in it."""
    rows = []
    for i, step in enumerate(trail):
        following = trail[i + 1] if i + 1 < len(trail) else None
        if following is not None:
            stayed = duration((following.at - step.at).total_seconds())
        elif step.to_status is TicketStatus.RESOLVED:
            stayed = "final"
        else:
            stayed = f"{since(step.at, now)} so far"
        rows.append({"at": step.at.strftime("%Y-%m-%d %H:%M:%S"),
                     "from": step.from_status.value if step.from_status else "",
                     "to": step.to_status.value, "stayed": stayed, "actor": step.actor,
                     "reason": step.reason})  # fmt: skip
    return rows


def activity_rows(events: list[DeskEvent]) -> list[dict[str, str]]:
    return [{"at": f"{e.at:%Y-%m-%d %H:%M:%S}", "what": e.kind, "who": e.actor,
             "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items())}
            for e in events]  # fmt: skip


def is_error(span: dict[str, Any]) -> bool:
    return str(span.get("status") or "").lower().startswith("error")


def span_runs(spans: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The spans grouped by pipeline run (trace), oldest first, each with its label."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        traces.setdefault(s["trace_id"], []).append(s)
    ordered = sorted(traces.values(), key=lambda group: group[0]["start"])
    return [(f"Message {i} · {group[0]['start'][:19].replace('T', ' ')}", group)
            for i, group in enumerate(ordered, 1)]


@dataclass
class Waterfall:
    """One run's spans as bars: offset from the run's start and width = duration (ms)."""

    labels: list[str]
    offsets: list[float]
    durations: list[float]
    errors: list[bool]
    colors: list[str]  # red for a failed span
    hover: list[str]
    end: float
    rows: list[dict[str, Any]]


def _depth(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> int:
    level, parent = 0, span.get("parent_id")
    while parent in by_id and level < 10:
        level, parent = level + 1, by_id[parent].get("parent_id")
    return level


def waterfall(spans: list[dict[str, Any]]) -> Waterfall:
    start = min(datetime.fromisoformat(s["start"]) for s in spans)
    by_id = {s["span_id"]: s for s in spans}
    offsets = [(datetime.fromisoformat(s["start"]) - start).total_seconds() * 1000 for s in spans]
    durations = [float(s["duration_ms"] or 0.0) for s in spans]
    return Waterfall(
        labels=[f"{'· ' * _depth(s, by_id)}{s['name']} ({i})" for i, s in enumerate(spans, 1)],
        offsets=offsets, durations=durations, errors=[is_error(s) for s in spans],
        colors=[ERROR_COLOR if is_error(s) else OK_COLOR for s in spans],
        hover=["<br>".join(f"{k}: {v}" for k, v in s["attributes"].items()) or s["name"]
               for s in spans],
        end=max(o + d for o, d in zip(offsets, durations, strict=True)),
        rows=[{"span": s["name"], "ms": round(d, 1), "status": "error" if is_error(s) else "ok",
               "attributes": ", ".join(f"{k}={v}" for k, v in s["attributes"].items())}
              for s, d in zip(spans, durations, strict=True)],
    )


# ----------------------------------------------------------------------------- knowledge base
def hit_rows(hits: list[SearchHit]) -> list[dict[str, Any]]:
    """Retrieved chunks with every score the ranking used (None = not found that way)."""
    return [{"#": i, "article": h.title, "section": " › ".join(h.heading_path),
             "category": h.category, "product": h.product, "dense": h.dense_score,
             "keyword (BM25)": h.bm25_score, "fused": h.fused_score, "dense rank": h.dense_rank,
             "keyword rank": h.bm25_rank, "text": h.text}
            for i, h in enumerate(hits, 1)]  # fmt: skip


def upload_summary(results: list[IngestResult]) -> str:
    """``2 added, 1 failed``: the statuses that occurred, in the lifecycle's order."""
    counts = {s: sum(r.status is s for r in results) for s in IngestStatus}
    return ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)


def upload_failures(results: list[IngestResult]) -> list[str]:
    """One sentence per file that was not ingested, naming it and why (shown as a warning)."""
    return [f"**{r.source}** was not ingested: {(r.error or '').removeprefix(f'{r.source}: ')}"
            for r in results if r.status is IngestStatus.FAILED]


def upload_rows(results: list[IngestResult]) -> list[dict[str, Any]]:
    return [{"file": r.source, "result": r.status.value, "article": r.title or "",
             "chunks": r.chunks, "reason": r.error or "", "held for approval": len(r.flags)}
            for r in results]  # fmt: skip


def article_rows(infos: list[ArticleInfo]) -> list[dict[str, Any]]:
    """The indexed articles; a link only when the source is a web address."""
    return [{"title": a.title, "category": a.category, "product": a.product, "chunks": a.chunks,
             "last updated": a.last_updated, "ingested": a.ingested_at[:16].replace("T", " "),
             "link": a.source_url if a.source_url.startswith("http") else None,
             "file": Path(a.source_path).name}
            for a in infos]  # fmt: skip
