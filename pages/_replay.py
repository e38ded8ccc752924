"""What if the escalation rules changed: sliders for the router thresholds, and past tickets
re-decided from their stored inputs by the router itself (``LearningLoop.replay``)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._service import get_service, show_error
from support_core.display import pct
from support_core.errors import DeskpilotError
from support_core.metrics_view import replay_delta, replay_queue_rows
from support_core.router import RouterThresholds

CHART = {"displayModeBar": False}

SLIDERS: dict[str, tuple[str, float, float, float]] = {  # label, min, max, step
    "confidence_floor": ("Confidence floor (below: tier1)", 0.0, 1.0, 0.05),
    "confidence_threshold": ("Confidence threshold (with high frustration)", 0.0, 1.0, 0.05),
    "frustration_threshold": ("Frustration threshold", 0.0, 1.0, 0.05),
    "repeat_contact_threshold": ("Repeat contacts -> tier2", 1, 10, 1),
}


def replay_panel() -> None:
    """Sliders for the router thresholds; past tickets re-decided by the router itself."""
    svc = get_service()
    st.subheader("What if the escalation rules changed?")
    st.caption("Past tickets are re-decided from their stored inputs by the router itself; "
               "nothing is saved or sent.")
    current = RouterThresholds.from_settings(svc.settings)
    cols = st.columns(len(SLIDERS) + 1)
    proposed: dict[str, float] = {}
    for col, (name, (label, lo, hi, step)) in zip(cols, SLIDERS.items(), strict=False):
        value = getattr(current, name)
        proposed[name] = col.slider(label, lo, hi, value, step, key=f"replay_{name}")
    days = cols[-1].number_input("Days back", 1, 365, 30, key="replay_days")
    try:
        report = svc.learning.replay(proposed, days=days)
    except DeskpilotError as exc:
        show_error(exc)
        return
    if not report.tickets:
        st.info("No routed tickets in this period to replay.")
        return
    a, b, c = st.columns(3)
    a.metric("Tickets replayed", report.tickets, border=True)
    b.metric("Escalation rate now", pct(report.current.escalation_rate), border=True)
    c.metric("Escalation rate proposed", pct(report.proposed.escalation_rate),
             delta=replay_delta(report), delta_color="inverse", border=True)
    fig = px.bar(pd.DataFrame(replay_queue_rows(report)), x="tickets", y="rules", color="queue",
                 orientation="h", height=200)
    st.plotly_chart(fig, config=CHART, key="replay_queues")
    if report.changed:
        st.markdown(f"**{len(report.changed)} ticket(s) would be decided differently**")
        st.dataframe(pd.DataFrame([c.model_dump() for c in report.changed]), hide_index=True)
    else:
        st.caption("No ticket's decision would change.")
