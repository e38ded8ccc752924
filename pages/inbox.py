"""Handoff inbox: the queue on the left (live), the open ticket beside it.

A row click opens the ticket; the open ticket's id lives in ``st.session_state`` and every
widget of the detail (reply box, note, resolve) is keyed by that id, so a reordered or
refreshed queue can never leave a reply aimed at a different customer. The queue is a
fragment that re-reads every few seconds (new escalations, claims by others) without
re-running the page; SLA breaches and at-risk tickets sort first and are marked.
"""

from __future__ import annotations

import streamlit as st

from pages._auth import require_staff
from pages._inbox_detail import detail
from pages._service import get_service
from pages._ui import live, run_page
from support_core.access import Action, Principal
from support_core.inbox_view import open_ticket, queue_rows
from support_core.models import Queue
from support_core.views import InboxView

OPEN = "inbox_open"  # the handoff id of the open ticket
TABLE = "inbox_table_key"  # the queue table's current widget key
QUEUES = [Queue.TIER1, Queue.TIER2, Queue.MANAGER]


def queue_counts(counts: dict[str, dict[str, int]]) -> None:
    for col, q in zip(st.columns(len(QUEUES)), QUEUES, strict=True):
        count = counts.get(q.value, {"queued": 0, "claimed": 0})
        col.metric(q.value, count["queued"], delta=f"{count['claimed']} claimed",
                   delta_color="off", delta_arrow="off", border=True,
                   help="Tickets waiting to be claimed (and already claimed) in this queue.")


def queue_panel(user: Principal, view: InboxView, queue: Queue | None) -> None:
    """The live queue: re-read on a timer; a click on a row opens that ticket."""
    views = get_service().views
    queue_counts(views.queue_counts(user))
    rows = views.inbox(user, view, queue)
    if not rows:
        st.info("Nothing here right now. Escalated customer conversations appear in this inbox.")
        return
    ids = [r.handoff_id for r in rows]
    st.session_state[OPEN] = open_ticket(rows, st.session_state.get(OPEN))
    # a new key when the rows change: a selection made on the old order never carries over
    st.session_state[TABLE] = f"queue_{abs(hash(tuple(ids)))}"
    event = st.dataframe(
        queue_rows(rows, st.session_state[OPEN]), hide_index=True, on_select="rerun",
        selection_mode="single-row",
        key=st.session_state[TABLE], height=min(38 + 35 * len(rows), 560),
        column_config={"": st.column_config.TextColumn(width=20),
                       "reason": st.column_config.TextColumn(width="large")},
    )  # fmt: skip
    picked = event.selection.rows
    if picked and ids[picked[0]] != st.session_state[OPEN]:
        st.session_state[OPEN] = ids[picked[0]]
        st.rerun(scope="app")  # the detail beside the queue shows the new ticket


def main() -> None:
    st.title("Handoff inbox")
    user = require_staff(Action.WORK_INBOX, "the handoff inbox")
    svc = get_service()
    top = st.columns([3, 2], vertical_alignment="bottom")
    view = top[0].segmented_control("View", list(InboxView), format_func=lambda v: v.value,
                                    default=InboxView.OPEN, key="inbox_view",
                                    persist_state="session") or InboxView.OPEN  # fmt: skip
    queue = top[1].segmented_control("Queue", QUEUES, format_func=lambda q: q.value,
                                     key="inbox_queue", persist_state="session")  # fmt: skip
    left, right = st.columns([5, 6], gap="medium")
    with left:
        live(queue_panel, svc.settings.live_refresh_seconds)(user, view, queue)
    with right:
        if handoff_id := st.session_state.get(OPEN):
            detail(user, handoff_id)


run_page(main)
