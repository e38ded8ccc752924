"""Team and macros: managers keep the reply macros; admins add and disable users.

Both go through the core (``AgentDesk.save_macro`` checks the manager role; user changes
need the admin role), so this page only lays the forms out.
"""

from __future__ import annotations

import streamlit as st

from pages._auth import require_staff
from pages._service import done, get_service
from pages._ui import run_page
from support_core.access import Action, Principal, StaffRole
from support_core.team_view import disable_choices, macro_rows, placeholder_help, user_rows


def macros(user: Principal) -> None:
    svc = get_service()
    st.subheader("Reply macros")
    st.caption(placeholder_help())
    rows = macro_rows(svc.views.macros(user))
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    with st.form("macro", clear_on_submit=True):
        name = st.text_input("Name", placeholder="e.g. refund-issued")
        text = st.text_area("Text", placeholder="Hi {customer_name}, I've issued your refund…")
        if st.form_submit_button("Save macro", type="primary"):
            svc.desk.save_macro(name, text, user)
            done(f"Macro {name.strip()} saved.")


def users(user: Principal) -> None:
    staff = get_service().staff_admin  # every call checks that ``user`` is still an admin
    everyone = staff.list(user)
    st.subheader("Users")
    st.dataframe(user_rows(everyone), hide_index=True, width="stretch")
    with st.form("add_user", clear_on_submit=True):
        cols = st.columns(3)
        name = cols[0].text_input("Name")
        role = cols[1].selectbox("Role", list(StaffRole), format_func=lambda r: r.value)
        password = cols[2].text_input("Initial password", type="password")
        if st.form_submit_button("Add user", type="primary"):
            staff.add(user, name, role, password)
            done(f"Added {role.value} {name.strip()}.")
    active = disable_choices(everyone, user.name)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    who = row.selectbox("Disable a user", active, index=None, width=260)
    if who and row.button("Disable"):
        staff.disable(user, who)
        done(f"{who} is disabled and signed out.")


def main() -> None:
    st.title("Team and macros")
    user = require_staff(Action.MANAGE_MACROS, "team settings")
    macros(user)
    if user.can(Action.MANAGE_USERS):
        users(user)


run_page(main)
