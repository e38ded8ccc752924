"""AppTest smoke tests for the Streamlit app: every page renders empty and populated, and
each page's main action works (send a message, claim and answer, upload, search, filter).

The app builds its service through ``pages._service.get_service`` (a ``st.cache_resource``).
Each test points ``SUPPORT_DATA_DIR`` at its own temporary directory and clears that cache,
so every test starts from empty stores. Tests that need answers share the session's
embedded sample KB (``sample_kb`` in conftest) by putting it into the app's own service.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts the app's folder on sys.path; do the same
    sys.path.insert(0, str(ROOT))

from pages._auth import TOKEN  # noqa: E402
from pages._ui import get_service  # noqa: E402
from support_core.chat_view import NOT_SOLVED  # noqa: E402
from support_core.errors import BackendUnavailable, InputError  # noqa: E402
from support_core.models import HandoffStatus, Priority, Role, TicketStatus, utcnow  # noqa: E402
from tests.desk_helpers import PASSWORD  # noqa: E402
from tests.desk_helpers import escalate as queue_handoff  # noqa: E402

APP = str(ROOT / "app.py")
CHAT, INBOX, KB, METRICS, TRACE = (
    "pages/chat.py", "pages/inbox.py", "pages/knowledge_base.py", "pages/metrics.py",
    "pages/trace.py",
)  # fmt: skip
SIMPLE = "How do I reset my password?"
FRUSTRATED = (
    "I've written three times, you charged me twice and NOBODY answers!!! "
    "I want a refund now or I cancel."
)
TIMEOUT = 180  # the first run in a process loads the embedding model
LEGACY_INIT = PagesManager.__init__


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def _navigation_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every AppTest run through app.py's st.navigation, as a served app does.

    Streamlit has a legacy mode for apps with a ``pages/`` folder that lasts until the
    first ``st.navigation`` call in a process; a served app leaves it on its first run.
    AppTest re-enters it before *every* run, and in it widget ids differ between runs, so a
    click or a chat message set by the test would be lost. ``test_legacy_...`` covers the
    legacy path itself.
    """

    def navigation_only(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        LEGACY_INIT(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", navigation_only)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data dir for the app's own ``Settings()``, and a fresh cached service."""
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPPORT_KB_DIR", str(ROOT / "data" / "kb"))
    monkeypatch.setenv("SUPPORT_SAMPLE_KB_AUTOLOAD", "false")  # the autoload test turns it on
    st.cache_resource.clear()
    yield tmp_path / "data"
    st.cache_resource.clear()


@pytest.fixture
def svc(data_dir: Path, sample_kb: Any) -> Any:
    """The very service the pages use (same cache), answering from the sample KB."""
    service = get_service()
    service.__dict__["kb"] = sample_kb  # cached_property slot, as conftest's service_factory
    return service


def sign_in(name: str = "sam", role: str = "agent") -> dict[str, str]:
    """Session state for a signed-in ``name`` (the user is created when missing)."""
    users = get_service().users
    try:
        users.add(name, role, PASSWORD)
    except InputError:
        pass
    return {TOKEN: users.start_session(users.principal(name))}


def open_page(page: str, **state: Any) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page != CHAT:
        at.switch_page(page).run()
    return at


def click(at: AppTest, label: str) -> AppTest:
    buttons = [b for b in at.button if b.label == label]
    assert buttons, f"no button {label!r}; have {[b.label for b in at.button]}"
    return buttons[0].click().run()


def texts(at: AppTest) -> str:
    """Everything a person reads on the page, as one string."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def escalate(svc: Any, customer: str = "bob") -> Any:
    result = svc.pipeline.process_message(customer, "s1", FRUSTRATED)
    assert result.action == "escalated"
    return result


# ----------------------------------------------------------------------------- empty state
@pytest.mark.parametrize(
    ("page", "hint"),
    [
        (CHAT, "knowledge base is empty"),
        (INBOX, "Nothing here right now"),
        (KB, "No articles yet"),
        (METRICS, "No tickets in this window"),
        (TRACE, "No tickets yet"),
    ],
)
def test_every_page_renders_an_empty_state(data_dir: Path, page: str, hint: str) -> None:
    at = open_page(page, **sign_in("root", "admin"))
    assert_clean(at)
    assert hint in texts(at)
    assert "Demo data" in "\n".join(m.value for m in at.sidebar.markdown)


@pytest.mark.parametrize("page", [INBOX, KB, METRICS, TRACE])
def test_staff_pages_ask_a_visitor_to_sign_in_and_show_no_ticket_data(
    data_dir: Path, page: str
) -> None:
    svc = get_service()
    svc.users.add("root", "admin", PASSWORD)
    queue_handoff(svc, customer="secret-customer")
    at = open_page(page)
    assert_clean(at)
    assert "Sign in to see" in texts(at)
    assert "secret-customer" not in texts(at) and not at.dataframe and not at.metric
    assert [b.label for b in at.button if b.label == "Sign in"]


def test_first_start_asks_for_the_first_admin_then_signs_them_in(data_dir: Path) -> None:
    at = open_page(INBOX)
    assert "Create the first admin account" in texts(at)
    at.text_input(key="signin_name").set_value("Rita Root")
    at.text_input(key="signin_password").set_value(PASSWORD)
    at.text_input(key="signin_repeat").set_value(PASSWORD)
    click(at, "Create admin and sign in")
    assert_clean(at)
    assert "Signed in as **Rita Root** · admin" in "\n".join(c.value for c in at.sidebar.caption)
    assert [(u.name, u.role.value) for u in get_service().users.list()] == [("Rita Root", "admin")]


def test_a_wrong_password_is_refused_and_an_agent_cannot_reach_admin_pages(
    data_dir: Path,
) -> None:
    get_service().users.add("sam", "agent", PASSWORD)
    at = open_page(INBOX)
    at.text_input(key="signin_name").set_value("sam")
    at.text_input(key="signin_password").set_value("not the password")
    click(at, "Sign in")
    assert "Wrong name or password" in texts(at) and TOKEN not in at.session_state
    at.text_input(key="signin_password").set_value(PASSWORD)
    click(at, "Sign in")
    assert "Nothing here right now" in texts(at)
    for page in (KB, METRICS, "pages/team.py"):
        at.switch_page(page).run()
        assert_clean(at)
        assert "signed in as sam (agent)" in texts(at).lower() and not at.dataframe


def test_the_sample_kb_is_loaded_on_first_start_with_a_notice(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, sample_kb: Any
) -> None:
    monkeypatch.setenv("SUPPORT_SAMPLE_KB_AUTOLOAD", "true")
    st.cache_resource.clear()
    ingested: list[Any] = []
    service = get_service()
    service.__dict__["kb"] = sample_kb  # already embedded: ingest_paths then reports unchanged
    monkeypatch.setattr(sample_kb, "list_articles", lambda: [])  # as on a first start
    original = sample_kb.ingest_paths
    monkeypatch.setattr(sample_kb, "ingest_paths",
                        lambda paths: ingested.append(paths) or original(paths))  # fmt: skip
    at = open_page(CHAT)
    assert not at.exception
    assert "sample articles" in texts(at) and ingested == [[ROOT / "data" / "kb"]]


def test_legacy_deep_link_still_gets_the_frame(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh server whose first request is /inbox runs pages/inbox.py without app.py."""
    monkeypatch.setattr(PagesManager, "__init__", LEGACY_INIT)
    at = open_page(INBOX)
    assert_clean(at)
    assert "Handoff inbox" in [t.value for t in at.title]
    assert "demo data" in "\n".join(m.value for m in at.sidebar.caption)


def test_sidebar_summarises_the_backend(svc: Any) -> None:
    at = open_page(CHAT)
    summary = "\n".join(c.value for c in at.sidebar.caption)
    assert "**LLM** off" in summary and "**Memory** SQLite" in summary
    assert f"{len(svc.kb.list_articles())} articles" in summary


# ----------------------------------------------------------------------------- customer chat
@pytest.mark.slow
def test_chat_answers_with_sources_then_the_customer_confirms_and_rates(svc: Any) -> None:
    at = open_page(CHAT, customer_id="ann", session_id="web-1")
    at.chat_input[0].set_value(SIMPLE).run()
    assert_clean(at)
    replies = [m for m in at.chat_message if m.name == "assistant"]
    assert replies and "password" in replies[-1].markdown[0].value.lower()
    assert any(e.label.startswith("Sources") for e in at.expander)
    assert any("confidence" in c.value for c in at.caption)

    click(at, "This solved my problem")
    ticket = svc.store.latest_ticket("ann", "web-1")
    assert ticket.status is TicketStatus.RESOLVED
    at.feedback[0].set_value(4).run()  # stars are 0-based: the fifth star
    at.text_input(key=f"comment_{ticket.ticket_id}").set_value("Spot on").run()
    click(at, "Send rating")
    assert svc.outcomes.rating(ticket.ticket_id).score == 5
    assert "You rated it 5/5" in texts(at)


def test_chat_offers_a_clarifying_questions_topics_as_buttons(svc: Any) -> None:
    """A one-word message that fits two refund articles equally gets one question; the
    customer presses a topic and gets that article's answer."""
    at = open_page(CHAT, customer_id="cleo", session_id="web-2")
    at.chat_input[0].set_value("refund").run()
    assert_clean(at)
    asked = svc.store.latest_ticket("cleo", "web-2")
    assert asked.escalation.rule == "clarify"
    labels = [o["label"] for o in asked.escalation.inputs["options"]]
    assert len(labels) >= 2 and all(label in texts_of(at.chat_message[-1]) for label in labels)
    assert not [b for b in at.button if b.label == "This solved my problem"]
    click(at, labels[1])
    assert_clean(at)
    answered = svc.store.latest_ticket("cleo", "web-2")
    assert answered.escalation.rule == "auto_reply"
    assert answered.retrieved[0].title == labels[1]  # the chosen topic leads the search
    assert [b for b in at.button if b.label == "This solved my problem"]
    assert NOT_SOLVED in [c.value for c in at.caption]  # the reply itself no longer says it
    assert NOT_SOLVED not in texts_of(at.chat_message[-1])


@pytest.mark.slow
def test_chat_escalation_then_the_agents_reply_appears_and_can_be_rated(svc: Any) -> None:
    at = open_page(CHAT, customer_id="bob", session_id="web-2")
    at.chat_input[0].set_value(FRUSTRATED).run()
    assert_clean(at)
    assert "specialist will take over" in texts(at)

    handoff = svc.desk.queue()[0]
    svc.users.add("sam", "agent", PASSWORD)
    svc.desk.claim(handoff.handoff_id, "sam")
    svc.desk.reply(handoff.handoff_id, "sam", "I've refunded the duplicate charge.")
    at.run()  # in the browser the live fragment does this every few seconds
    agent = [m for m in at.chat_message if "refunded the duplicate" in texts_of(m)]
    assert agent, "the agent's reply is not in the conversation"

    svc.desk.resolve(handoff.handoff_id, "sam", "refunded")
    at.run()
    at.feedback[0].set_value(2).run()
    click(at, "Send rating")
    assert svc.outcomes.rating(handoff.ticket_id).score == 3


def texts_of(block: Any) -> str:
    return "\n".join(m.value for m in block.markdown)


@pytest.mark.slow
def test_chat_returning_customer_keeps_history_and_readout_can_be_hidden(svc: Any) -> None:
    svc.pipeline.process_message("carol", "old-session", SIMPLE)
    at = open_page(CHAT, **sign_in("sam"))  # only staff may pick another customer
    at.selectbox(key="customer_id").set_value("carol").run()
    assert at.session_state["session_id"] == "old-session"  # she continues where she left off
    assert len(at.chat_message) == 2
    click(at, "New session")
    assert at.session_state["session_id"] != "old-session"
    assert "1 earlier conversation(s)" in texts(at)
    at.chat_input[0].set_value(SIMPLE).run()
    at.toggle(key="show_readout").set_value(False).run()
    assert not any("confidence" in c.value for c in at.caption)


def test_chat_refuses_an_overlong_message_with_a_warning(svc: Any) -> None:
    at = open_page(CHAT, customer_id="dan")
    at.chat_input[0].set_value("x" * (svc.settings.max_message_chars + 1)).run()
    assert not at.exception
    assert any("limit" in w.value for w in at.warning)


# ----------------------------------------------------------------------------- handoff inbox
@pytest.mark.slow
def test_inbox_claim_edit_draft_send_and_resolve(svc: Any) -> None:
    escalated = escalate(svc)
    at = open_page(INBOX, **sign_in("sam"))
    assert_clean(at)
    assert sum(int(m.value) for m in at.metric) == 1
    assert "Why it's here" in texts(at) and "Suggested action" in texts(at)

    click(at, "Claim")
    handoff = svc.store.get_handoff(escalated.handoff_id)
    assert handoff.status is HandoffStatus.CLAIMED and handoff.claimed_by == "sam"
    box = at.text_area(key=f"reply_{handoff.handoff_id}")
    box.set_value("Edited draft: your refund is on its way.").run()
    click(at, "Send reply")
    ticket = svc.store.get_ticket(handoff.ticket_id)
    assert ticket.messages[-1].role is Role.AGENT
    assert ticket.messages[-1].content == "Edited draft: your refund is on its way."

    at.segmented_control(key="inbox_view").set_value("Claimed by me").run()
    assert at.session_state["inbox_open"] == handoff.handoff_id
    click(at, "Resolve ticket")
    assert svc.store.get_ticket(handoff.ticket_id).status is TicketStatus.RESOLVED


@pytest.mark.slow
def test_inbox_the_losing_agent_is_told_who_has_the_ticket(svc: Any) -> None:
    escalated = escalate(svc)
    loser = open_page(INBOX, **sign_in("bea"))
    sign_in("ann")
    svc.desk.claim(escalated.handoff_id, "ann")  # ann is a moment faster
    click(loser, "Claim")
    assert_clean(loser)
    assert "ann" in "\n".join(w.value for w in loser.warning)
    assert svc.store.get_handoff(escalated.handoff_id).claimed_by == "ann"


def test_inbox_a_breached_ticket_is_marked_and_first_a_row_click_opens_another(
    data_dir: Path,
) -> None:
    svc = get_service()
    fresh = queue_handoff(svc, customer="fresh", priority=Priority.CRITICAL)
    late = queue_handoff(svc, customer="late", priority=Priority.LOW,
                         created_at=utcnow() - timedelta(days=2))  # fmt: skip
    at = open_page(INBOX, **sign_in("sam"))
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["customer"]) == ["late", "fresh"]
    assert table["SLA"][0].startswith("BREACHED") and "left" in table["SLA"][1]
    assert table["priority"][0] == "medium"  # raised one level by the recorded breach
    assert at.session_state["inbox_open"] == late.handoff_id and "SLA breached" in texts(at)
    assert [e.detail["clock"] for e in svc.records.events(kind="sla_breach")] == [
        "first_response"]  # 24 h first-response target missed; 72 h resolution still open
    # a row click (the dataframe's selection) opens that ticket beside the queue
    key = at.session_state["inbox_table_key"]
    at.session_state[key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert at.session_state["inbox_open"] == fresh.handoff_id
    assert "fresh · tier1 queue" in [s.value for s in at.subheader]


@pytest.mark.slow
def test_inbox_a_macro_fills_the_reply_and_a_note_never_reaches_the_customer(svc: Any) -> None:
    h = queue_handoff(svc, customer="mia")
    manager = sign_in("max", "manager")
    svc.desk.save_macro("greet", "Hi {customer_name}, {agent_name} here on {ticket_id}.", "max")
    at = open_page(INBOX, **manager)
    click(at, "Claim")
    click(at, "Insert macro")
    assert at.text_area(key=f"reply_{h.handoff_id}").value == (
        f"Hi mia, max here on {h.ticket_id}.")  # fmt: skip
    click(at, "Send reply")
    at.text_area(key=f"note_text_{h.handoff_id}").set_value("Internal: VIP account")
    click(at, "Save note")
    assert "VIP account" in texts(at)
    chat = open_page(CHAT, customer_id="mia", session_id="s1")
    assert "Hi mia, max here" in "\n".join(texts_of(m) for m in chat.chat_message)
    assert "VIP" not in texts(chat) + "\n".join(texts_of(m) for m in chat.chat_message)


@pytest.mark.slow
def test_inbox_reply_from_scratch_and_return_to_queue(svc: Any) -> None:
    escalated = escalate(svc)
    at = open_page(INBOX, **sign_in("sam"))
    click(at, "Claim")
    click(at, "Start from scratch")
    assert at.text_area(key=f"reply_{escalated.handoff_id}").value == ""
    click(at, "Return to queue")
    assert svc.store.get_handoff(escalated.handoff_id).status is HandoffStatus.QUEUED
    at.segmented_control(key="inbox_view").set_value("Claimed by me").run()
    assert "Nothing here right now" in texts(at)


# ----------------------------------------------------------------------------- knowledge base
GOOD_MD = b"""---
title: Ship a parcel to the moon
---
# Ship a parcel to the moon

Lunar parcels leave every Tuesday. Pack them in the silver box and label them LUNA.
"""


@pytest.mark.slow
def test_kb_upload_keeps_good_files_when_one_fails_then_view_and_delete(data_dir: Path) -> None:
    at = open_page(KB, **sign_in("root", "admin"))
    at.file_uploader[0].set_value([
        ("moon.md", GOOD_MD, "text/markdown"),
        ("broken.pdf", b"this is not a pdf", "application/pdf"),
    ])  # fmt: skip
    at.run()
    click(at, "Ingest")
    assert_clean(at)
    results = at.dataframe[0].value if "result" in at.dataframe[0].value else at.dataframe[1].value
    outcome = dict(zip(results["file"], results["result"], strict=True))
    assert outcome == {"moon.md": "added", "broken.pdf": "failed"}
    assert results.set_index("file").loc["broken.pdf", "reason"]
    assert [a.title for a in get_service().kb.list_articles()] == ["Ship a parcel to the moon"]

    chunks = [e for e in at.expander if e.label == "Chunks of this article"]
    assert chunks and "Lunar parcels" in "\n".join(t.value for t in chunks[0].text)
    click(at, "Delete article…")
    click(at, "Yes, delete")
    assert get_service().kb.list_articles() == []


@pytest.mark.slow
def test_kb_search_playground_shows_every_score_and_filters(svc: Any) -> None:
    at = open_page(KB, **sign_in("root", "admin"))
    at.text_input(key="kb_query").set_value("refund a double charge").run()
    assert_clean(at)
    hits = at.dataframe[-1].value
    assert {"dense", "keyword (BM25)", "fused"} <= set(hits.columns)
    assert hits["fused"].is_monotonic_decreasing or len(hits) == 1
    at.selectbox(key="kb_cat").set_value("billing").run()
    assert set(at.dataframe[-1].value["category"]) == {"billing"}


# ----------------------------------------------------------------------------- metrics
@pytest.mark.slow
def test_metrics_show_tickets_and_ratings_and_the_window_filters(svc: Any) -> None:
    answered = svc.pipeline.process_message("ann", "s1", SIMPLE)
    svc.desk.customer_confirms(answered.ticket.ticket_id)
    svc.desk.rate(answered.ticket.ticket_id, 4, "")
    escalate(svc)
    at = open_page(METRICS, **sign_in("max", "manager"))
    assert_clean(at)
    cards = {m.label: m.value for m in at.metric}
    assert cards["Tickets"] == "2" and cards["Escalated"] == "50%" and cards["CSAT"] == "4.00"
    assert len(at.get("plotly_chart")) >= 6
    table = at.dataframe[0].value
    assert set(table["customer"]) == {"ann", "bob"}
    assert set(table["rating"]) == {"4 / 5", "not rated"}

    today = utcnow().date()
    window = (today - timedelta(days=40), today - timedelta(days=30))
    at.date_input(key="metrics_window").set_value(window).run()
    assert "No tickets in this window" in texts(at)


# ----------------------------------------------------------------------------- ticket trace
@pytest.mark.slow
def test_trace_shows_the_lifecycle_and_a_span_waterfall(svc: Any) -> None:
    first = svc.pipeline.process_message("ann", "s1", SIMPLE).ticket
    escalate(svc)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[TOKEN] = sign_in("sam")[TOKEN]
    at.run()
    at.switch_page(TRACE)
    at.query_params["ticket"] = first.ticket_id  # a deep link, as the inbox's trace link makes
    at.run()
    assert_clean(at)
    assert at.selectbox[0].value == first.ticket_id
    lifecycle = at.dataframe[0].value
    assert list(lifecycle["to"]) == ["created", "processing", "awaiting_customer"]
    assert len(at.get("plotly_chart")) == 1
    assert "kb.search" in set(at.dataframe[1].value["span"])


# ----------------------------------------------------------------------------- errors, demo
@pytest.mark.parametrize(
    ("failure", "shown"),
    [
        (RuntimeError("secret internals"), "Something unexpected went wrong"),
        (BackendUnavailable("The ticket database is not reachable."), "not reachable"),
    ],
)
def test_a_failing_backend_shows_a_message_never_a_traceback(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception, shown: str
) -> None:
    service = get_service()

    def broken(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(service.store, "queue_counts", broken)
    at = open_page(INBOX, **sign_in("sam"))
    assert not at.exception
    errors = "\n".join(e.value for e in at.error)
    assert shown in errors and "secret internals" not in errors


@pytest.mark.slow
def test_demo_data_loads_labelled_and_is_removed_again(svc: Any) -> None:
    at = open_page(INBOX, **sign_in("root", "admin"))
    [b for b in at.sidebar.button if b.label == "Load demo data"][0].click().run()
    assert_clean(at)
    assert "Demo data loaded" in "\n".join(m.value for m in at.sidebar.markdown)
    assert "(demo)" in " ".join(at.dataframe[0].value["customer"])
    click(at, "Remove demo data")
    assert not svc.store.list_tickets()
