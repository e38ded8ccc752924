"""Follow-ups searched as the chat model's standalone query (LLM path), and every way that
can fail falling back to the offline plan. The model is a local OpenAI-wire server driven by
the real ``openai`` client; the knowledge base is the real sample KB."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from support_core.cli import main
from support_core.kb.query_rewrite import MAX_TURNS, REWRITE_SYSTEM, rewrite_messages, standalone
from support_core.testing.fake_openai import Fail, FakeOpenAIServer, Slow, last_user_message
from tests.test_conversations import REDIS_URL
from tests.test_pipeline_llm import scripted_model

FIRST = "How do I rotate my API key? My email is ann.lee@example.com"
FOLLOW_UP = "and how often should I do that?"
REWRITE = "How often should I rotate my API key"


def is_rewrite(req: dict[str, Any]) -> bool:
    return req["messages"][0]["content"] == REWRITE_SYSTEM


def model(rewrite: str | Fail) -> Any:
    """Rewrite requests get ``rewrite``; the rest as in the pipeline's LLM tests (valid JSON
    for sentiment and intake, a cited answer for the reply)."""
    others = scripted_model("Rotate it under Settings → Developer → API keys [1].")

    def script(req: dict[str, Any]) -> Any:
        return rewrite if is_rewrite(req) else others(req)

    return script


def converse(service_factory: Any, rewrite: str | Fail, **settings: Any
             ) -> tuple[Any, Any, list[dict[str, Any]], Any]:
    """One customer's first message and follow-up through the pipeline with the model on:
    both results, the rewrite requests the model got, and the service (its stored spans)."""
    with FakeOpenAIServer(model(rewrite)) as server:
        svc = service_factory(llm_base_url=server.base_url, llm_api_key="test",
                              llm_model="fake-llm", llm_max_retries=0, llm_timeout_seconds=5,
                              **settings)
        customer = f"rw-{uuid.uuid4().hex[:8]}"  # Redis memory outlives the test's data dir
        first = svc.pipeline.process_message(customer, "s1", FIRST)
        second = svc.pipeline.process_message(customer, "s1", FOLLOW_UP)
        svc.customer = customer
        requests = [r for r in server.chat_requests() if is_rewrite(r)]
    return first, second, requests, svc


@pytest.mark.parametrize("answer, query", [
    ("How often should I rotate my API key", "How often should I rotate my API key"),
    ('Query: "How often should I rotate my API key?"\nBecause the customer asked…',
     "How often should I rotate my API key?"),
    ("\n\n  Standalone search query: reset password link  ", "reset password link"),
    ("", None),
    (" ".join(["word"] * 41), None),  # an answer, not a query
])
def test_the_query_is_the_first_line_without_labels_or_quotes(answer: str,
                                                              query: str | None) -> None:
    assert standalone(answer) == query


def test_the_model_reads_recent_turns_the_article_in_view_and_the_latest_message_last() -> None:
    turns = [f"turn {i}" for i in range(MAX_TURNS + 2)]
    system, user = rewrite_messages("and the second one?", turns, "Rotate an API key")
    assert system["content"] == REWRITE_SYSTEM
    text = user["content"]
    assert "turn 0" not in text and f"turn {MAX_TURNS + 1}" in text  # only the recent ones
    assert "Article in view: Rotate an API key" in text
    assert text.endswith("Latest message:\nand the second one?")


@pytest.mark.slow
@pytest.mark.parametrize("memory", ["sqlite", "redis"])
def test_a_follow_up_is_searched_as_the_models_standalone_query(service_factory: Any,
                                                                memory: str) -> None:
    """The earlier turn the model reads comes from the session memory: SQLite or real Redis."""
    on_redis = {"redis_url": REDIS_URL} if memory == "redis" else {}
    first, second, requests, svc = converse(service_factory, REWRITE, **on_redis)
    if on_redis:
        svc.memory.forget_customer(svc.customer)
    assert first.ticket.search_plan.rewritten is False  # a first message costs no model call
    assert len(requests) == 1
    asked = last_user_message(requests[0])
    assert "How do I rotate my API key?" in asked and asked.endswith(FOLLOW_UP)
    assert "ann.lee@example.com" not in asked  # the stored, redacted turn
    plan = second.ticket.search_plan
    assert plan.continuation and plan.rewritten and plan.context_query == REWRITE
    assert "rewritten by the model" in plan.reason
    spans = [sp for sp in svc.store.spans(second.ticket.ticket_id)
             if sp["name"] == "kb.search"]
    assert spans and spans[-1]["attributes"]["retrieval.query_rewritten"] is True
    assert second.ticket.retrieved[0].title == "API authentication and managing API keys"


@pytest.mark.slow
@pytest.mark.parametrize("rewrite", [Fail(500, "model down"), "", " ".join(["answer"] * 60)])
def test_a_failed_or_unusable_rewrite_falls_back_to_the_offline_plan(
        service_factory: Any, rewrite: str | Fail) -> None:
    _, second, requests, _ = converse(service_factory, rewrite)
    assert len(requests) == 1  # asked once (no retries configured), then searched offline
    plan = second.ticket.search_plan
    assert plan.continuation and not plan.rewritten
    assert plan.context_query and plan.context_query.startswith(FOLLOW_UP)  # context_query()
    assert second.ticket.retrieved  # the turn is searched and handled, nothing lost


@pytest.mark.slow
@pytest.mark.parametrize("timeout, rewritten", [(0.5, False), (5.0, True)])
def test_the_rewrite_has_its_own_short_timeout(service_factory: Any, timeout: float,
                                               rewritten: bool) -> None:
    """A model that takes 2 s to rewrite is dropped at a 0.5 s rewrite timeout (the reply's
    own timeout is 5 s here) and waited for at 5 s."""
    _, second, requests, _ = converse(service_factory, Slow(2.0, then=REWRITE),
                                      llm_rewrite_timeout_seconds=timeout)
    assert len(requests) == 1  # no retry either way
    assert second.ticket.search_plan.rewritten is rewritten


@pytest.mark.slow
def test_rewriting_can_be_switched_off(service_factory: Any) -> None:
    _, second, requests, _ = converse(service_factory, REWRITE, llm_rewrite_queries=False)
    assert requests == [] and not second.ticket.search_plan.rewritten


@pytest.mark.slow
def test_eval_retrieval_searches_follow_ups_as_the_pipeline_does_with_the_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deskpilot eval-retrieval`` with an LLM configured replays each row's history through
    the same rewriter, so a team can measure the rewrite on its own conversations."""
    corpus, queries = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl"
    corpus.write_text("\n".join(json.dumps(a) for a in [
        {"id": "keys", "title": "Rotate API keys",
         "text": "Rotate your API keys every 90 days under Settings, Developer, API keys."},
        {"id": "pw", "title": "Change your password",
         "text": "Change your password every 90 days under Settings, Security."},
    ]))
    turn = "I need to rotate my API key"
    queries.write_text(json.dumps({"id": "q1", "query": FOLLOW_UP, "gold_ids": ["keys"],
                                   "history": [{"role": "user", "text": turn},
                                               {"role": "agent", "text": "Sure."}]}))
    with FakeOpenAIServer(model(REWRITE)) as server:
        for key, value in {"SUPPORT_LLM_BASE_URL": server.base_url, "SUPPORT_LLM_API_KEY": "t",
                           "SUPPORT_LLM_MODEL": "fake-llm", "SUPPORT_LLM_MAX_RETRIES": "0"
                           }.items():
            monkeypatch.setenv(key, value)
        code = main(["--data-dir", str(tmp_path / "d"), "eval-retrieval", "--corpus",
                     str(corpus), "--queries", str(queries), "--json"])
        asked = [last_user_message(r) for r in server.chat_requests() if is_rewrite(r)]
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["with_history"] == 1 and report["hit@1"] == 1.0
    assert len(asked) == 1 and turn in asked[0] and asked[0].endswith(FOLLOW_UP)
