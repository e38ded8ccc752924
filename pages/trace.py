"""Ticket trace: one ticket's life, as lifecycle transitions and the pipeline's spans.

Each customer message that went through the pipeline is one trace; its spans are drawn
as a waterfall (offset from the trace's start, width = duration).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from pages._auth import require_staff
from pages._service import get_service
from pages._ui import run_page
from support_core import display
from support_core.access import Action
from support_core.models import Ticket


def pick_ticket(tickets: list[Ticket]) -> str:
    labels = {t.ticket_id: display.ticket_label(t) for t in tickets}
    ids = list(labels)
    index = display.pick_index(ids, st.query_params.get("ticket"))
    return st.selectbox("Ticket", ids, index=index, format_func=labels.__getitem__)


def waterfall(spans: list[dict[str, Any]]) -> None:
    w = display.waterfall(spans)
    fig = go.Figure(go.Bar(
        y=w.labels, x=w.durations, base=w.offsets, orientation="h", hovertext=w.hover,
        marker_color=w.colors,
        text=[f"{d:.1f} ms" for d in w.durations], textposition="outside",
    ))  # fmt: skip
    fig.update_layout(
        height=80 + 32 * len(spans), margin=dict(l=10, r=40, t=10, b=10),
        xaxis_title="milliseconds since the message arrived", xaxis_range=[0, w.end * 1.15],
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    st.plotly_chart(fig, config={"displayModeBar": False})
    st.dataframe(w.rows, hide_index=True)


def runs(spans: list[dict[str, Any]]) -> None:
    grouped = display.span_runs(spans)
    labels = [label for label, _ in grouped]
    chosen = (st.selectbox("Pipeline run", range(len(grouped)), index=len(grouped) - 1,
                           format_func=labels.__getitem__) if len(grouped) > 1 else 0)
    waterfall(grouped[chosen or 0][1])


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
    st.caption(display.ticket_caption(ticket))
    if plan := display.search_plan_line(ticket):
        st.caption(plan)
    if asked := display.clarify_line(ticket):
        st.info(asked, icon=":material/help:")
    for err in ticket.stage_errors:
        st.error(f"Stage **{err.stage}** failed at {err.at:%H:%M:%S}: {err.error}")
    st.subheader("Lifecycle")
    st.dataframe(display.trail_rows(trace.transitions), hide_index=True)
    if trace.events:  # claims, replies, notes, reassignments and SLA breaches: who and when
        st.subheader("Desk activity")
        st.dataframe(display.activity_rows(trace.events), hide_index=True)
    st.subheader("Pipeline spans")
    if trace.spans:
        runs(trace.spans)
    else:
        st.info(
            "No spans stored for this ticket (it was created before tracing was on, "
            "or only agents have touched it)."
        )


run_page(main)
