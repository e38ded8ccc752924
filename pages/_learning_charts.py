"""The learning loop's panels on the Metrics page: first human reply per queue, how agents
used the AI drafts, CSAT by escalation reason and by sentiment signal, then the replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._replay import CHART, replay_panel
from pages._service import get_service
from support_core.access import Principal
from support_core.metrics_view import (
    csat_rows,
    draft_use_line,
    draft_use_rows,
    first_reply_line,
    first_reply_rows,
)


def learning_section(user: Principal, since: datetime, until: datetime) -> None:
    """First-reply times, CSAT by reason and signal, draft use, and the replay panel."""
    data = get_service().views.learning(user, since, until)
    st.subheader("Human handling")
    left, right = st.columns(2)
    with left:
        _first_reply_chart(data["time_to_first_human_reply"])
    with right:
        _draft_use_chart(data["draft_use"])
    left, right = st.columns(2)
    with left:
        _csat_chart(data["csat_by_reason"], "CSAT by escalation reason", "reason")
    with right:
        _csat_chart(data["csat_by_signal"], "CSAT by sentiment signal", "signal")
    replay_panel()


def _first_reply_chart(first: dict[str, Any]) -> None:
    st.markdown(first_reply_line(first))
    rows = first_reply_rows(first)
    if not rows:
        st.caption("No human replies in this window yet.")
        return
    fig = px.bar(pd.DataFrame(rows), x="queue", y="minutes", color="statistic", barmode="group",
                 height=260)
    st.plotly_chart(fig, config=CHART, key="learning_first_reply")


def _draft_use_chart(use: dict[str, Any]) -> None:
    st.markdown(draft_use_line(use))
    if not use["with_draft"]:
        st.caption("No resolutions with an AI draft yet.")
        return
    frame = pd.DataFrame(draft_use_rows(use))
    fig = px.pie(frame, names="use", values="count", hole=0.5, height=260)
    st.plotly_chart(fig, config=CHART, key="learning_draft_use")


def _csat_chart(table: dict[str, dict[str, Any]], title: str, what: str) -> None:
    st.markdown(f"**{title}**")
    if not table:
        st.caption("No ratings in this window yet.")
        return
    frame = pd.DataFrame(csat_rows(table, what))
    fig = px.bar(frame, x="avg CSAT", y=what, orientation="h", hover_data=["ratings"],
                 range_x=[0, 5], height=60 + 32 * len(frame))
    st.plotly_chart(fig, config=CHART, key=f"learning_csat_{what}")
