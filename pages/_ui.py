"""Small helpers shared by the pages: the one service, the page frame, errors, formatting.

Nothing here decides anything about support; it only turns backend records into
things a person reads quickly (durations, percentages, message bubbles).

Why the frame (navigation, layout, sidebar) is defined here and not in ``app.py``:
Streamlit still has a legacy mode for apps with a ``pages/`` folder. Until the first
``st.navigation`` call in a process it runs a page file *without* ``app.py`` (when a fresh
server's first request is a deep link such as ``/inbox``, and in every ``AppTest`` run).
``run_page`` notices that and draws the same frame itself; its ``st.navigation`` call also
switches the legacy mode off. A rerun would do the same but lose the click that caused it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NoReturn

import streamlit as st
from pydantic import ValidationError

from support_core.config import Settings
from support_core.demo import autoload_sample_kb, is_loaded, load_demo, remove_demo
from support_core.display import duration, hit_rows, pct, since, time_unit  # noqa: F401 (pages)
from support_core.errors import (
    AlreadyClaimed,
    BackendUnavailable,
    DeskpilotError,
    InputError,
    NotFound,
)
from support_core.models import Message, Priority, Role, SearchHit, Source
from support_core.safe_text import inert_markdown
from support_core.wiring import Service, build_service

log = logging.getLogger("deskpilot.app")

PRIORITY_COLOR = {
    Priority.CRITICAL: "red",
    Priority.HIGH: "orange",
    Priority.MEDIUM: "blue",
    Priority.LOW: "green",
}
AVATAR = {
    Role.CUSTOMER: ":material/person:",
    Role.ASSISTANT: ":material/smart_toy:",
    Role.AGENT: ":material/support_agent:",
}
FRAMED = "_deskpilot_framed"  # set by app.py for the page it is about to run
FLASH = "_deskpilot_flash"  # a confirmation to show after the rerun an action triggers
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


# ----------------------------------------------------------------------------- the frame
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


def sidebar() -> None:
    with st.sidebar:
        try:
            from pages._auth import account_box, current_user

            svc = get_service()
            account_box()
            backend_summary(svc)
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


def backend_summary(svc: Service) -> None:
    s = svc.settings
    llm = f"on · `{s.llm_model}`" if s.llm_enabled else "off · answers quoted from the KB"
    memory = "Redis" if s.redis_url else "SQLite"
    articles = len(svc.kb.list_articles())
    st.caption(f"**LLM** {llm}  \n**Memory** {memory}  \n**Knowledge base** {articles} articles")


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


def done(note: str) -> NoReturn:
    """Confirm an action after the rerun that shows its effect (a toast before st.rerun
    would be lost with the rest of the old run)."""
    st.session_state[FLASH] = note
    st.rerun()


# ----------------------------------------------------------------------------- small parts
def empty_kb_notice() -> None:
    st.info(
        "The knowledge base is empty, so there is nothing to answer from yet. "
        "Upload articles on the Knowledge base page, or press **Load demo data** in the sidebar."
    )
    st.page_link(
        "pages/knowledge_base.py", label="Go to the Knowledge base", icon=":material/menu_book:"
    )


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def priority_badge(priority: Priority) -> str:
    """Markdown for a coloured priority badge (icons render without emoji fonts)."""
    return f":{PRIORITY_COLOR[priority]}-badge[{priority.value}]"


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
