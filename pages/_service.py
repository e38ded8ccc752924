"""The one service behind every page, and how a page says what went wrong or what it did.

Kept apart from the frame (``pages._frame``) and the page boundary (``pages._ui``) so that
both can use it without importing each other.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import streamlit as st
from pydantic import ValidationError

from support_core.config import Settings
from support_core.errors import (
    AlreadyClaimed,
    BackendUnavailable,
    DeskpilotError,
    InputError,
    NotFound,
)
from support_core.wiring import Service, build_service

log = logging.getLogger("deskpilot.app")
FLASH = "_deskpilot_flash"  # a confirmation to show after the rerun an action triggers


@st.cache_resource(show_spinner="Starting Deskpilot…")
def get_service() -> Service:
    """One service per process: the embedding model and the stores are opened once."""
    try:
        settings = Settings()
    except ValidationError as err:
        raise DeskpilotError(
            f"The configuration is invalid ({err.error_count()} problem(s): "
            f"{'; '.join(e['msg'] for e in err.errors())}). Fix the SUPPORT_* settings and restart."
        ) from err
    return build_service(settings)


def show_error(exc: DeskpilotError) -> None:
    """Say what happened and what to do; input problems are warnings, outages errors."""
    if isinstance(exc, BackendUnavailable):
        st.error(f"{exc.user_message} Check that the service is running, then try again.")
    elif isinstance(exc, (InputError, NotFound, AlreadyClaimed)):
        st.warning(exc.user_message)
    else:
        st.error(exc.user_message)


def show_unexpected(exc: Exception) -> None:
    """The page boundary's last resort: a short message here, the traceback in the log."""
    log.error("Unexpected error on a page", exc_info=exc)
    st.error(
        "Something unexpected went wrong and this page could not finish. "
        "Reload the page to try again; the details are in the server log."
    )


def done(note: str) -> NoReturn:
    """Confirm an action after the rerun that shows its effect (a toast before st.rerun
    would be lost with the rest of the old run)."""
    st.session_state[FLASH] = note
    st.rerun()
