"""One clarifying question: the rules on plain hits, then whole conversations through the real
pipeline (real Chroma, embeddings, SQLite tickets) on both memory backends (SQLite and a
real Redis at ``SUPPORT_TEST_REDIS_URL``; the tests fail, never skip, when it is missing).

The small knowledge base has two articles about changing an email address (sign-in vs the
billing address) and unrelated ones, so "How do I change it?" fits two topics equally."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support_core import clarify
from support_core.models import (
    Article,
    EscalationDecision,
    Message,
    Priority,
    Queue,
    Role,
    SearchHit,
    SearchPlan,
)
from tests.conftest import make_settings

REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TH = clarify.Thresholds()
AUTO = EscalationDecision(should_escalate=False, queue=Queue.AUTO, priority=Priority.LOW,
                          reason="", rule="auto_reply")


def hit(article: str, title: str, fused: float, dense: float = 0.5) -> SearchHit:
    return SearchHit(chunk_id=f"{article}#0", article_id=article, title=title, text=title,
                     fused_score=fused, dense_score=dense)


CLOSE = [hit("a", "Change your sign-in email", 1.0), hit("a", "Change your sign-in email", 0.9),
         hit("b", "Change your billing email", 0.95), hit("c", "Export your data", 0.3)]


# ----------------------------------------------------------------------------- the rules
def test_candidates_are_distinct_topics_within_the_margin() -> None:
    options, gap = clarify.candidates(CLOSE, TH)
    assert [o.article_id for o in options] == ["a", "b"] and gap == pytest.approx(0.05)
    far = [hit("a", "Change your sign-in email", 1.0), hit("b", "Billing", 0.5)]
    assert clarify.candidates(far, TH)[0] == [clarify.Topic("a", "Change your sign-in email")]


def test_off_topic_hits_are_no_candidates() -> None:
    unrelated = [hit("a", "Reset", 1.0, dense=0.1), hit("b", "Export", 0.99, dense=0.1)]
    assert clarify.candidates(unrelated, TH) == ([], 1.0)


def test_an_untitled_passage_is_named_by_its_first_line() -> None:
    untitled = SearchHit(chunk_id="x#0", article_id="x", title="",
                         text="Primary source\nIn the study of history ...")
    assert clarify.label_of(untitled) == "Primary source"


@pytest.mark.parametrize("answer, expected", [
    ("the second one", "b"), ("2", "b"), ("First", "a"), ("the last one", "b"),
    ("billing", "b"), ("my sign-in email please", "a"),
    ("email", None),  # both labels say "email": no unique choice
    ("How do I export all my workspace data to a CSV file today?", None),  # a new question
])
def test_resolve_reads_an_ordinal_or_the_words_of_one_label(answer: str, expected: str | None
                                                            ) -> None:
    options = [clarify.Topic("a", "Change your sign-in email"),
               clarify.Topic("b", "Change your billing email")]
    chosen = clarify.resolve(answer, options)
    assert (chosen.article_id if chosen else None) == expected


def test_decide_asks_for_a_vague_message_and_never_twice_in_a_row() -> None:
    asked = clarify.decide("How do I change it?", CLOSE, None, [], AUTO, TH)
    assert asked is not None and len(asked.options) == 2
    assert "Change your sign-in email" in asked.question
    assert "Change your billing email" in asked.question
    question = Message(role=Role.ASSISTANT, content=asked.question,
                       metadata={"clarify_options": [o.as_dict() for o in asked.options]})
    again = [Message(role=Role.CUSTOMER, content="hm"), question,
             Message(role=Role.CUSTOMER, content="How do I change it?")]
    assert clarify.decide("How do I change it?", CLOSE, None, again, AUTO, TH) is None


def test_decide_leaves_clear_fixed_or_escalated_turns_alone() -> None:
    clear = "How do I change the email address I use to sign in to my account?"
    assert clarify.decide(clear, CLOSE, None, [], AUTO, TH) is None
    fixed = SearchPlan(query="x", continuation=True, current_article="a", previous_turns=1)
    unsure = AUTO.model_copy(update={"rule": "low_confidence"})
    assert clarify.decide("How do I change it?", CLOSE, fixed, [], unsure, TH) is None
    in_view = SearchPlan(query="x", continuation=True, current_article="c", previous_turns=1)
    # a follow-up is clarified only when it refers to something the search could not settle
    assert clarify.decide("How do I change it?", CLOSE, in_view, [], AUTO, TH) is None
    assert clarify.decide("Billing email", CLOSE, in_view, [], unsure, TH) is None
    assert clarify.decide("How do I change it?", CLOSE, in_view, [], unsure, TH) is not None
    human = AUTO.model_copy(update={"should_escalate": True, "rule": "asked_for_human"})
    assert clarify.decide("How do I change it?", CLOSE, None, [], human, TH) is None


# ----------------------------------------------------------------------------- the pipeline
ARTICLES = [
    Article(article_id="signin-email", title="Change your sign-in email",
            text="# Change your sign-in email\n\nTo change the email address you use to sign "
                 "in, open Profile, choose Email, type the new address and confirm it from "
                 "the link we send to the new address. Your password stays the same."),
    Article(article_id="billing-email", title="Change your billing email",
            text="# Change your billing email\n\nTo change the email address that receives "
                 "invoices and receipts, open Billing, choose Billing contact, type the new "
                 "address and save. Invoices already sent are not sent again."),
    Article(article_id="export-data", title="Export your workspace data",
            text="# Export your workspace data\n\nAdmins can export every project, task and "
                 "comment as a CSV or JSON archive from Settings, Data export. The archive "
                 "link arrives by email within an hour."),
    Article(article_id="api-keys", title="Create and rotate API keys",
            text="# Create and rotate API keys\n\nCreate an API key in Settings, Developer. "
                 "Rotate a key by creating a new one, updating your integrations, then "
                 "revoking the old key. Keys are shown only once."),
]
VAGUE = "How do I change it?"


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from support_core.wiring import build_knowledge_base

    kb = build_knowledge_base(make_settings(tmp_path_factory.mktemp("clarify-kb")))
    kb.ingest_articles(ARTICLES)
    return kb


@pytest.fixture(params=["sqlite", "redis"])
def desk(request: pytest.FixtureRequest, small_kb: Any, tmp_path: Path) -> Iterator[Any]:
    from support_core.wiring import build_service

    overrides: dict[str, object] = {}
    if request.param == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()  # fail, never skip
        overrides["redis_url"] = REDIS_URL
    svc = build_service(make_settings(tmp_path / "svc", **overrides))
    svc.__dict__["kb"] = small_kb
    svc.customer = f"clarify-{request.param}-{uuid.uuid4().hex[:8]}"
    yield svc
    svc.memory.forget_customer(svc.customer)


def ask(desk: Any, text: str, session: str = "s1") -> Any:
    return desk.pipeline.process_message(desk.customer, session, text)


@pytest.mark.slow
def test_a_vague_first_message_gets_one_question_naming_both_topics(desk: Any) -> None:
    result = ask(desk, VAGUE)
    assert result.action == "clarify"
    assert "Change your sign-in email" in result.message
    assert "Change your billing email" in result.message
    ticket = desk.store.get_ticket(result.ticket.ticket_id)
    assert ticket.escalation.rule == "clarify" and not ticket.escalation.should_escalate
    options = {o["article_id"] for o in ticket.escalation.inputs["options"]}
    assert {"signin-email", "billing-email"} <= options and "export-data" not in options
    assert ticket.transitions[-1].reason.startswith("Asked which topic")
    assert ticket.messages[-1].metadata.get("clarify_options")
    spans = {s["name"]: s for s in desk.store.spans(ticket.ticket_id)}
    assert spans["clarify.decide"]["attributes"]["clarify.asked"] is True
    with sqlite3.connect(desk.settings.sqlite_path) as db:  # the row SQL reports count on
        (action,) = db.execute("SELECT action FROM tickets WHERE ticket_id = ?",
                               (ticket.ticket_id,)).fetchone()
    assert action == "clarify"  # neither an auto-reply nor an escalation


@pytest.mark.slow
@pytest.mark.parametrize("answer, article", [("the second one", None), ("billing", "billing-email"),
                                             ("sign-in", "signin-email")])
def test_the_customers_answer_gets_the_chosen_article(desk: Any, answer: str,
                                                     article: str | None) -> None:
    first = ask(desk, VAGUE)
    assert first.action == "clarify"
    options = [o["article_id"] for o in first.ticket.escalation.inputs["options"]]
    wanted = article or options[1]
    second = ask(desk, answer)
    assert second.action == "auto_reply"
    assert second.ticket.draft.sources[0].article_id == wanted
    assert second.ticket.retrieved[0].article_id == wanted
    assert second.ticket.search_plan.reason.startswith("answer to a clarifying question")


@pytest.mark.slow
def test_no_second_clarification_in_a_row(desk: Any) -> None:
    assert ask(desk, VAGUE).action == "clarify"
    again = ask(desk, "Change what?")
    assert again.action != "clarify"
    assert again.ticket.escalation.rule != "clarify"


@pytest.mark.slow
def test_a_topic_fixed_by_the_conversation_is_not_clarified(desk: Any) -> None:
    first = ask(desk, "How do I change the email address that receives my invoices?")
    assert first.action == "auto_reply"
    assert first.ticket.draft.sources[0].article_id == "billing-email"
    second = ask(desk, VAGUE)
    assert second.action != "clarify"
    assert second.ticket.search_plan.continuation
    assert second.ticket.retrieved[0].article_id == "billing-email"


@pytest.mark.slow
def test_a_clear_question_is_answered_not_clarified(desk: Any) -> None:
    result = ask(desk, "How do I change the email address I use to sign in?")
    assert result.action == "auto_reply"
    assert result.ticket.draft.sources[0].article_id == "signin-email"


@pytest.mark.slow
@pytest.mark.parametrize("text, rule", [
    ("A human please. How do I change it?", "asked_for_human"),
    ("How do I change it?! This is RIDICULOUS, I'm furious!!", "angry_or_urgent"),
])
def test_escalation_wins_over_a_question(desk: Any, text: str, rule: str) -> None:
    result = ask(desk, text)
    assert result.action == "escalated"
    assert result.ticket.escalation.rule == rule


@pytest.mark.slow
def test_an_off_topic_question_is_not_covered_not_clarified(desk: Any) -> None:
    result = ask(desk, "What is the capital of Mongolia?")
    assert result.action == "escalated"
    assert result.ticket.escalation.rule == "low_confidence"
    assert result.ticket.draft is not None and not result.ticket.draft.answered


@pytest.mark.slow
def test_clarification_can_be_switched_off(small_kb: Any, tmp_path: Path) -> None:
    from support_core.wiring import build_service

    svc = build_service(make_settings(tmp_path / "off", clarify_enabled=False))
    svc.__dict__["kb"] = small_kb
    result = svc.pipeline.process_message("clarify-off", "s1", VAGUE)
    assert result.action != "clarify"


@pytest.mark.slow
def test_the_chat_offers_the_topics_until_the_customer_picks_one(desk: Any) -> None:
    from support_core.chat_view import NextStep

    asked = ask(desk, VAGUE)
    labels = [o["label"] for o in asked.ticket.escalation.inputs["options"]]
    view = desk.views.chat(desk.customer, "s1")
    assert view.step is NextStep.CHOOSE and view.choices == labels
    answered = ask(desk, "Change your billing email")  # what the button sends
    assert answered.ticket.draft.sources[0].article_id == "billing-email"
    view = desk.views.chat(desk.customer, "s1")
    assert view.step is NextStep.CONFIRM and view.choices == []


@pytest.mark.slow
def test_the_cli_prints_the_question_and_takes_a_numbered_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from support_core.cli import main

    kb = tmp_path / "kb"
    kb.mkdir()
    for article in ARTICLES:
        (kb / f"{article.article_id}.md").write_text(article.text, encoding="utf-8")
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "ingest", str(kb)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "ask", "--customer", "c1", VAGUE]) == 0
    out = capsys.readouterr().out
    assert "[clarify]" in out and "Change your billing email" in out
    numbered = [line.split(". ", 1)[1] for line in out.splitlines()
                if line.startswith("  ") and ". " in line]
    assert "Change your billing email" in numbered
    choice = str(numbered.index("Change your billing email") + 1)
    assert main(["--data-dir", data, "ask", "--customer", "c1", choice]) == 0
    out = capsys.readouterr().out
    assert "[auto_reply]" in out and "Billing contact" in out
