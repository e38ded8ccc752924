"""Conversation-aware search: the plan on a keyword fake, eval-retrieval with and without
history on a tiny corpus, and follow-ups through the whole pipeline on both memory
backends (SQLite and a real Redis)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support_core.confidence import content_terms
from support_core.kb.conversation_query import (
    Conversation,
    ConversationSearch,
    context_query,
    refers_back,
    replay,
)
from support_core.kb.evaluation import evaluate_retrieval
from support_core.kb.fusion import fuse_rankings
from support_core.models import Message, MessageMetadata, Role, SearchHit, Source
from tests.conftest import make_settings

ARTICLES = {
    "ira": ("IRA contribution limits", "How much you can put into an IRA each year, by age."),
    "spousal": ("Spousal IRA", "A spouse with no income can still fund an IRA of their own."),
    "insurance": ("Insurance for your spouse", "Add your spouse or partner to your health "
                  "insurance. A spouse is covered from the first day; spouse cards follow."),
    "mortgage": ("Mortgage refinancing", "Refinance a mortgage when rates fall below yours."),
}


class KeywordSearcher:
    """A deterministic stand-in for the knowledge base: articles ranked by shared content
    words, with retriever ranks and a dense-like score so confidence can read the hits."""

    def __init__(self, articles: dict[str, tuple[str, str]] = ARTICLES) -> None:
        self.articles = articles
        self.queries: list[str] = []

    def search(
        self, query: str, *, category: str | None = None, product: str | None = None, k: int = 5
    ) -> list[SearchHit]:
        self.queries.append(query)
        wanted = content_terms(query)
        scored = sorted(
            ((len(wanted & content_terms(f"{title} {text}")), article_id)
             for article_id, (title, text) in self.articles.items()),
            key=lambda pair: (-pair[0], pair[1]),
        )
        return [  # every article comes back; only matching ones carry retriever ranks
            SearchHit(chunk_id=f"{a}:0", article_id=a, title=self.articles[a][0],
                      text=self.articles[a][1], dense_score=min(1.0, 0.1 + 0.2 * s),
                      bm25_score=float(s), dense_rank=rank if s else None,
                      bm25_rank=rank if s else None, fused_score=s / max(1, len(wanted)))
            for rank, (s, a) in enumerate(scored[:k], start=1)
        ]


@pytest.mark.parametrize(
    ("text", "alone"),
    [
        ("yes I did that", False),
        ("what about for my spouse?", False),
        ("And the fees?", False),
        ("Does it work on mobile?", False),
        ("Thanks, I tried again", False),
        ("How do I refinance my mortgage?", True),
        ("Is there a limit on API requests per minute?", True),
        ("Which plans include single sign-on with SAML?", True),
    ],
)
def test_refers_back_tells_follow_ups_from_questions_that_stand_alone(
    text: str, alone: bool
) -> None:
    assert (refers_back(text) == "") is alone, refers_back(text)


def test_rank_fusion_adds_weighted_reciprocal_ranks() -> None:
    fused = dict(fuse_rankings([(["a", "b"], 1.0), (["b", "c"], 1.0), (["c"], 0.5)], k=10))
    assert fused["a"] == pytest.approx(1 / 11)
    assert fused["b"] == pytest.approx(1 / 12 + 1 / 11)
    assert fused["c"] == pytest.approx(1 / 12 + 0.5 / 11)
    assert [a for a, _ in fuse_rankings([(["x", "y"], 1.0), (["y", "x"], 1.0)])] == ["x", "y"]


def test_a_follow_up_with_no_topic_words_keeps_the_article_of_the_last_answer() -> None:
    searcher = KeywordSearcher()
    planner = ConversationSearch(searcher)
    alone, _ = planner.search("yes, I did that. What now?")
    assert alone[0].article_id != "ira"  # nothing to find from the message itself
    conversation = Conversation(("How much can I put into an IRA?",), "ira",
                                "IRA contribution limits")
    hits, plan = planner.search("yes, I did that. What now?", conversation)
    assert hits[0].article_id == "ira"
    assert plan.continuation and plan.current_article == "ira"
    assert plan.context_query == context_query("yes, I did that. What now?", conversation)
    assert "How much can I put into an IRA?" in searcher.queries[-1]


def test_a_follow_up_is_searched_with_the_topic_and_weighted_to_the_new_words() -> None:
    planner = ConversationSearch(KeywordSearcher())
    alone, _ = planner.search("what about for my spouse?")
    assert alone[0].article_id == "insurance"  # "spouse" alone: the wrong topic
    conversation = Conversation(("Can my partner fund an IRA?",), "ira")
    hits, plan = planner.search("what about for my spouse?", conversation)
    assert plan.continuation
    assert hits[0].article_id == "spousal"  # IRA (topic) + spouse (latest)


def test_a_new_question_that_stands_alone_switches_article() -> None:
    searcher = KeywordSearcher()
    planner = ConversationSearch(searcher)
    conversation = Conversation(("How much can I put into an IRA?",), "ira")
    hits, plan = planner.search("How do I refinance my mortgage when rates fall?", conversation)
    assert not plan.continuation and "new question" in plan.reason
    assert hits[0].article_id == "mortgage"
    assert len(searcher.queries) == 1  # the latest message only: no context search


@pytest.mark.parametrize(("strategy", "query_count"), [("last", 1), ("joined", 1)])
def test_baseline_strategies_search_once(strategy: str, query_count: int) -> None:
    searcher = KeywordSearcher()
    planner = ConversationSearch(searcher, strategy=strategy)  # type: ignore[arg-type]
    conversation = Conversation(("How much can I put into an IRA?",), "ira")
    _, plan = planner.search("what about for my spouse?", conversation)
    assert len(searcher.queries) == query_count and plan.strategy == strategy
    expected = "what about for my spouse?" if strategy == "last" else (
        "How much can I put into an IRA?\nwhat about for my spouse?")
    assert searcher.queries == [expected]


def _message(role: Role, text: str, **meta: Any) -> Message:
    return Message(role=role, content=text, metadata=MessageMetadata(**meta))


def test_the_current_article_is_the_last_answers_source_else_the_last_turns_topic() -> None:
    cited = [
        _message(Role.CUSTOMER, "first", topic_articles=["a", "b"]),
        _message(Role.ASSISTANT, "answer", sources=[Source(article_id="b", title="B")]),
    ]
    assert Conversation.from_messages(cited) == Conversation(("first",), "b", "B")
    held = [*cited, _message(Role.CUSTOMER, "second", topic_articles=["c"]),
            _message(Role.ASSISTANT, "holding", holding=True)]
    assert Conversation.from_messages(held) == Conversation(("first", "second"), "c", "")
    history = [{"role": "user", "text": "q1"}, {"role": "agent", "text": "a1"},
               {"role": "user", "text": "q2"}]
    assert Conversation.from_history(history).turns == ("q1", "q2")


def test_replay_carries_each_turns_top_article_forward() -> None:
    planner = ConversationSearch(KeywordSearcher())
    hits, plan = replay(planner, ["How much can I put into an IRA?"], "yes I did that")
    assert plan.current_article == "ira" and plan.previous_turns == 1
    assert hits[0].article_id == "ira"


# ----------------------------------------------------------------------------- eval-retrieval
def test_eval_retrieval_uses_history_unless_told_not_to(tmp_path: Path) -> None:
    corpus, queries = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl"
    rows = [{"id": k, "title": t, "text": f"{t}\n{body}"} for k, (t, body) in ARTICLES.items()]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    history = [{"role": "user", "text": "How much can I put into an IRA this year?"},
               {"role": "agent", "text": "Up to the yearly limit."}]
    qrows = [
        {"id": "q1", "query": "what about for my spouse?", "history": history,
         "gold_ids": ["spousal"]},
        {"id": "q2", "query": "When should I refinance my mortgage?", "gold_ids": ["mortgage"]},
    ]
    queries.write_text("\n".join(json.dumps(r) for r in qrows))
    settings = make_settings(tmp_path / "app")
    with_history = evaluate_retrieval(corpus, queries, mode="bm25", settings=settings)
    last_only = evaluate_retrieval(corpus, queries, mode="bm25", settings=settings,
                                   history=False)
    assert (with_history["with_history"], last_only["with_history"]) == (1, 0)
    assert with_history["hit@1"] == 1.0
    assert last_only["hit@1"] == 0.5  # the follow-up alone finds the insurance article
    assert with_history["ndcg@10"] > last_only["ndcg@10"]


# ----------------------------------------------------------------------------- the pipeline
REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
FIRST = "How do I rotate my API key?"
FOLLOW_UP = "Yes, I did that already. What now?"
NEW_TOPIC = "How do I cancel my subscription?"


@pytest.fixture(params=["sqlite", "redis"])
def backend_service(request: pytest.FixtureRequest, service_factory) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    if request.param == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()  # fail, never skip
        yield service_factory(redis_url=REDIS_URL)
    else:
        yield service_factory()


@pytest.mark.slow
def test_pipeline_follow_up_retrieves_the_article_of_the_previous_answer(
    backend_service: Any,
) -> None:
    svc = backend_service
    customer = f"conv-{uuid.uuid4().hex[:8]}"
    try:
        first = svc.pipeline.process_message(customer, "s1", FIRST)
        assert first.action == "auto_reply" and first.ticket.draft.sources
        cited = first.ticket.draft.sources[0].article_id
        assert first.ticket.search_plan.reason == "first message"
        alone = svc.kb.search(FOLLOW_UP, k=5)
        assert alone[0].article_id != cited  # the follow-up alone would find something else
        second = svc.pipeline.process_message(customer, "s1", FOLLOW_UP)
        plan = second.ticket.search_plan
        assert plan.continuation and plan.current_article == cited and plan.previous_turns == 1
        assert second.ticket.retrieved[0].article_id == cited
        stored = svc.store.get_ticket(second.ticket.ticket_id)
        assert stored.search_plan == plan  # kept on the ticket for the trace page
    finally:
        svc.memory.forget_customer(customer)


@pytest.mark.slow
def test_pipeline_new_topic_turn_switches_article(backend_service: Any) -> None:
    svc = backend_service
    customer = f"conv-{uuid.uuid4().hex[:8]}"
    try:
        first = svc.pipeline.process_message(customer, "s1", FIRST)
        before = first.ticket.retrieved[0].article_id
        second = svc.pipeline.process_message(customer, "s1", NEW_TOPIC)
        plan = second.ticket.search_plan
        assert plan.previous_turns == 1 and not plan.continuation
        top = second.ticket.retrieved[0]
        assert top.article_id != before and "cancel" in top.title.lower()
    finally:
        svc.memory.forget_customer(customer)
