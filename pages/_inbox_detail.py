"""The open ticket in the inbox: why it is here, what the agent can do, the conversation.

Every widget key carries the handoff id, so what is typed for one ticket can never be
sent to another. The notes and the reply box are in ``pages._inbox_reply``.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from pages._inbox_reply import notes, respond
from pages._service import done, get_service
from pages._ui import hits_table, render_message, sources_markdown
from support_core.access import Principal
from support_core.display import pct
from support_core.errors import AlreadyClaimed
from support_core.inbox_view import (
    AgentOptions,
    agent_options,
    customer_line,
    due_line,
    sentiment_points,
    status_line,
)
from support_core.models import HandoffPackage
from support_core.views import InboxRow


def header(row: InboxRow) -> None:
    h = row.handoff
    st.subheader(f"{h.customer_id} · {h.queue.value} queue")
    st.markdown(status_line(row))
    st.caption(due_line(row))
    st.warning(f"**Why it's here:** {h.reason}", icon=":material/priority_high:")
    st.info(f"**Suggested action:** {h.suggested_action}", icon=":material/lightbulb:")
    for err in h.stage_errors:
        st.error(f"Stage **{err.stage}** failed: {err.error}")


def actions(h: HandoffPackage, user: Principal, can: AgentOptions) -> None:
    """Claim (atomic: the loser is told who won), return, reassign (managers), trace."""
    svc = get_service()
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if can.claim and row.button("Claim", type="primary"):
        try:
            svc.desk.claim(h.handoff_id, user)
            done("Claimed: the ticket is yours.")
        except AlreadyClaimed as exc:
            st.warning(f"Too late: **{exc.claimed_by}** already claimed this ticket.")
    if can.release and row.button("Return to queue"):
        svc.desk.release(h.handoff_id, user)
        done("Returned to the queue.")
    if can.reassign_to is not None:
        to = row.selectbox("Reassign to", can.reassign_to, index=None,
                           key=f"reassign_{h.handoff_id}", width=180)  # fmt: skip
        if to and row.button("Reassign"):
            svc.desk.reassign(h.handoff_id, to, user)
            done(f"Reassigned to {to}.")
    row.page_link("pages/trace.py", label="Ticket trace", icon=":material/timeline:",
                  query_params={"ticket": h.ticket_id})  # fmt: skip
    if can.held_by_other:
        st.warning(f"**{can.held_by_other}** is handling this ticket.")


def sentiment_chart(h: HandoffPackage) -> None:
    fig = go.Figure(go.Scatter(**sentiment_points(h), mode="lines+markers+text",
                               textposition="top center"))  # fmt: skip
    fig.update_layout(height=180, margin=dict(l=10, r=10, t=10, b=10), showlegend=False,
                      yaxis=dict(range=[0, 1.15], title="frustration"),
                      xaxis=dict(title="message", dtick=1))  # fmt: skip
    st.plotly_chart(fig, config={"displayModeBar": False})


def context(h: HandoffPackage) -> None:
    with st.container(height=360 if len(h.conversation) > 3 else "content"):
        for msg in h.conversation:
            render_message(msg)
    st.caption(customer_line(h))
    with st.expander("Sentiment trail, AI draft evidence and retrieved documents"):
        sentiment_chart(h)
        if h.draft:
            st.markdown(f"**AI draft** · confidence {pct(h.draft.confidence)} · "
                        f"{'answered' if h.draft.answered else 'no answer in the KB'}")
            if h.draft_note:
                st.caption(h.draft_note)
            if h.draft.guard_failures:  # the output guard held this model reply back
                st.warning("Not sent: " + "; ".join(h.draft.guard_failures))
            if h.draft.sources:
                st.markdown(sources_markdown(h.draft.sources))
        hits_table(h.retrieved)


def detail(user: Principal, handoff_id: str) -> None:
    views = get_service().views
    row = views.handoff(user, handoff_id)  # fresh: others may have claimed it
    h = row.handoff
    can = agent_options(h, user, lambda: views.agents(user))
    header(row)
    actions(h, user, can)
    notes(h, user)
    context(h)
    if can.reply:
        respond(h, user)
