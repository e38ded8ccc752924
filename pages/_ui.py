"""The page boundary and the small parts pages share (message bubbles, hit tables).

Nothing here decides anything about support; the shaping lives in ``support_core.display``.
The one service, errors and ``done`` are in ``pages._service``; navigation and the sidebar
in ``pages._frame``.

Why a page may draw the frame itself: Streamlit still has a legacy mode for apps with a
``pages/`` folder. Until the first ``st.navigation`` call in a process it runs a page file
*without* ``app.py`` (when a fresh server's first request is a deep link such as ``/inbox``,
and in every ``AppTest`` run). ``run_page`` notices that and draws the same frame itself; its
``st.navigation`` call also switches the legacy mode off. A rerun would do the same but lose
the click that caused it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from pages._frame import FRAMED, frame
from pages._service import FLASH, get_service, show_error, show_unexpected
from support_core.demo import autoload_sample_kb
from support_core.display import hit_rows
from support_core.errors import DeskpilotError
from support_core.models import Message, Role, SearchHit, Source
from support_core.safe_text import inert_markdown

AVATAR = {
    Role.CUSTOMER: ":material/person:",
    Role.ASSISTANT: ":material/smart_toy:",
    Role.AGENT: ":material/support_agent:",
}


@st.cache_resource(show_spinner="First start: loading the sample knowledge base…")
def sample_kb_notice() -> str | None:
    """Once per process: fill an empty knowledge base with the sample one (a setting)."""
    return autoload_sample_kb(get_service())


def first_start_notice() -> None:
    """Say once per browser session that the sample knowledge base was loaded for them."""
    note = sample_kb_notice()
    if note and not st.session_state.get("_deskpilot_kb_notice_shown"):
        st.session_state["_deskpilot_kb_notice_shown"] = True
        st.info(note, icon=":material/menu_book:")


# ----------------------------------------------------------------------------- the boundary
def run_page(body: Callable[[], None]) -> None:
    """Every page's boundary: the page runs inside app.py's frame, and never shows a traceback."""
    if not st.session_state.pop(FRAMED, False):
        frame()  # run without app.py: see the module docstring
    if note := st.session_state.pop(FLASH, None):
        st.toast(note, icon=":material/check_circle:")
    try:
        first_start_notice()
        body()
    except DeskpilotError as exc:
        show_error(exc)
    except Exception as exc:  # noqa: BLE001 - the page boundary: log it, show a sentence
        show_unexpected(exc)


def live(body: Callable[..., None], every: float) -> Callable[..., None]:
    """``body`` as a fragment re-run every ``every`` seconds, with the page's error boundary
    (a fragment handles its own exceptions, so ``run_page``'s would not see them)."""

    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            body(*args, **kwargs)
        except DeskpilotError as exc:
            show_error(exc)
        except Exception as exc:  # noqa: BLE001 - the fragment's boundary
            show_unexpected(exc)

    guarded.__name__ = guarded.__qualname__ = body.__name__
    return st.fragment(run_every=every)(guarded)


# ----------------------------------------------------------------------------- small parts
def empty_kb_notice() -> None:
    st.info(
        "The knowledge base is empty, so there is nothing to answer from yet. "
        "Upload articles on the Knowledge base page, or press **Load demo data** in the sidebar."
    )
    st.page_link(
        "pages/knowledge_base.py", label="Go to the Knowledge base", icon=":material/menu_book:"
    )


def sources_markdown(sources: Sequence[Source]) -> str:
    """One numbered line per source (a reply's [n] is its n-th): a link when it has a URL."""
    lines = []
    for i, src in enumerate(sources, start=1):
        label = src.title or src.article_id
        if src.heading and src.heading != label:
            label = f"{label} › {src.heading}"
        link = src.url.startswith("http")
        lines.append(f"{i}. [{label}]({src.url})" if link else f"{i}. {label}")
    return "\n".join(lines)


def chat_markdown(text: str) -> str:
    """Keep the reply's line breaks (Markdown would fold them)."""
    return re.sub(r"(?<!\n)\n(?!\n)", "  \n", text)


def render_message(msg: Message, readout: str | None = None) -> None:
    """A chat bubble; agent replies are signed, assistant replies carry their sources."""
    if msg.role is Role.SYSTEM:
        st.caption(msg.content)
        return
    with st.chat_message(msg.role.value, avatar=AVATAR.get(msg.role)):
        if msg.role is Role.AGENT:
            st.caption(f"Support specialist · {msg.metadata.get('agent', 'agent')}")
        sources = msg.metadata.get("sources") or []
        if msg.role is Role.CUSTOMER:  # customer text is shown as text: no links, no images
            st.markdown(inert_markdown(msg.content))
        else:
            st.markdown(chat_markdown(msg.body()))
        if sources:
            with st.expander(f"Sources ({len(sources)})"):
                st.markdown(sources_markdown(sources))
        if readout:
            st.caption(readout)


def hits_table(hits: list[SearchHit]) -> None:
    """Retrieved chunks with every score the ranking used (None = not found that way)."""
    st.dataframe(hit_rows(hits), hide_index=True, column_config={
        "dense": st.column_config.NumberColumn(format="%.3f"),
        "keyword (BM25)": st.column_config.NumberColumn(format="%.2f"),
        "fused": st.column_config.NumberColumn(format="%.4f"),
        "text": st.column_config.TextColumn(width="large"),
    })  # fmt: skip
