"""Intake rules (entities, priority, category, product) and the LLM variant on a fake server."""

from __future__ import annotations

from typing import Any

import pytest

from support_core.adapters.openai_llm import OpenAIChat
from support_core.intake import LLMIntake, RuleIntake, extract_entities, product_hints
from support_core.models import Priority, SearchHit
from support_core.testing.fake_openai import Fail, FakeOpenAIServer

CATEGORIES = ["billing", "api", "account", "feature-requests", "onboarding", "integrations",
              "security"]
PRODUCTS = ["orbitly-app", "orbitly-api", "orbitly-billing"]
intake = RuleIntake(CATEGORIES, PRODUCTS)


def hit(category: str, product: str, score: float = 0.6, n: int = 0) -> SearchHit:
    return SearchHit(chunk_id=f"{category}-{n}:0", article_id=f"{category}-{n}", title=category,
                     text="", category=category, product=product, dense_score=score)


# ----------------------------------------------------------------------------- entities
@pytest.mark.parametrize(("text", "kind", "values"), [
    ("My order ORD-12345 never arrived", "order", ["ORD-12345"]),
    ("Order #12345 and ORD-99881", "order", ["#12345", "ORD-99881"]),
    ("Invoice INV-2026-0042 is wrong", "invoice", ["INV-2026-0042"]),
    ("mail jane.doe+billing@example.co.uk please", "email", ["jane.doe+billing@example.co.uk"]),
    ("Getting ORB-429 then WH-102 and PAY-051", "error_code", ["ORB-429", "WH-102", "PAY-051"]),
    ("The API returned HTTP 429", "http_status", ["HTTP 429"]),
    ("I get a 500 Internal Server Error", "http_status", ["HTTP 500"]),
    ("status code: 403 on every call", "http_status", ["HTTP 403"]),
    ("I paid $49.99 twice", "amount", ["$49.99"]),
    ("It cost €20 and then 49 USD", "amount", ["€20", "49 USD"]),
    ("my key sk_live_abcdef1234567890 stopped working", "api_key", ["sk_live_…7890"]),
])
def test_entities(text: str, kind: str, values: list[str]) -> None:
    assert extract_entities(text).get(kind) == values


@pytest.mark.parametrize(("text", "kind"), [
    ("Webhooks are signed with SHA-256", "error_code"),
    ("Invoice INV-2026-0042 is wrong", "error_code"),
    ("We have 500 users on the plan", "http_status"),
    ("Item #1 on the list", "order"),
    ("Contact me on Monday", "email"),
    ("We are 20 people", "amount"),
])
def test_entities_near_misses(text: str, kind: str) -> None:
    assert kind not in extract_entities(text)


def test_api_keys_are_never_copied() -> None:
    result = intake.classify("Here is my key: sk_test_SECRETsecret1234 - why 401?")
    assert "SECRETsecret" not in str(result.model_dump())
    assert any("API key" in r for r in result.reasons)


# ----------------------------------------------------------------------------- priority
@pytest.mark.parametrize(("text", "priority"), [
    ("Our production is down, nothing loads", Priority.CRITICAL),
    ("I think my account was hacked", Priority.CRITICAL),
    ("We lost all our data after the import", Priority.CRITICAL),
    ("I will take legal action over this", Priority.CRITICAL),
    ("My payment failed again", Priority.HIGH),
    ("My card was declined at checkout", Priority.HIGH),
    ("I can't log in since this morning", Priority.HIGH),
    ("I'm locked out of my account", Priority.HIGH),
    ("What does ORB-503 mean?", Priority.HIGH),
    ("You charged me twice this month", Priority.HIGH),
    ("How do I invite a teammate?", Priority.MEDIUM),
    ("Where can I find my invoices?", Priority.MEDIUM),
    ("Question about plans", Priority.MEDIUM),
    ("It would be nice to have a dark mode", Priority.LOW),
    ("Feature request: export to Excel", Priority.LOW),
    ("Some feedback on the new editor", Priority.LOW),
])
def test_priority(text: str, priority: Priority) -> None:
    result = intake.classify(text)
    assert result.priority == priority
    assert result.reasons[0].startswith(f"Priority {priority.value}:")


def test_most_severe_priority_wins() -> None:
    assert intake.classify("Feature request: please add SSO, also we were hacked").priority \
        == Priority.CRITICAL


# ----------------------------------------------------------------------------- category / product
@pytest.mark.parametrize(("text", "category", "product"), [
    ("I need a copy of my invoice and a refund", "billing", "orbitly-billing"),
    ("The API endpoint returns 429 rate limit errors", "api", "orbitly-api"),
    ("I forgot my password and cannot log in", "account", "orbitly-app"),
    ("It would be nice if you could add a Gantt view", "feature-requests", None),
    ("How do I set up SSO with SAML?", "security", "orbitly-app"),
    ("Does it integrate with Slack?", "integrations", None),
    ("Getting started: how do I invite a teammate?", "onboarding", "orbitly-app"),
])
def test_category_and_product_from_keywords(text: str, category: str, product: str | None) -> None:
    result = intake.classify(text)
    assert result.category == category
    assert result.product == product


def test_kb_hits_decide_when_words_do_not() -> None:
    hits = [hit("billing", "orbitly-billing", n=i) for i in range(3)]
    result = intake.classify("Where is my money back?", kb_hits=hits)
    assert (result.category, result.product) == ("billing", "orbitly-billing")
    assert "knowledge-base hits" in result.reasons[1]


def test_kb_vote_is_blended_with_keywords() -> None:
    text = "My API token stopped working"  # keywords say api
    assert intake.classify(text).category == "api"
    security_hits = [hit("security", "orbitly-app", 0.8, n=i) for i in range(5)]
    assert intake.classify(text, kb_hits=security_hits).category == "security"
    split = [hit("security", "orbitly-app", n=1), hit("billing", "orbitly-billing", n=2),
             hit("account", "orbitly-app", n=3)]  # a split vote does not beat clear words
    assert intake.classify(text, kb_hits=split).category == "api"


def test_kb_hits_of_unknown_categories_are_ignored() -> None:
    result = intake.classify("hello", kb_hits=[hit("shipping", "orbitly-app")])
    assert result.category is None


def test_nothing_to_go_on_gives_no_category() -> None:
    result = intake.classify("The sky is blue")
    assert (result.category, result.product) == (None, None)
    assert result.priority == Priority.MEDIUM


@pytest.mark.parametrize(("explicit", "category"), [
    ("security", "security"),  # the customer's choice beats the keywords
    ("nonsense", "billing"),  # an unknown choice is ignored
])
def test_explicit_category(explicit: str, category: str) -> None:
    result = intake.classify("Refund my invoice please", explicit_category=explicit)
    assert result.category == category


def test_categories_and_products_are_parameters() -> None:
    shop = RuleIntake(["shipping", "returns", "warranty"], ["acme-store", "acme-app"])
    result = shop.classify("Where is my package? The tracking has not moved",
                           kb_hits=[hit("billing", "orbitly-billing")])
    assert result.category == "shipping"
    assert result.category in shop.categories
    assert shop.classify("I want to send it back under returns").category == "returns"
    assert shop.classify("The mobile app crashes").product == "acme-app"


def test_product_hints_drop_the_shared_brand() -> None:
    hints = product_hints(PRODUCTS)
    assert "orbitly" not in hints["orbitly-api"]
    assert "api" in hints["orbitly-api"] and "invoice" in hints["orbitly-billing"]


# ----------------------------------------------------------------------------- LLM variant
def _llm_intake(server: FakeOpenAIServer) -> LLMIntake:
    llm = OpenAIChat("fake-model", base_url=server.base_url, api_key="k", timeout=5.0,
                     max_retries=0)
    return LLMIntake(llm, intake)


def _verdict(**kw: Any) -> dict[str, Any]:
    base = {"priority": "medium", "category": "api", "product": "orbitly-api",
            "entities": {}, "reasons": ["Asks about the API."]}
    return {**base, **kw}


def test_llm_verdict_is_used_and_entities_are_merged() -> None:
    reply = _verdict(priority="high", entities={"error_code": ["ORB-429"],
                                                "customer_name": ["Jane"]})
    with FakeOpenAIServer(lambda req: reply) as server:
        result = _llm_intake(server).classify("Getting ORB-429 and WH-102 from the webhooks")
        request = server.chat_requests()[0]
    assert result.backend == "llm:fake-model"
    assert (result.priority, result.category, result.product) == (
        Priority.HIGH, "api", "orbitly-api")
    assert result.entities["error_code"] == ["ORB-429", "WH-102"]
    assert result.entities["customer_name"] == ["Jane"]
    system = request["messages"][0]["content"]
    assert "feature-requests" in system and "orbitly-billing" in system


def test_unknown_labels_from_the_model_fall_back_to_rules() -> None:
    reply = _verdict(category="refunds", product="orbitly-pro")
    with FakeOpenAIServer(lambda req: reply) as server:
        result = _llm_intake(server).classify("Please refund my invoice")
    assert (result.category, result.product) == ("billing", "orbitly-billing")
    assert any("'refunds' is unknown" in r for r in result.reasons)


def test_rules_keep_critical_priority_and_explicit_category() -> None:
    with FakeOpenAIServer(lambda req: _verdict(priority="low")) as server:
        result = _llm_intake(server).classify("Production is down for all users",
                                              explicit_category="onboarding")
    assert result.priority == Priority.CRITICAL
    assert result.category == "onboarding"


def test_secrets_from_the_model_are_masked() -> None:
    reply = _verdict(entities={"api_key": ["sk_live_abcdef1234567890"]})
    with FakeOpenAIServer(lambda req: reply) as server:
        result = _llm_intake(server).classify("my key is sk_live_abcdef1234567890")
    assert result.entities["api_key"] == ["sk_live_…7890"]


@pytest.mark.parametrize("script_reply", ["not json", '{"priority": "whenever"}', Fail(500)])
def test_llm_failure_falls_back_to_rules(script_reply: object) -> None:
    with FakeOpenAIServer(lambda req: script_reply) as server:  # type: ignore[arg-type,return-value]
        result = _llm_intake(server).classify("I was charged twice on INV-2026-0042")
    assert result.backend.startswith("rules (llm failed:")
    assert result.category == "billing" and result.entities["invoice"] == ["INV-2026-0042"]
    assert result.priority == Priority.HIGH
