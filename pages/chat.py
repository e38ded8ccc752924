"""Customer chat: someone plays a customer; replies come from the pipeline or a specialist.

The conversation is re-read from the ticket store on every rerun, so an agent's
reply from the Handoff inbox shows up here after a rerun (or the Refresh button).
"""

from __future__ import annotations

import uuid

import streamlit as st

from pages._ui import (
    done,
    empty_kb_notice,
    get_service,
    pct,
    render_message,
    run_page,
    show_error,
)
from support_core.errors import DeskpilotError
from support_core.models import Message, Role, Ticket, TicketStatus
from support_core.wiring import Service


def new_session_id() -> str:
    return f"web-{uuid.uuid4().hex[:8]}"


def switch_customer() -> None:
    """A returning customer continues their latest session; a new one starts fresh."""
    try:
        latest = get_service().store.latest_ticket(str(st.session_state.customer_id).strip())
    except DeskpilotError:
        latest = None
    st.session_state.session_id = latest.session_id if latest else new_session_id()


def readout(msg: Message, ticket: Ticket | None, last_reply: bool) -> str | None:
    """The discreet line under an AI reply: its confidence, and the customer's mood."""
    if msg.role is not Role.ASSISTANT or not st.session_state.show_readout or ticket is None:
        return None
    parts = []
    if msg.metadata.get("confidence") is not None:
        parts.append(f"confidence {pct(msg.metadata['confidence'])}")
    level, frustration = msg.metadata.get("sentiment_level"), msg.metadata.get("frustration")
    if level is not None and frustration is not None:
        parts.append(f"sentiment {level} (frustration {frustration:.2f})")
    if last_reply and ticket.escalation and ticket.escalation.should_escalate:
        parts.append(f"escalated to {ticket.escalation.queue.value}: {ticket.escalation.reason}")
    return " · ".join(parts) or None


def conversation(tickets: list[Ticket], customer: str, session: str) -> None:
    by_id = {t.ticket_id: t for t in tickets}
    messages = get_service().desk.conversation(customer, session)
    last_reply = {
        m.metadata.get("ticket_id"): i for i, m in enumerate(messages) if m.role is Role.ASSISTANT
    }
    for i, msg in enumerate(messages):
        ticket = by_id.get(msg.metadata.get("ticket_id", ""))
        render_message(
            msg, readout(msg, ticket, last_reply.get(msg.metadata.get("ticket_id")) == i)
        )
    if not messages:
        st.caption("No messages yet. Ask anything below, e.g. *How do I reset my password?*")


def next_step(ticket: Ticket) -> None:
    """What the customer can do now: wait for a specialist, confirm the answer, or rate."""
    svc = get_service()
    handoff = svc.store.active_handoff(ticket.ticket_id)
    if ticket.status is TicketStatus.RESOLVED:
        rate(ticket)
    elif handoff is not None:
        who = f"{handoff.claimed_by} has your conversation" if handoff.claimed_by else "in line"
        if ticket.status is TicketStatus.ESCALATED:
            st.info(f"A support specialist will take over from here ({who}). "
                    "Their reply will appear here.", icon=":material/support_agent:")
        else:
            st.caption("A specialist is handling this conversation; write here if you need more.")
        st.button("Refresh", icon=":material/refresh:")
    elif ticket.status is TicketStatus.AWAITING_CUSTOMER:
        if st.button("This solved my problem", icon=":material/check_circle:"):
            svc.desk.customer_confirms(ticket.ticket_id)
            done("Glad that solved it!")


def rate(ticket: Ticket) -> None:
    svc = get_service()
    rating = svc.outcomes.rating(ticket.ticket_id)
    if rating is not None:
        st.success(f"Your ticket is resolved. You rated it {rating.score}/5 — thank you!")
        return
    with st.container(border=True):
        st.markdown("**Your ticket is resolved. How did we do?**")
        stars = st.feedback("stars", key=f"stars_{ticket.ticket_id}")
        comment = st.text_input("Anything to add? (optional)", key=f"comment_{ticket.ticket_id}")
        if st.button("Send rating", type="primary", disabled=stars is None):
            svc.desk.rate(ticket.ticket_id, int(stars or 0) + 1, comment)
            done("Thank you for your rating!")


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


def controls(svc: Service) -> tuple[str, str]:
    """Who the customer is and which session they are in; returns (customer, session)."""
    known = set(svc.store.customer_ids())
    left, mid, right = st.columns([3, 1, 2], vertical_alignment="bottom")
    left.selectbox(
        "Customer id (pick one or type a new one)",
        sorted(known | {st.session_state.customer_id}),
        key="customer_id",
        accept_new_options=True,
        on_change=switch_customer,
        persist_state="session",
    )
    if mid.button("New session", icon=":material/add_comment:"):
        st.session_state.session_id = new_session_id()
    right.toggle(
        "Show confidence & sentiment",
        key="show_readout",
        help="Switch off for a customer-facing demo.",
        persist_state="session",
    )
    return st.session_state.customer_id, st.session_state.session_id


def earlier_conversations(svc: Service, customer: str, session: str) -> None:
    """What the desk remembers about this customer from their other sessions."""
    earlier = [t for t in svc.store.list_tickets(customer_id=customer) if t.session_id != session]
    st.caption(f"Session `{session}` · {len(earlier)} earlier conversation(s) "
               f"remembered for `{customer}`")
    if earlier:
        with st.expander("Earlier conversations"):
            rows = [{"started": f"{t.created_at:%Y-%m-%d %H:%M}", "subject": t.subject,
                     "status": t.status.value} for t in earlier]
            st.dataframe(rows, hide_index=True)


def main() -> None:
    svc = get_service()
    st.session_state.setdefault("customer_id", f"guest-{uuid.uuid4().hex[:4]}")
    st.session_state.setdefault("session_id", new_session_id())
    st.session_state.setdefault("show_readout", True)
    st.title("Customer chat")
    if not svc.kb.list_articles():
        empty_kb_notice()
        st.stop()
    customer, session = controls(svc)
    earlier_conversations(svc, customer, session)
    tickets = svc.store.list_tickets(customer_id=customer, session_id=session)
    conversation(tickets, customer, session)
    if tickets:
        next_step(tickets[0])
    if prompt := st.chat_input("Type your question…"):
        send(customer, session, prompt)


run_page(main)
