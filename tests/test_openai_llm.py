"""The LLM adapter against a local server speaking the OpenAI wire format."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from support_core.adapters.openai_llm import OpenAIChat
from support_core.errors import LLMError
from support_core.testing.fake_openai import Fail, FakeOpenAIServer, Slow


class Verdict(BaseModel):
    label: str
    score: float


def _client(server: FakeOpenAIServer, **kw: float) -> OpenAIChat:
    return OpenAIChat(
        "fake-model",
        base_url=server.base_url,
        api_key="k",
        timeout=kw.get("timeout", 5.0),
        max_retries=int(kw.get("retries", 0)),
    )


def test_plain_reply_and_tokens_are_returned() -> None:
    with FakeOpenAIServer(lambda req: "Hello there") as server:
        reply = _client(server).chat([{"role": "user", "content": "hi"}])
    assert reply.text == "Hello there"
    assert reply.tokens_used > 0
    assert server.chat_requests()[0]["messages"][0]["content"] == "hi"


def test_schema_reply_is_validated_even_inside_a_fence() -> None:
    with FakeOpenAIServer(lambda req: '```json\n{"label": "ok", "score": 0.5}\n```') as server:
        reply = _client(server).chat([{"role": "user", "content": "x"}], schema=Verdict)
    assert reply.parsed == Verdict(label="ok", score=0.5)
    assert server.chat_requests()[0]["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize(
    "script_reply",
    [Fail(500, "boom"), Fail(401, "bad key"), '{"label": "missing score"}', "not json at all"],
)
def test_failures_become_llm_errors(script_reply: object) -> None:
    with FakeOpenAIServer(lambda req: script_reply) as server:  # type: ignore[arg-type,return-value]
        with pytest.raises(LLMError):
            _client(server).chat([{"role": "user", "content": "x"}], schema=Verdict)


def test_timeout_becomes_llm_error() -> None:
    with FakeOpenAIServer(lambda req: Slow(2.0)) as server:
        with pytest.raises(LLMError):
            _client(server, timeout=0.3).chat([{"role": "user", "content": "x"}])


def test_retries_recover_from_a_transient_error() -> None:
    calls: list[int] = []

    def flaky(req: dict) -> object:
        calls.append(1)
        return Fail(503, "busy") if len(calls) == 1 else "recovered"

    with FakeOpenAIServer(flaky) as server:  # type: ignore[arg-type]
        reply = _client(server, retries=2).chat([{"role": "user", "content": "x"}])
    assert reply.text == "recovered"
    assert len(calls) == 2
