"""Metrics for managers: how much the AI resolves, how often it escalates, how customers rate it,
and how often the SLA targets are met.

Every number comes from ``DeskViews.metrics`` (which checks the viewer is a manager) over
the chosen window of ticket creation dates (UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pages._auth import require_staff
from pages._learning_ui import learning_section
from pages._service import get_service
from pages._ui import run_page
from support_core.access import Action
from support_core.csat import SupportMetrics
from support_core.display import (
    daily_rows,
    day_window,
    kpi_cards,
    open_status_times,
    sla_rows,
    time_unit,
)
from support_core.models import utcnow

CHART = {"displayModeBar": False}
SENTIMENT_COLORS = {
    "positive": "#16a34a", "neutral": "#94a3b8", "frustrated": "#f59e0b",
    "angry": "#dc2626", "urgent": "#7c3aed", "unknown": "#e5e7eb",
}
OUTCOME_COLORS = {"AI": "#2563eb", "escalated": "#f59e0b", "auto-resolution": "#2563eb",
                  "escalation": "#f59e0b"}


def window() -> tuple[datetime, datetime] | None:
    """The picked dates as a UTC ``[since, until)`` range (the end day included)."""
    today = utcnow().date()
    picked = st.date_input(
        "Tickets created between (UTC)",
        (today - timedelta(days=13), today),
        max_value=today,
        key="metrics_window",
        persist_state="session",
    )
    if not isinstance(picked, tuple) or len(picked) != 2:
        return None
    return day_window(picked[0], picked[1])


def kpis(m: SupportMetrics) -> None:
    cards = kpi_cards(m)
    for col, (label, value, help_text) in zip(st.columns(len(cards)), cards, strict=True):
        col.metric(label, value, help=help_text, border=True)


def chart(fig: go.Figure, title: str) -> None:
    fig.update_layout(  # the legend goes under the plot, so it never covers the title
        title=title, height=320, margin=dict(l=10, r=10, t=40, b=10), legend_title_text="",
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="center", x=0.5),
    )
    st.plotly_chart(fig, config=CHART)


def over_time(daily: pd.DataFrame) -> None:
    left, right = st.columns(2)
    with left:
        fig = px.bar(daily, x="date", y=["AI", "escalated"], color_discrete_map=OUTCOME_COLORS)
        fig.update_layout(xaxis_title=None, yaxis_title="tickets")
        chart(fig, "Ticket volume")
    with right:
        fig = px.line(daily, x="date", y=["auto-resolution", "escalation"], markers=True,
                      color_discrete_map=OUTCOME_COLORS)
        fig.update_layout(xaxis_title=None, yaxis_title="share of the day's tickets")
        fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
        chart(fig, "Auto-resolution and escalation rate")


def quality(m: SupportMetrics) -> None:
    left, mid, right = st.columns(3)
    with left:
        csat = pd.DataFrame({"handled by": ["AI (auto-reply)", "human agent"],
                             "avg CSAT": [m.avg_csat_auto, m.avg_csat_human]})
        fig = px.bar(csat, x="handled by", y="avg CSAT", text_auto=".2f", range_y=[0, 5])
        chart(fig.update_layout(xaxis_title=None), "CSAT: auto-resolved vs human-handled")
    with mid:
        reasons = pd.DataFrame([r.model_dump() for r in m.top_escalation_reasons])
        if reasons.empty:
            st.caption("No escalations in this window.")
        else:
            fig = px.bar(reasons, x="count", y="rule", orientation="h")
            chart(fig.update_yaxes(autorange="reversed", title=None), "Top escalation reasons")
    with right:
        mix = pd.DataFrame({"sentiment": list(m.sentiment_mix),
                            "tickets": list(m.sentiment_mix.values())})
        fig = px.pie(mix, names="sentiment", values="tickets", hole=0.5, color="sentiment",
                     color_discrete_map=SENTIMENT_COLORS)
        chart(fig, "Sentiment mix")


def timing(m: SupportMetrics, in_status: dict[str, float]) -> None:
    left, right = st.columns(2)
    with left:
        open_statuses = open_status_times(in_status)
        divisor, unit = time_unit(open_statuses.values())
        status = pd.DataFrame({"status": list(open_statuses),
                               unit: [v / divisor for v in open_statuses.values()]})
        fig = px.bar(status, x="status", y=unit, text_auto=".1f")
        chart(fig.update_layout(xaxis_title=None), f"Average time in each status ({unit})")
        st.caption("Resolved is left out: a resolved ticket stays resolved, its time only grows.")
    with right:
        seconds = {"first human reply": m.avg_first_human_reply_seconds,
                   "resolution": m.avg_resolution_seconds}
        divisor, unit = time_unit(v for v in seconds.values() if v is not None)
        times = pd.DataFrame({"measure": list(seconds),
                              unit: [(v or 0) / divisor for v in seconds.values()]})
        fig = px.bar(times, x=unit, y="measure", orientation="h", text_auto=".1f")
        chart(fig.update_layout(yaxis_title=None), f"Time to first reply and to resolve ({unit})")
        st.caption("Resolution is averaged over every resolved ticket, most of them answered by "
                   "the AI in seconds; first human reply only over escalated tickets. So the "
                   "average resolution can be shorter than the average first human reply.")


def sla_chart(attainment: dict[str, dict[str, float | int | None]]) -> None:
    rows = sla_rows(attainment)
    if not rows:
        st.caption("No SLA clock has been decided in this window yet.")
        return
    fig = px.bar(pd.DataFrame(rows), x="priority", y="met", color="clock", barmode="group",
                 text_auto=".0%", hover_data=["decided"], range_y=[0, 1.1])  # fmt: skip
    chart(fig.update_layout(xaxis_title=None, yaxis_tickformat=".0%"), "SLA attainment")
    st.caption("Share of handoffs whose first response / resolution came before the target "
               "of the priority they were handed off with; clocks still running are not counted.")


def ticket_table(rows: list[dict[str, object]]) -> None:
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "subject": st.column_config.TextColumn(width="large"),
        "ticket": st.column_config.TextColumn(width="small"),
        "demo": st.column_config.CheckboxColumn(width="small"),
    })  # fmt: skip


def main() -> None:
    svc = get_service()
    st.title("Metrics")
    user = require_staff(Action.VIEW_METRICS, "the metrics")
    top = st.columns([3, 1], vertical_alignment="bottom")
    with top[0]:
        span = window()
    include_demo = top[1].toggle("Include demo data", value=True, key="metrics_demo",
                                 persist_state="session")
    if span is None:
        st.info("Pick both a start and an end date.")
        st.stop()
    since, until = span
    view = svc.views.metrics(user, since, until, include_demo)
    m = view.metrics
    if m.tickets == 0:
        st.info(
            "No tickets in this window yet. Chat on the Customer chat page, or press "
            "**Load demo data** in the sidebar to see every chart filled in."
        )
        st.stop()
    kpis(m)
    over_time(pd.DataFrame(daily_rows(view.daily)))
    quality(m)
    timing(m, view.in_status)
    sla_chart(view.sla)
    st.subheader("Tickets in this window")
    ticket_table(view.tickets)
    learning_section(since, until)


run_page(main)
