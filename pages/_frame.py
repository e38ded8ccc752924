"""The frame every page shares: page config, navigation, and the sidebar (who is signed in,
the backend summary and, for admins, the demo-data buttons).

See ``pages._ui`` for why a page may draw this frame itself.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages._service import get_service, show_error, show_unexpected
from support_core.demo import is_loaded, load_demo, remove_demo
from support_core.display import backend_summary
from support_core.errors import DeskpilotError
from support_core.wiring import Service

FRAMED = "_deskpilot_framed"  # set by app.py for the page it is about to run
DEMO_NOTE = "_deskpilot_demo_note"  # what loading or removing the demo data did


def frame() -> Any:
    """Page config, navigation and sidebar; returns the page st.navigation picked."""
    st.set_page_config(page_title="Deskpilot", page_icon=":material/support_agent:", layout="wide")
    page = st.navigation({
        "Customers": [
            st.Page("pages/chat.py", title="Customer chat", icon=":material/chat:", default=True),
        ],
        "Agents": [
            st.Page("pages/inbox.py", title="Handoff inbox", icon=":material/support_agent:"),
            st.Page("pages/knowledge_base.py", title="Knowledge base", icon=":material/menu_book:"),
        ],
        "Managers": [
            st.Page("pages/metrics.py", title="Metrics", icon=":material/monitoring:"),
            st.Page("pages/trace.py", title="Ticket trace", icon=":material/timeline:"),
            st.Page("pages/team.py", title="Team and macros", icon=":material/group:"),
        ],
    })
    sidebar()
    return page


def sidebar() -> None:
    with st.sidebar:
        try:
            from pages._auth import account_box, current_user

            svc = get_service()
            account_box()
            st.caption(backend_summary(svc.settings, len(svc.kb.list_articles())))
            st.divider()
            user = current_user()
            if user is not None and user.role.value == "admin":
                demo_controls(svc)
            else:
                st.caption("An admin can load labelled demo data here.")
        except DeskpilotError as exc:
            show_error(exc)
        except Exception as exc:  # noqa: BLE001 - the sidebar must never take the page down
            show_unexpected(exc)


def demo_controls(svc: Service) -> None:
    st.markdown("**Demo data**")
    loaded = is_loaded(svc)
    st.caption(
        "A scripted week of sample customers (ids `demo-…`) with agent replies and ratings. "
        "It is marked as demo data everywhere and can be removed in one click."
    )
    if loaded:
        st.badge("Demo data loaded", icon=":material/science:", color="orange")
    if st.button("Load demo data", icon=":material/play_arrow:", disabled=loaded, width="stretch"):
        with st.status("Loading demo data…", expanded=True) as status:
            bar = st.progress(0.0, text="Preparing…")
            st.session_state[DEMO_NOTE] = load_demo(
                svc, lambda i, n, what: bar.progress(min(i / max(n, 1), 1.0),
                                                text=f"{i}/{n} · {what}")
            )
            status.update(label="Demo data loaded", state="complete")
        st.rerun()
    if st.button(
        "Remove demo data", icon=":material/delete:", disabled=not loaded, width="stretch"
    ):
        st.session_state[DEMO_NOTE] = remove_demo(svc)
        st.rerun()
    if DEMO_NOTE in st.session_state:
        st.success(st.session_state.pop(DEMO_NOTE))
