"""Staff sign-in for the pages: the signed-in user, the gate each staff page calls, the forms.

The decisions live in ``support_core`` (``UserStore`` checks passwords, throttles failures
and expires idle sessions; ``access.require`` checks roles); this only keeps the session
token in ``st.session_state`` and draws the forms. With ``SUPPORT_AUTH_PROVIDER=oidc``
Streamlit's ``st.login`` (configured in ``.streamlit/secrets.toml``) proves who the person
is, and the desk's user store still decides whether that e-mail is an active user, and
with which role.
"""

from __future__ import annotations

import streamlit as st

from pages._service import get_service
from support_core.access import Action, Principal, role_gate
from support_core.errors import DeskpilotError, SignInRequired, SignInThrottled

TOKEN = "_deskpilot_token"
NOTICE = "_deskpilot_signin_notice"


def current_user() -> Principal | None:
    """The signed-in staff member, or None (never signed in, expired, disabled)."""
    svc = get_service()
    if svc.settings.auth_provider == "oidc":
        return _oidc_user()
    token = st.session_state.get(TOKEN)
    if not token:
        return None
    try:
        return svc.users.resume(token)
    except SignInRequired as exc:
        st.session_state.pop(TOKEN, None)
        st.session_state[NOTICE] = exc.user_message
        return None


def _oidc_user() -> Principal | None:
    if not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "")
    try:
        return get_service().users.principal(email)
    except SignInRequired:
        st.warning(f"{email} has no active account on this desk; ask an admin to add it.")
        return None


def require_staff(action: Action, what: str) -> Principal:
    """The page's gate: a signed-in user whose role allows ``action``, or a form and a stop."""
    user = current_user()
    if user is None:
        st.info(f"Sign in to see {what}.", icon=":material/lock:")
        sign_in_form()
        st.stop()
    if (refusal := role_gate(user, action, what)) is not None:
        st.warning(refusal, icon=":material/lock:")
        st.stop()
    return user


def sign_in_form() -> None:
    """Password sign-in; on a desk without users, the form that creates the first admin."""
    svc = get_service()
    if svc.settings.auth_provider == "oidc":
        st.button("Sign in with your identity provider", on_click=st.login, type="primary")
        return
    if note := st.session_state.pop(NOTICE, None):
        st.warning(note)
    first = not svc.users.has_users()
    title = "Create the first admin account" if first else "Staff sign-in"
    with st.form("sign_in", border=True, width=420):
        st.markdown(f"**{title}**")
        if first:
            st.caption("This desk has no users yet. The account you create here is its admin; "
                       "add agents and managers afterwards (Team page or `deskpilot users add`).")
        name = st.text_input("Name", key="signin_name")
        password = st.text_input("Password", type="password", key="signin_password")
        repeat = password
        if first:
            repeat = st.text_input("Repeat the password", type="password", key="signin_repeat")
        if not st.form_submit_button("Create admin and sign in" if first else "Sign in",
                                     type="primary"):  # fmt: skip
            return
    try:
        if first and password != repeat:
            st.warning("The two passwords differ.")
            return
        if first:
            svc.users.create_first_admin(name, password)
        user = svc.users.authenticate(name, password)
    except SignInThrottled as exc:
        st.warning(exc.user_message)
        return
    except DeskpilotError as exc:
        st.warning(exc.user_message)
        return
    st.session_state[TOKEN] = svc.users.start_session(user)
    st.rerun()


def account_box() -> None:
    """Sidebar: who is signed in, and the way out."""
    user = current_user()
    if user is None:
        st.caption("Staff: sign in on the Inbox page.")
        return
    st.caption(f"Signed in as **{user.name}** · {user.role.value}")
    if st.button("Sign out", icon=":material/logout:", width="stretch"):
        if get_service().settings.auth_provider == "oidc":
            st.logout()
        get_service().users.end_session(st.session_state.pop(TOKEN, ""))
        st.rerun()
