"""The learning loop on the pages: knowledge gaps (Knowledge base page), the what-if replay
of router thresholds and the manager charts (Metrics page), and article citations in the
inbox. Each page calls one function from here; the logic is in ``support_core.learning``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from pages._service import done, get_service, show_error
from support_core.display import duration, pct
from support_core.errors import DeskpilotError
from support_core.learning.gaps import article_markdown
from support_core.learning.records import Gap, GapStatus
from support_core.models import HandoffPackage
from support_core.router import RouterThresholds

CHART = {"displayModeBar": False}


# ----------------------------------------------------------------------------- inbox
def cite_picker(h: HandoffPackage) -> list[str]:
    """Articles the agent cites in the reply (the AI's sources are offered first)."""
    infos = get_service().kb.list_articles()
    titles = {a.article_id: a.title for a in infos}
    first = [s.article_id for s in (h.draft.sources if h.draft else []) if s.article_id in titles]
    options = list(dict.fromkeys([*first, *titles]))
    picked: list[str] = st.multiselect(
        "Cite knowledge-base articles", options, format_func=lambda a: titles.get(a, a),
        key=f"cite_{h.handoff_id}", placeholder="Articles you used to answer (optional)",
        help="Citations teach search which article answers this kind of question.",
    )
    return picked


# ----------------------------------------------------------------------------- knowledge gaps
def knowledge_gaps() -> None:
    """Questions people had to answer, grouped, with a publish preview per open gap."""
    st.subheader("Knowledge gaps")
    st.caption("Resolved tickets where the AI could not answer, or the agent discarded or "
               "heavily edited its draft, grouped by similar question.")
    try:
        gaps = get_service().learning.gaps()
    except DeskpilotError as exc:
        show_error(exc)
        return
    if not gaps:
        st.info("No knowledge gaps yet: they appear when agents resolve tickets the AI "
                "could not answer.")
        return
    show_closed = st.toggle("Show published and dismissed gaps", key="gaps_closed")
    for gap in gaps:
        if gap.status is GapStatus.OPEN or show_closed:
            _gap_card(gap)


def _gap_card(gap: Gap) -> None:
    label = f"{gap.suggested_title} · {gap.count} ticket(s) · {gap.status.value}"
    with st.expander(label, expanded=gap.status is GapStatus.OPEN):
        st.markdown("**Customers asked**\n\n" + "\n".join(f"- {q}" for q in gap.questions))
        st.markdown("**Agents answered**")
        for answer in gap.agent_answers:
            st.markdown(f"> {answer}")
        if gap.status is not GapStatus.OPEN:
            st.caption(f"{gap.status.value}" + (f" as article `{gap.article_id}`"
                                                if gap.article_id else ""))
            return
        title = st.text_input("Article title", gap.suggested_title, key=f"gap_title_{gap.gap_id}")
        body = st.text_area("Answer (edit before publishing)",
                            gap.agent_answers[-1] if gap.agent_answers else "",
                            key=f"gap_body_{gap.gap_id}", height=140)
        with st.container(border=True):
            st.caption("Preview of the article")
            st.markdown(article_markdown(gap, title, body).split("---", 2)[-1])
        row = st.container(horizontal=True)
        if row.button("Publish as article", key=f"gap_publish_{gap.gap_id}", type="primary",
                      icon=":material/publish:"):
            try:
                _, article_id = get_service().learning.publish(gap.gap_id, title=title, body=body)
            except DeskpilotError as exc:
                show_error(exc)
                return
            done(f"Published “{title}” as article {article_id}.")
        if row.button("Dismiss", key=f"gap_dismiss_{gap.gap_id}"):
            get_service().learning.dismiss(gap.gap_id)
            done("Gap dismissed.")


# ----------------------------------------------------------------------------- metrics
def learning_section(since: datetime, until: datetime) -> None:
    """First-reply times, CSAT by reason and signal, draft use, and the replay panel."""
    svc = get_service()
    data = svc.learning.metrics(svc.outcomes, since, until)
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
    st.markdown(f"**Time to first human reply** · median {duration(first['median_seconds'])}, "
                f"p90 {duration(first['p90_seconds'])}, {first['waiting']} still waiting")
    rows = [{"queue": q, "statistic": stat, "minutes": v[f"{stat}_seconds"] / 60}
            for q, v in first["per_queue"].items() for stat in ("median", "p90")
            if v[f"{stat}_seconds"] is not None]
    if not rows:
        st.caption("No human replies in this window yet.")
        return
    fig = px.bar(pd.DataFrame(rows), x="queue", y="minutes", color="statistic", barmode="group",
                 height=260)
    st.plotly_chart(fig, config=CHART, key="learning_first_reply")


def _draft_use_chart(use: dict[str, Any]) -> None:
    st.markdown(f"**AI drafts in {use['resolutions']} resolution(s)** · "
                f"as-is {pct(use['share']['as_is'])}, edited {pct(use['share']['edited'])}, "
                f"discarded {pct(use['share']['discarded'])}")
    if not use["with_draft"]:
        st.caption("No resolutions with an AI draft yet.")
        return
    frame = pd.DataFrame([{"use": k.replace("_", "-"), "count": v}
                          for k, v in use["counts"].items() if k != "no_draft"])
    fig = px.pie(frame, names="use", values="count", hole=0.5, height=260)
    st.plotly_chart(fig, config=CHART, key="learning_draft_use")


def _csat_chart(table: dict[str, dict[str, Any]], title: str, what: str) -> None:
    st.markdown(f"**{title}**")
    if not table:
        st.caption("No ratings in this window yet.")
        return
    frame = pd.DataFrame([{what: k, "avg CSAT": v["avg_csat"], "ratings": v["count"]}
                          for k, v in table.items()])
    fig = px.bar(frame, x="avg CSAT", y=what, orientation="h", hover_data=["ratings"],
                 range_x=[0, 5], height=60 + 32 * len(frame))
    st.plotly_chart(fig, config=CHART, key=f"learning_csat_{what}")


# ----------------------------------------------------------------------------- replay
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
    delta = report.proposed.escalation_rate - report.current.escalation_rate
    c.metric("Escalation rate proposed", pct(report.proposed.escalation_rate),
             delta=f"{delta * 100:+.1f} pts", delta_color="inverse", border=True)
    rows = [{"rules": side, "queue": q, "tickets": n}
            for side, mix in (("current", report.current.queues),
                              ("proposed", report.proposed.queues)) for q, n in mix.items()]
    fig = px.bar(pd.DataFrame(rows), x="tickets", y="rules", color="queue", orientation="h",
                 height=200)
    st.plotly_chart(fig, config=CHART, key="replay_queues")
    if report.changed:
        st.markdown(f"**{len(report.changed)} ticket(s) would be decided differently**")
        st.dataframe(pd.DataFrame([c.model_dump() for c in report.changed]), hide_index=True)
    else:
        st.caption("No ticket's decision would change.")
