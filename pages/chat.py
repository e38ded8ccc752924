"""Customer chat: someone plays a customer; replies come from the pipeline or a specialist.

The conversation is a fragment that re-reads the ticket store every few seconds, so an
agent's reply from the Handoff inbox appears here without a click (and without re-running
the page or the pipeline). Other customers' ids are offered only to signed-in staff.
"""

from __future__ import annotations

import streamlit as st

from pages._auth import current_user
from pages._chat_next import next_step
from pages._service import get_service, show_error
from pages._ui import empty_kb_notice, live, render_message, run_page
from support_core.chat_view import (
    customer_choices,
    earlier_caption,
    earlier_rows,
    new_guest_id,
    new_session_id,
)
from support_core.errors import DeskpilotError


def switch_customer() -> None:
    """A returning customer continues their latest session; a new one starts fresh."""
    try:
        latest = get_service().views.latest_session(str(st.session_state.customer_id).strip())
    except DeskpilotError:
        latest = None
    st.session_state.session_id = latest or new_session_id()


def conversation(customer: str, session: str) -> None:
    """The live part: messages and the next step, re-read on a timer."""
    # .get: a timer run may arrive after the toggle's state was cleared by a page switch
    readout = bool(st.session_state.get("show_readout", True))
    view = get_service().views.chat(customer, session, readout=readout)
    for i, msg in enumerate(view.messages):
        render_message(msg, view.readouts.get(i))
    if not view.messages:
        st.caption("No messages yet. Ask anything below, e.g. *How do I reset my password?*")
    next_step(view)


def send(customer: str, session: str, text: str) -> None:
    with st.chat_message("user"):
        st.markdown(text)
    with st.chat_message("assistant"), st.spinner("Looking into it…"):
        try:
            get_service().pipeline.process_message(customer, session, text)
        except DeskpilotError as exc:
            show_error(exc)
            return
    st.rerun()


def controls() -> tuple[str, str]:
    """Who the customer is and which session they are in; returns (customer, session)."""
    known = get_service().views.customer_ids(current_user())
    choices = customer_choices(known, st.session_state.customer_id)
    left, mid, right = st.columns([3, 1, 2], vertical_alignment="bottom")
    if choices:  # staff: pick any customer
        left.selectbox("Customer id (pick one or type a new one)", choices, key="customer_id",
                       accept_new_options=True, on_change=switch_customer)  # fmt: skip
    else:
        left.text_input("Your customer id", key="customer_id", on_change=switch_customer)
    if mid.button("New session", icon=":material/add_comment:"):
        st.session_state.session_id = new_session_id()
    right.toggle("Show confidence & sentiment", key="show_readout",
                 help="Switch off for a customer-facing demo.", persist_state="session")
    return str(st.session_state.customer_id).strip(), st.session_state.session_id


def earlier_conversations(customer: str, session: str) -> None:
    """What the desk remembers about this customer from their other sessions."""
    earlier = get_service().views.earlier_tickets(customer, session)
    st.caption(earlier_caption(customer, session, earlier))
    if earlier:
        with st.expander("Earlier conversations"):
            st.dataframe(earlier_rows(earlier), hide_index=True)


def main() -> None:
    svc = get_service()
    st.session_state.setdefault("customer_id", new_guest_id())
    st.session_state.setdefault("session_id", new_session_id())
    st.session_state.setdefault("show_readout", True)
    st.title("Customer chat")
    if not svc.kb.list_articles():
        empty_kb_notice()
        st.stop()
    customer, session = controls()
    earlier_conversations(customer, session)
    live(conversation, svc.settings.live_refresh_seconds)(customer, session)
    if prompt := st.chat_input("Type your question…"):
        send(customer, session, prompt)


run_page(main)
