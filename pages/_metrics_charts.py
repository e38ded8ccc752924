"""The Metrics page's charts: volume and rates over time, CSAT and escalation reasons,
sentiment mix, time in status, and SLA attainment. Their rows and colours come from
``support_core.metrics_view`` and ``support_core.display``."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from support_core.csat import SupportMetrics
from support_core.display import sla_rows
from support_core.metrics_view import (
    OUTCOME_COLORS,
    SENTIMENT_COLORS,
    csat_by_handler,
    escalation_reasons,
    reply_times,
    sentiment_mix,
    status_times,
)

CHART = {"displayModeBar": False}


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
        fig = px.bar(pd.DataFrame(csat_by_handler(m)), x="handled by", y="avg CSAT",
                     text_auto=".2f", range_y=[0, 5])
        chart(fig.update_layout(xaxis_title=None), "CSAT: auto-resolved vs human-handled")
    with mid:
        reasons = pd.DataFrame(escalation_reasons(m))
        if reasons.empty:
            st.caption("No escalations in this window.")
        else:
            fig = px.bar(reasons, x="count", y="rule", orientation="h")
            chart(fig.update_yaxes(autorange="reversed", title=None), "Top escalation reasons")
    with right:
        fig = px.pie(pd.DataFrame(sentiment_mix(m)), names="sentiment", values="tickets",
                     hole=0.5, color="sentiment", color_discrete_map=SENTIMENT_COLORS)
        chart(fig, "Sentiment mix")


def timing(m: SupportMetrics, in_status: dict[str, float]) -> None:
    left, right = st.columns(2)
    with left:
        unit, status = status_times(in_status)
        fig = px.bar(pd.DataFrame(status), x="status", y=unit, text_auto=".1f")
        chart(fig.update_layout(xaxis_title=None), f"Average time in each status ({unit})")
        st.caption("Resolved is left out: a resolved ticket stays resolved, its time only grows.")
    with right:
        unit, times = reply_times(m)
        fig = px.bar(pd.DataFrame(times), x=unit, y="measure", orientation="h", text_auto=".1f")
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
