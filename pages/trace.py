"""Ticket trace: one ticket's life, as lifecycle transitions and the pipeline's spans.

Each customer message that went through the pipeline is one trace; its spans are drawn
as a waterfall (offset from the trace's start, width = duration).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from pages._auth import require_staff
from pages._ui import duration, get_service, run_page, since
from support_core.access import Action
from support_core.desk_records import DeskEvent
from support_core.models import Ticket, TicketStatus, Transition


def pick_ticket(tickets: list[Ticket]) -> str:
    labels = {
        t.ticket_id: f"{t.created_at:%Y-%m-%d %H:%M} · {t.customer_id} · {t.status.value} · "
        f"{t.subject[:60]}"
        for t in tickets
    }
    wanted = st.query_params.get("ticket")
    ids = list(labels)
    index = ids.index(wanted) if wanted in labels else 0
    return st.selectbox("Ticket", ids, index=index, format_func=labels.__getitem__)


def stayed_for(step: Transition, seconds: float | None) -> str:
    if seconds is not None:
        return duration(seconds)
    return "final" if step.to_status is TicketStatus.RESOLVED else f"{since(step.at)} so far"


def transitions(trail: list[Transition]) -> None:
    rows = []
    for i, step in enumerate(trail):
        following = trail[i + 1] if i + 1 < len(trail) else None
        stayed = (following.at - step.at).total_seconds() if following else None
        rows.append(
            {
                "at": step.at.strftime("%Y-%m-%d %H:%M:%S"),
                "from": step.from_status.value if step.from_status else "",
                "to": step.to_status.value,
                "stayed": stayed_for(step, stayed),
                "actor": step.actor,
                "reason": step.reason,
            }
        )
    st.dataframe(rows, hide_index=True)


def depth(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> int:
    level, parent = 0, span.get("parent_id")
    while parent in by_id and level < 10:
        level, parent = level + 1, by_id[parent].get("parent_id")
    return level


def is_error(span: dict[str, Any]) -> bool:
    return str(span.get("status") or "").lower().startswith("error")


def waterfall(spans: list[dict[str, Any]]) -> None:
    start = min(datetime.fromisoformat(s["start"]) for s in spans)
    by_id = {s["span_id"]: s for s in spans}
    labels = [f"{'· ' * depth(s, by_id)}{s['name']} ({i})" for i, s in enumerate(spans, 1)]
    offsets = [(datetime.fromisoformat(s["start"]) - start).total_seconds() * 1000 for s in spans]
    hover = [
        "<br>".join(f"{k}: {v}" for k, v in s["attributes"].items()) or s["name"] for s in spans
    ]
    colors = ["#dc2626" if is_error(s) else "#2563eb" for s in spans]
    end = max(o + s["duration_ms"] for o, s in zip(offsets, spans, strict=True))
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=[s["duration_ms"] for s in spans],
            base=offsets,
            orientation="h",
            marker_color=colors,
            hovertext=hover,
            text=[f"{s['duration_ms']:.1f} ms" for s in spans],
            textposition="outside",
        )
    )
    fig.update_layout(
        height=80 + 32 * len(spans),
        margin=dict(l=10, r=40, t=10, b=10),
        xaxis_title="milliseconds since the message arrived",
        xaxis_range=[0, end * 1.15],
    )
    fig.update_yaxes(autorange="reversed")
    st.plotly_chart(fig, config={"displayModeBar": False})
    st.dataframe(
        [
            {
                "span": s["name"],
                "ms": round(s["duration_ms"], 1),
                "status": "error" if is_error(s) else "ok",
                "attributes": ", ".join(f"{k}={v}" for k, v in s["attributes"].items()),
            }
            for s in spans
        ],
        hide_index=True,
    )


def runs(spans: list[dict[str, Any]]) -> None:
    traces: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        traces.setdefault(s["trace_id"], []).append(s)
    ordered = sorted(traces.values(), key=lambda group: group[0]["start"])
    labels = [
        f"Message {i} · {group[0]['start'][:19].replace('T', ' ')}"
        for i, group in enumerate(ordered, 1)
    ]
    chosen = (
        st.selectbox(
            "Pipeline run",
            range(len(ordered)),
            index=len(ordered) - 1,
            format_func=labels.__getitem__,
        )
        if len(ordered) > 1
        else 0
    )
    waterfall(ordered[chosen or 0])


def desk_activity(events: list[DeskEvent]) -> None:
    """Claims, replies, notes, reassignments and SLA breaches: who and when."""
    if events:
        st.subheader("Desk activity")
        st.dataframe([{"at": f"{e.at:%Y-%m-%d %H:%M:%S}", "what": e.kind, "who": e.actor,
                       "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items())}
                      for e in events], hide_index=True)  # fmt: skip


def main() -> None:
    svc = get_service()
    st.title("Ticket trace")
    user = require_staff(Action.READ_TICKETS, "ticket traces")
    tickets = svc.views.trace_tickets(user)
    if not tickets:
        st.info(
            "No tickets yet. Send a message on the Customer chat page, or press "
            "**Load demo data** in the sidebar."
        )
        st.stop()
    trace = svc.views.trace(user, pick_ticket(tickets))
    ticket = trace.ticket
    st.caption(
        f"Customer `{ticket.customer_id}` · session `{ticket.session_id}` · "
        f"{ticket.priority.value} priority · now **{ticket.status.value}**"
        + (" · demo data" if ticket.is_demo else "")
    )
    for err in ticket.stage_errors:
        st.error(f"Stage **{err.stage}** failed at {err.at:%H:%M:%S}: {err.error}")
    st.subheader("Lifecycle")
    transitions(trace.transitions)
    desk_activity(trace.events)
    st.subheader("Pipeline spans")
    if trace.spans:
        runs(trace.spans)
    else:
        st.info(
            "No spans stored for this ticket (it was created before tracing was on, "
            "or only agents have touched it)."
        )


run_page(main)
