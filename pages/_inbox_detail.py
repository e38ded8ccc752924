"""The open ticket in the inbox: why it is here, the conversation, notes, the reply.

Every widget key carries the handoff id, so what is typed for one ticket can never be
sent to another.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from pages._learning_ui import cite_picker
from pages._ui import (
    done,
    get_service,
    hits_table,
    pct,
    priority_badge,
    render_message,
    since,
    sources_markdown,
)
from support_core.access import Action, Principal
from support_core.errors import AlreadyClaimed
from support_core.models import HandoffPackage, HandoffStatus, Role
from support_core.views import InboxRow


def header(row: InboxRow) -> None:
    h = row.handoff
    st.subheader(f"{h.customer_id} · {h.queue.value} queue")
    owner = f"claimed by **{h.claimed_by}**" if h.claimed_by else "waiting in the queue"
    demo = " · :orange-badge[demo data]" if h.is_demo else ""
    raised = " (raised after an SLA breach)" if h.priority != row.base_priority else ""
    sla = ":red-badge[SLA breached]" if row.sla.breached else (
        ":orange-badge[SLA at risk]" if row.sla.at_risk else "")  # fmt: skip
    st.markdown(f"{priority_badge(h.priority)}{raised} {sla} · waiting **{since(h.created_at)}**"
                f" · {owner} · ticket `{h.ticket_id}`{demo}")  # fmt: skip
    st.caption(f"First response due {row.sla.first_response_due:%Y-%m-%d %H:%M} UTC · "
               f"resolution due {row.sla.resolution_due:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    st.warning(f"**Why it's here:** {h.reason}", icon=":material/priority_high:")
    st.info(f"**Suggested action:** {h.suggested_action}", icon=":material/lightbulb:")
    for err in h.stage_errors:
        st.error(f"Stage **{err.stage}** failed: {err.error}")


def actions(h: HandoffPackage, user: Principal) -> None:
    """Claim (atomic: the loser is told who won), return, reassign (managers), trace."""
    desk = get_service().desk
    row = st.container(horizontal=True, vertical_alignment="bottom")
    mine = h.status is HandoffStatus.CLAIMED and h.claimed_by == user.name
    if h.status is HandoffStatus.QUEUED and row.button("Claim", type="primary"):
        try:
            desk.claim(h.handoff_id, user)
            done("Claimed: the ticket is yours.")
        except AlreadyClaimed as exc:
            st.warning(f"Too late: **{exc.claimed_by}** already claimed this ticket.")
    if h.status is HandoffStatus.CLAIMED and (mine or user.can(Action.REASSIGN)):
        if row.button("Return to queue"):
            desk.release(h.handoff_id, user)
            done("Returned to the queue.")
    if user.can(Action.REASSIGN) and h.status is not HandoffStatus.RESOLVED:
        agents = [a for a in get_service().views.agents(user) if a != h.claimed_by]
        to = row.selectbox("Reassign to", agents, index=None, key=f"reassign_{h.handoff_id}",
                           width=180)  # fmt: skip
        if to and row.button("Reassign"):
            desk.reassign(h.handoff_id, to, user)
            done(f"Reassigned to {to}.")
    row.page_link("pages/trace.py", label="Ticket trace", icon=":material/timeline:",
                  query_params={"ticket": h.ticket_id})  # fmt: skip
    if h.status is HandoffStatus.CLAIMED and not mine:
        st.warning(f"**{h.claimed_by}** is handling this ticket.")


def sentiment_chart(h: HandoffPackage) -> None:
    trail = h.sentiment_trail
    fig = go.Figure(go.Scatter(x=list(range(1, len(trail) + 1)),
                               y=[s.frustration_score for s in trail], mode="lines+markers+text",
                               text=[s.level.value for s in trail], textposition="top center"))
    fig.update_layout(height=180, margin=dict(l=10, r=10, t=10, b=10), showlegend=False,
                      yaxis=dict(range=[0, 1.15], title="frustration"),
                      xaxis=dict(title="message", dtick=1))  # fmt: skip
    st.plotly_chart(fig, config={"displayModeBar": False})


def context(h: HandoffPackage) -> None:
    with st.container(height=360 if len(h.conversation) > 3 else "content"):
        for msg in h.conversation:
            render_message(msg)
    c = h.customer
    st.caption(f"Customer: {c.total_interactions} messages in history · "
               f"{c.previous_escalations} earlier escalation(s) · recent topics: "
               f"{', '.join(c.recent_topics) or 'none'}")  # fmt: skip
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


def notes(h: HandoffPackage, user: Principal) -> None:
    """Private notes between staff: never part of the customer's conversation."""
    with st.expander(f"Internal notes ({len(h.notes)}) · never shown to the customer",
                     expanded=bool(h.notes)):  # fmt: skip
        for n in h.notes:
            st.markdown(f"**{n.author}** · {n.at:%Y-%m-%d %H:%M} UTC  \n{n.text}")
        key = f"note_text_{h.handoff_id}"
        st.text_area("Add a note for colleagues", key=key, height=80)
        if st.button("Save note", icon=":material/sticky_note_2:", key=f"save_{key}"):
            get_service().desk.add_note(h.handoff_id, user, st.session_state[key])
            del st.session_state[key]
            done("Note saved (staff only).")


def respond(h: HandoffPackage, user: Principal) -> None:
    """Edit the AI draft, start from scratch or insert a macro, send it, then resolve."""
    svc, key = get_service(), f"reply_{h.handoff_id}"
    answered = any(m.role is Role.AGENT for m in h.conversation)
    st.session_state.setdefault(key, h.draft.text if h.draft and not answered else "")
    macros = [m.name for m in svc.views.macros(user)]
    if macros:
        row = st.container(horizontal=True, vertical_alignment="bottom")
        name = row.selectbox("Macro", macros, key=f"macro_{h.handoff_id}", width=260)
        row.button("Insert macro", on_click=lambda: st.session_state.update(
            {key: svc.desk.fill_macro(str(name), h.handoff_id, user)}))  # fmt: skip
    st.text_area("Reply to the customer (the AI draft, ready to edit)", key=key, height=180)
    cited = cite_picker(h)
    row = st.container(horizontal=True)
    send = row.button("Send reply", type="primary", icon=":material/send:")
    row.button("Start from scratch", on_click=lambda: st.session_state.update({key: ""}))
    row.button("Use the AI draft", disabled=h.draft is None,
               on_click=lambda: st.session_state.update({key: h.draft.text if h.draft else ""}))
    if send:
        svc.desk.reply(h.handoff_id, user, st.session_state[key], cited_articles=cited)
        del st.session_state[key]
        done("Reply sent to the customer.")
    row = st.container(horizontal=True, vertical_alignment="bottom")
    note = row.text_input("Resolution note (optional)", key=f"note_{h.handoff_id}", width=360)
    if row.button("Resolve ticket", icon=":material/task_alt:"):
        svc.desk.resolve(h.handoff_id, user, note)
        done("Ticket resolved; the customer will be asked for a rating.")


def detail(user: Principal, handoff_id: str) -> None:
    row = get_service().views.handoff(user, handoff_id)  # fresh: others may have claimed it
    h = row.handoff
    header(row)
    actions(h, user)
    notes(h, user)
    context(h)
    if h.status is HandoffStatus.CLAIMED and h.claimed_by == user.name:
        respond(h, user)
