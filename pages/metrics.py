"""Metrics for managers: how much the AI resolves, how often it escalates, how customers rate it,
and how often the SLA targets are met.

Every number comes from ``DeskViews.metrics`` (which checks the viewer is a manager) over
the chosen window of ticket creation dates (UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import streamlit as st

from pages._auth import require_staff
from pages._learning_charts import learning_section
from pages._metrics_charts import over_time, quality, sla_chart, timing
from pages._service import get_service
from pages._ui import run_page
from support_core.access import Action
from support_core.csat import SupportMetrics
from support_core.display import daily_rows, day_window, kpi_cards
from support_core.models import utcnow


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
    learning_section(user, since, until)


run_page(main)
