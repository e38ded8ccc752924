"""Under the customer's conversation: what they can do now (``ChatView.step``, decided in
``support_core.chat_view``): wait for a specialist, confirm the answer, or rate."""

from __future__ import annotations

import streamlit as st

from pages._service import done, get_service
from support_core.chat_view import NOT_SOLVED, ChatView, NextStep


def next_step(view: ChatView) -> None:
    """What the customer can do now: wait for a specialist, confirm the answer, or rate."""
    ticket = view.latest
    if ticket is None:
        return
    if view.step is NextStep.RATED:
        st.success(f"Your ticket is resolved. You rated it {view.score}/5 — thank you!")
    elif view.step is NextStep.RATE:
        with st.container(border=True):
            st.markdown("**Your ticket is resolved. How did we do?**")
            stars = st.feedback("stars", key=f"stars_{ticket.ticket_id}")
            comment = st.text_input("Anything to add? (optional)",
                                    key=f"comment_{ticket.ticket_id}")  # fmt: skip
            if st.button("Send rating", type="primary", disabled=stars is None):
                get_service().desk.rate(ticket.ticket_id, int(stars or 0) + 1, comment)
                done("Thank you for your rating!")
    elif view.step is NextStep.WAIT:
        st.info(view.waiting_note, icon=":material/support_agent:")
    elif view.step is NextStep.WITH_SPECIALIST:
        st.caption("A specialist is handling this conversation; write here if you need more.")
    elif view.step is NextStep.CHOOSE:
        st.caption("Pick the topic you mean, or type your answer below.")
        for column, label in zip(st.columns(len(view.choices)), view.choices, strict=True):
            if column.button(label, key=f"choose_{ticket.ticket_id}_{label}"):
                get_service().pipeline.process_message(ticket.customer_id, ticket.session_id,
                                                        label)
                st.rerun()
    elif view.step is NextStep.CONFIRM:
        if st.button("This solved my problem", icon=":material/check_circle:"):
            get_service().desk.customer_confirms(ticket.ticket_id)
            done("Glad that solved it!")
        st.caption(NOT_SOLVED)
