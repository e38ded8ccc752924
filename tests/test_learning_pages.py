"""AppTest of the learning-loop parts of the pages: the Knowledge gaps panel (publish with
an edited title), the replay sliders on the Metrics page, and citing articles in the inbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st

from pages._ui import get_service
from support_core.learning.records import GapStatus
from support_core.models import Role
from tests.test_app_pages import (  # noqa: F401 - _navigation_mode is an autouse fixture
    INBOX,
    KB,
    METRICS,
    ROOT,
    _navigation_mode,
    assert_clean,
    click,
    open_page,
    sign_in,
    texts,
)

pytestmark = pytest.mark.slow

UNCOVERED = "Can I pay my Orbitly invoice with cryptocurrency like bitcoin?"
ANSWER = "We do not accept cryptocurrency; pay by card or bank transfer."
MILD = "Ugh, still confused and a bit annoyed: how do I get a refund?"


@pytest.fixture
def svc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_kb: Any) -> Iterator[Any]:
    """The very service the pages use (as in test_app_pages), answering from the sample KB."""
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPPORT_KB_DIR", str(ROOT / "data" / "kb"))
    st.cache_resource.clear()
    service = get_service()
    service.__dict__["kb"] = sample_kb
    yield service
    st.cache_resource.clear()


def resolve_uncovered(svc: Any) -> Any:
    result = svc.pipeline.process_message("gap-customer", "s1", UNCOVERED)
    assert result.action == "escalated"
    sign_in("ana")  # agents are real users
    svc.desk.claim(result.handoff_id, "ana")
    svc.desk.reply(result.handoff_id, "ana", ANSWER)
    return svc.desk.resolve(result.handoff_id, "ana")


def test_gaps_panel_lists_a_gap_and_publishes_it_with_an_edited_title(svc: Any) -> None:
    resolve_uncovered(svc)
    gap = svc.learning.gaps()[0]
    at = open_page(KB, **sign_in("root", "admin"))
    assert_clean(at)
    assert "Knowledge gaps" in [s.value for s in at.subheader]
    assert UNCOVERED in texts(at) and ANSWER in texts(at)
    at.text_input(key=f"gap_title_{gap.gap_id}").set_value("Paying with crypto").run()
    assert "# Paying with crypto" in texts(at)  # the preview follows the edit
    click(at, "Publish as article")
    assert_clean(at)
    published = svc.learning.gaps()[0]
    try:
        assert published.status is GapStatus.PUBLISHED
        titles = {a.article_id: a.title for a in svc.kb.list_articles()}
        assert titles[published.article_id] == "Paying with crypto"
        assert "Publish as article" not in [b.label for b in at.button]
    finally:
        svc.kb.delete_article(published.article_id)  # keep the session's shared KB as it was


def test_replay_sliders_show_what_a_lower_frustration_threshold_would_do(svc: Any) -> None:
    svc.pipeline.process_message("calm", "s1", "How do I reset my password?")
    mild = svc.pipeline.process_message("mild", "s1", MILD)
    assert mild.action == "auto_reply"
    at = open_page(METRICS, **sign_in("max", "manager"))
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Escalation rate proposed"] == metrics["Escalation rate now"]
    assert "No ticket's decision would change." in texts(at)

    at.slider(key="replay_frustration_threshold").set_value(0.3).run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Escalation rate now"] == "0%" and metrics["Escalation rate proposed"] == "50%"
    assert "1 ticket(s) would be decided differently" in texts(at)
    changed = at.dataframe[-1].value
    assert list(changed["ticket_id"]) == [mild.ticket.ticket_id]
    assert svc.store.get_ticket(mild.ticket.ticket_id).escalation.should_escalate is False


def test_inbox_reply_cites_articles_and_the_resolution_records_them(svc: Any) -> None:
    result = svc.pipeline.process_message("cite-customer", "s1", UNCOVERED)
    sign_in("sam")
    svc.desk.claim(result.handoff_id, "sam")
    article = svc.kb.list_articles()[3]
    at = open_page(INBOX, **sign_in("sam"))
    at.segmented_control(key="inbox_view").set_value("Claimed by me").run()
    at.text_area(key=f"reply_{result.handoff_id}").set_value(ANSWER).run()
    at.multiselect(key=f"cite_{result.handoff_id}").select(article.article_id).run()
    click(at, "Send reply")
    assert_clean(at)
    ticket = svc.store.get_ticket(result.ticket.ticket_id)
    sent = [m for m in ticket.messages if m.role is Role.AGENT][-1]
    assert sent.metadata["cited_articles"] == [article.article_id]
    svc.desk.resolve(result.handoff_id, "sam")
    assert svc.learning.store.resolution(ticket.ticket_id).cited_articles == [article.article_id]
