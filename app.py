"""Deskpilot's Streamlit app: ``streamlit run app.py``.

It draws the frame every page shares (navigation over ``pages/``, the wide layout and
the sidebar with the backend summary and the demo-data buttons; see ``pages._ui.frame``)
and runs the chosen page. The service behind the pages is built once per process
(``pages._ui.get_service``, a ``st.cache_resource``); each page reads its widgets, calls
the service and renders inside ``pages._ui.run_page``, its error boundary.
"""

from __future__ import annotations

import streamlit as st

from pages._ui import FRAMED, frame, get_service, show_unexpected


@st.cache_resource(show_spinner=False)
def _repair_once() -> str:
    """Once per process: tickets a crash left unfinished are escalated to a person."""
    from support_core.repair import sweep

    svc = get_service()
    return sweep(svc.store, svc.settings.stuck_ticket_seconds,
                 frustration_threshold=svc.settings.frustration_threshold).summary()


page = frame()
st.session_state[FRAMED] = True
try:
    _repair_once()
    page.run()
except Exception as exc:  # noqa: BLE001 - e.g. a page that cannot even be imported
    show_unexpected(exc)
