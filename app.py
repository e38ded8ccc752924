"""Deskpilot's Streamlit app: ``streamlit run app.py``.

It draws the frame every page shares (navigation over ``pages/``, the wide layout and
the sidebar with the backend summary and the demo-data buttons; see ``pages._frame.frame``)
and runs the chosen page. The service behind the pages is built once per process
(``pages._service.get_service``, a ``st.cache_resource``); each page reads its widgets, calls
the service and renders inside ``pages._ui.run_page``, its error boundary.
"""

from __future__ import annotations

import streamlit as st

from pages._frame import FRAMED, frame
from pages._service import get_service, show_unexpected


@st.cache_resource(show_spinner=False)
def _repair_once() -> str:
    """Once per process: tickets a crash left unfinished are escalated to a person."""
    return get_service().repair().summary()


page = frame()
st.session_state[FRAMED] = True
try:
    _repair_once()
    page.run()
except Exception as exc:  # noqa: BLE001 - e.g. a page that cannot even be imported
    show_unexpected(exc)
