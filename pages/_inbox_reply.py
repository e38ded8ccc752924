"""The claimed ticket's writing side: staff-only notes, the reply box, resolving.

Every widget key carries the handoff id (see ``pages._inbox_detail``).
"""

from __future__ import annotations

import streamlit as st

from pages._service import done, get_service
from support_core.access import Principal
from support_core.inbox_view import cite_options, reply_start
from support_core.kb_view import article_titles
from support_core.models import HandoffPackage


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
    st.session_state.setdefault(key, reply_start(h))
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


def cite_picker(h: HandoffPackage) -> list[str]:
    """Articles the agent cites in the reply (the AI's sources are offered first)."""
    titles = article_titles(get_service().kb.list_articles())
    options = cite_options(h, titles)
    picked: list[str] = st.multiselect(
        "Cite knowledge-base articles", options, format_func=lambda a: titles.get(a, a),
        key=f"cite_{h.handoff_id}", placeholder="Articles you used to answer (optional)",
        help="Citations teach search which article answers this kind of question.",
    )
    return picked
