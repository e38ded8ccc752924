"""The pipeline with an OpenAI-compatible LLM configured, by settings alone.

The model is the one thing we fake: a local HTTP server speaking the OpenAI
wire format, driven by the real ``openai`` client inside the real adapters.
"""

from __future__ import annotations

from typing import Any

import pytest

from support_core.testing.fake_openai import Fail, FakeOpenAIServer, last_user_message

pytestmark = pytest.mark.slow

SIMPLE = "How do I rotate my API key?"


def scripted_model(reply_text: str | Fail) -> Any:
    """Answer schema requests (sentiment, intake) with valid JSON, free text with ``reply_text``."""

    def script(req: dict[str, Any]) -> str | Fail | dict[str, Any]:
        fmt = req.get("response_format")
        if not fmt:
            return reply_text
        props = fmt["json_schema"]["schema"].get("properties", {})
        if "level" in props:
            return {"level": "neutral", "confidence": 0.9, "frustration_score": 0.05,
                    "signals": [], "reasons": ["calm question"]}
        if "priority" in props:
            return {"priority": "medium", "category": "api", "product": "orbitly-api",
                    "entities": {}, "reasons": ["api question"]}
        return Fail(400, f"unexpected schema {sorted(props)}")

    return script


def llm_service(service_factory, server: FakeOpenAIServer):  # type: ignore[no-untyped-def]
    return service_factory(llm_base_url=server.base_url, llm_api_key="test", llm_model="fake-llm",
                           llm_max_retries=0, llm_timeout_seconds=5)


def test_llm_writes_the_reply_from_retrieved_text_only(service_factory) -> None:
    answer = "Go to Settings → Developer → API keys and choose Rotate [1]. Anything else?"
    with FakeOpenAIServer(scripted_model(answer)) as server:
        svc = llm_service(service_factory, server)
        result = svc.pipeline.process_message("llm-1", "s1", SIMPLE)
        reply_request = [r for r in server.chat_requests() if "response_format" not in r][-1]
    t = result.ticket
    assert result.action == "auto_reply" and result.message.startswith("Go to Settings")
    assert t.draft.generator.startswith("llm") and t.draft.tokens_used > 0
    assert t.sentiment.backend.startswith("llm") and t.intake.backend.startswith("llm")
    prompt = "\n".join(m["content"] for m in reply_request["messages"])
    assert t.retrieved[0].text[:60] in prompt
    assert SIMPLE in last_user_message(reply_request)


def test_model_confidence_claims_do_not_change_confidence(service_factory, service) -> None:
    baseline = service.pipeline.process_message("llm-2", "s1", SIMPLE).ticket.draft.confidence
    boast = "Rotate it under Settings → Developer → API keys [1].\nCONFIDENCE: 0.99"
    with FakeOpenAIServer(scripted_model(boast)) as server:
        svc = llm_service(service_factory, server)
        draft = svc.pipeline.process_message("llm-2", "s1", SIMPLE).ticket.draft
    assert draft.confidence <= baseline + 1e-9


def test_llm_failure_falls_back_to_the_composer_and_is_recorded(service_factory) -> None:
    with FakeOpenAIServer(scripted_model(Fail(500, "model crashed"))) as server:
        svc = llm_service(service_factory, server)
        result = svc.pipeline.process_message("llm-3", "s1", SIMPLE)
    t = result.ticket
    assert t.draft.generator == "grounded-composer" and t.draft.fallback_reason
    assert any(e.stage == "response.llm" for e in t.stage_errors)
    assert result.action == "auto_reply"  # the composer's grounded answer still ships
    assert "Sources" not in result.message and result.ticket.draft.sources
    assert "Sources:" in result.text_with_sources()


def test_model_that_finds_no_answer_leads_to_an_honest_escalation(service_factory) -> None:
    with FakeOpenAIServer(scripted_model("NO_ANSWER")) as server:
        svc = llm_service(service_factory, server)
        result = svc.pipeline.process_message("llm-4", "s1", SIMPLE)
    assert result.ticket.draft.answered is False
    assert result.action == "escalated"
