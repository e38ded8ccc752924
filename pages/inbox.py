"""Handoff inbox: agents claim escalated tickets and answer them with the full context.

The package is laid out to be read in seconds: why it is here and what to do first,
then the conversation and the customer's mood, then the AI draft and its evidence.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from pages._ui import (
    done,
    duration,
    get_service,
    hits_table,
    pct,
    priority_badge,
    render_message,
    run_page,
    show_error,
    since,
    sources_markdown,
)
from support_core.errors import AlreadyClaimed, DeskpilotError
from support_core.models import HandoffPackage, HandoffStatus, Queue, Role

VIEWS = ["Open tickets", "Claimed by me", "Resolved"]
QUEUES = [Queue.TIER1, Queue.TIER2, Queue.MANAGER]


def load(view: str, queue: Queue | None, agent: str) -> list[HandoffPackage]:
    desk = get_service().desk
    if view == "Claimed by me":
        return desk.queue(queue, HandoffStatus.CLAIMED, claimed_by=agent) if agent else []
    if view == "Resolved":
        return desk.queue(queue, HandoffStatus.RESOLVED)
    return [h for h in desk.queue(queue) if h.status is not HandoffStatus.RESOLVED]


def waiting(h: HandoffPackage) -> str:
    if h.resolved_at:
        return f"resolved after {duration((h.resolved_at - h.created_at).total_seconds())}"
    return since(h.created_at)


def label(h: HandoffPackage) -> str:
    owner = f" · {h.claimed_by}" if h.claimed_by else ""
    return f"{h.priority.value} · {h.queue.value} · {waiting(h)} · {h.customer_id}{owner}"


def overview(handoffs: list[HandoffPackage]) -> None:
    rows = [
        {
            "priority": h.priority.value,
            "queue": h.queue.value,
            "waiting": waiting(h),
            "customer": h.customer_id + (" (demo)" if h.is_demo else ""),
            "reason": h.reason,
            "status": h.status.value,
            "agent": h.claimed_by or "",
        }
        for h in handoffs
    ]
    st.dataframe(rows, hide_index=True, height=min(38 + 35 * len(rows), 300))


def sentiment_chart(h: HandoffPackage) -> None:
    trail = h.sentiment_trail
    fig = go.Figure(
        go.Scatter(
            x=list(range(1, len(trail) + 1)),
            y=[s.frustration_score for s in trail],
            mode="lines+markers+text",
            text=[s.level.value for s in trail],
            textposition="top center",
        )
    )
    fig.update_layout(
        height=200,
        margin=dict(l=10, r=10, t=10, b=10),
        showlegend=False,
        yaxis=dict(range=[0, 1.15], title="frustration"),
        xaxis=dict(title="message", dtick=1),
    )
    st.plotly_chart(fig, config={"displayModeBar": False})


def header(h: HandoffPackage) -> None:
    st.subheader(f"{h.customer_id} · {h.queue.value} queue")
    owner = f"claimed by **{h.claimed_by}**" if h.claimed_by else "waiting in the queue"
    demo = " · :orange-badge[demo data]" if h.is_demo else ""
    st.markdown(
        f"{priority_badge(h.priority)} · waiting **{waiting(h)}** · {owner} · "
        f"ticket `{h.ticket_id}`{demo}"
    )
    left, right = st.columns(2)
    left.warning(f"**Why it's here:** {h.reason}", icon=":material/priority_high:")
    right.info(f"**Suggested action:** {h.suggested_action}", icon=":material/lightbulb:")
    c = h.customer
    st.caption(
        f"Customer: {c.total_interactions} messages in history · {c.previous_escalations} "
        f"earlier escalation(s) · recent topics: {', '.join(c.recent_topics) or 'none'}"
    )
    for err in h.stage_errors:
        st.error(f"Stage **{err.stage}** failed: {err.error}")


def actions(h: HandoffPackage, agent: str) -> None:
    """Claim (atomic: the loser is told who won), return to the queue, open the trace."""
    desk = get_service().desk
    row = st.container(horizontal=True, vertical_alignment="center")
    mine = h.status is HandoffStatus.CLAIMED and h.claimed_by == agent
    if h.status is HandoffStatus.QUEUED and row.button("Claim", type="primary", disabled=not agent):
        try:
            desk.claim(h.handoff_id, agent)
            done("Claimed: the ticket is yours.")
        except AlreadyClaimed as exc:
            st.warning(f"Too late: **{exc.claimed_by}** already claimed this ticket.")
    if mine and row.button("Return to queue"):
        desk.release(h.handoff_id, agent)
        done("Returned to the queue.")
    row.page_link("pages/trace.py", label="Ticket trace", icon=":material/timeline:",
                  query_params={"ticket": h.ticket_id})
    if h.status is HandoffStatus.CLAIMED and not mine:
        st.warning(f"**{h.claimed_by}** is handling this ticket.")


def context(h: HandoffPackage) -> None:
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Conversation**")
        with st.container(height=380 if len(h.conversation) > 3 else "content"):
            for msg in h.conversation:
                render_message(msg)
    with right:
        st.markdown("**Sentiment trail**")
        sentiment_chart(h)
        if h.sentiment_trail:
            last = h.sentiment_trail[-1]
            st.caption(f"Now {last.level.value}, frustration {last.frustration_score:.2f} · "
                       f"signals: {', '.join(last.signals) or 'none'}")
        if h.draft:
            st.markdown(
                f"**AI draft** · confidence {pct(h.draft.confidence)} · "
                f"{'answered' if h.draft.answered else 'no answer in the KB'}"
            )
            if h.draft.guard_failures:  # the output guard held this model reply back
                st.warning("Not sent: " + "; ".join(h.draft.guard_failures))
            if h.draft.sources:
                st.markdown(sources_markdown([s.model_dump() for s in h.draft.sources]))
    with st.expander(f"Retrieved documents ({len(h.retrieved)}) with their scores"):
        hits_table(h.retrieved)


def respond(h: HandoffPackage, agent: str) -> None:
    """Edit the AI draft (or start from scratch), send it, then resolve."""
    key = f"reply_{h.handoff_id}"
    answered = any(m.role is Role.AGENT for m in h.conversation)
    draft = h.draft.text if h.draft and not answered else ""
    st.session_state.setdefault(key, draft)
    st.text_area("Reply to the customer (the AI draft, ready to edit)", key=key, height=180)
    row = st.container(horizontal=True)
    send = row.button("Send reply", type="primary", icon=":material/send:")
    row.button("Start from scratch", on_click=lambda: st.session_state.update({key: ""}))
    row.button(
        "Use the AI draft",
        disabled=h.draft is None,
        on_click=lambda: st.session_state.update({key: h.draft.text if h.draft else ""}),
    )
    if send:
        get_service().desk.reply(h.handoff_id, agent, st.session_state[key])
        del st.session_state[key]
        done("Reply sent to the customer.")
    row = st.container(horizontal=True, vertical_alignment="bottom")
    note = row.text_input("Resolution note (optional)", key=f"note_{h.handoff_id}", width=480)
    if row.button("Resolve ticket", icon=":material/task_alt:"):
        get_service().desk.resolve(h.handoff_id, agent, note)
        done("Ticket resolved; the customer will be asked for a rating.")


def queue_counts(counts: dict[str, dict[str, int]]) -> None:
    for col, q in zip(st.columns(len(QUEUES)), QUEUES, strict=True):
        count = counts.get(q.value, {"queued": 0, "claimed": 0})
        col.metric(q.value, count["queued"], delta=f"{count['claimed']} claimed",
                   delta_color="off", delta_arrow="off", border=True,
                   help="Tickets waiting to be claimed (and already claimed) in this queue.")


def filters() -> tuple[str, str, Queue | None]:
    """The agent's name and which tickets to list; all kept across page switches."""
    top = st.columns([2, 3, 2], vertical_alignment="bottom")
    agent = top[0].text_input("Your agent name", key="agent", placeholder="e.g. sam",
                              persist_state="session")
    view = top[1].segmented_control("View", VIEWS, default=VIEWS[0], key="inbox_view",
                                    persist_state="session")
    queue = top[2].segmented_control("Queue", QUEUES, format_func=lambda q: q.value,
                                     key="inbox_queue", persist_state="session")
    return agent.strip(), view or VIEWS[0], queue


def main() -> None:
    svc = get_service()
    st.session_state.setdefault("agent", "")
    st.title("Handoff inbox")

    queue_counts(svc.store.queue_counts())
    agent, view, queue = filters()
    if not agent:
        st.info("Type your agent name to claim and answer tickets.")

    handoffs = load(view, queue, agent)
    if not handoffs:
        st.info("Nothing here right now. Escalated customer conversations appear in this inbox.")
        st.stop()
    overview(handoffs)
    labels = {h.handoff_id: label(h) for h in handoffs}
    chosen = st.selectbox(
        "Open ticket", list(labels), format_func=labels.__getitem__, key="inbox_open",
        persist_state="session",
    )
    h = svc.store.get_handoff(chosen)  # fresh: another agent may have claimed it meanwhile
    st.divider()
    header(h)
    try:
        actions(h, agent)
        context(h)
        if h.status is HandoffStatus.CLAIMED and h.claimed_by == agent:
            respond(h, agent)
    except DeskpilotError as exc:  # e.g. an agent name with spaces: say so next to the form
        show_error(exc)


run_page(main)
