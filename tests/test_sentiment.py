"""Sentiment rules (signals, history, levels) and the LLM analyser against a fake OpenAI server."""

from __future__ import annotations

from typing import Any

import pytest

from support_core.adapters.openai_llm import OpenAIChat
from support_core.models import SIGNALS, CustomerSummary, Message, Role, SentimentLevel
from support_core.sentiment import (
    LLMSentimentAnalyzer,
    RuleSentimentAnalyzer,
    SentimentThresholds,
    signal_phrases,
    stated_contacts,
    text_signals,
)
from support_core.testing.fake_openai import Fail, FakeOpenAIServer

EXERCISE = ("I have been waiting two weeks for a refund that your agent promised me last month. "
            "I am considering filing a complaint with the consumer protection bureau.")
POLITE_FOURTH = "I understand you're busy, but this is my fourth contact about this issue"
SHOUTED_FIRST = "THIS IS ANNOYING!!!"

rules = RuleSentimentAnalyzer()


def customer(text: str) -> Message:
    return Message(role=Role.CUSTOMER, content=text)


# ----------------------------------------------------------------------------- signals
FIRES = [
    ("repeated_issue", "This is the third time I've contacted you about this"),
    ("repeated_issue", "My 3rd time writing in"),
    ("repeated_issue", POLITE_FOURTH),
    ("repeated_issue", "I have contacted you 5 times already"),
    ("repeated_issue", "It is still not fixed"),
    ("repeated_issue", "The export still isn't working"),
    ("repeated_issue", "The sync failed again"),
    ("repeated_issue", "Same issue again with the invoices"),
    ("repeated_issue", "It keeps happening every night"),
    ("repeated_issue", "I already reported this last week"),
    ("long_wait", "I have been waiting two weeks for an answer"),
    ("long_wait", "waited 3 days so far"),
    ("long_wait", "I've been trying for days"),
    ("long_wait", "No reply since last month"),
    ("long_wait", "It's been a month and nothing"),
    ("long_wait", "still waiting on a response"),
    ("long_wait", "The ticket has been open with no response for weeks"),
    ("threatening_churn", "I will cancel my subscription"),
    ("threatening_churn", "We're going to switch to a competitor"),
    ("threatening_churn", "I'll take my business elsewhere"),
    ("threatening_churn", "We are looking at alternatives"),
    ("threatening_churn", "We will not renew"),
    ("threatening_churn", "This is the last straw"),
    ("profanity", "This is fucking ridiculous"),
    ("profanity", "what the hell is going on"),
    ("profanity", "this shit is broken"),
    ("profanity", "f**k this"),
    ("profanity", "WTF happened to my data"),
    ("all_caps", "THIS IS ANNOYING"),
    ("all_caps", "WHY IS THIS STILL BROKEN"),
    ("all_caps", "I read the docs. WHY DOES NOTHING WORK"),
    ("multiple_exclamations", "Fix it!!"),
    ("multiple_exclamations", "Really?!!"),
    ("multiple_exclamations", "No! Stop! Now!"),
    ("legal_threat", "I sued a vendor for less"),
    ("legal_threat", "I will sue you"),
    ("legal_threat", "My lawyer will be in touch"),
    ("legal_threat", "I'm contacting my attorney"),
    ("legal_threat", "We are considering legal action"),
    ("legal_threat", "I'll take this to small claims court"),
    ("legal_threat", "filing a complaint with the consumer protection bureau"),
    ("legal_threat", "I will report you to the BBB"),
    ("billing_dispute", "You charged me twice"),
    ("billing_dispute", "I was double charged"),
    ("billing_dispute", "There is an unauthorized charge on my card"),
    ("billing_dispute", "I want to dispute this charge"),
    ("billing_dispute", "I filed a chargeback"),
    ("billing_dispute", "I never authorized this"),
    ("billing_dispute", "Still no sign of the refund"),
    ("billing_dispute", "Why are there two charges for the same order?"),
    ("billing_dispute", "There is an extra charge on my statement"),
    ("time_pressure", "I need this ASAP"),
    ("time_pressure", "This is urgent"),
    ("time_pressure", "Please fix it immediately"),
    ("time_pressure", "We need it by tomorrow"),
    ("time_pressure", "Our deadline is Friday"),
    ("time_pressure", "Production is down"),
    ("time_pressure", "We are losing money every hour"),
    ("previous_escalation", "This was already escalated"),
    ("previous_escalation", "I spoke to your manager last week"),
    ("previous_escalation", "your supervisor promised a fix"),
    ("asked_for_human", "I want to talk to a human"),
    ("asked_for_human", "this bot is useless, call me"),
    ("asked_for_human", "Can I speak to someone real?"),
]

NEAR_MISSES = [
    ("repeated_issue", "This is my first time using the API"),
    ("repeated_issue", "I use a third-party integration"),
    ("repeated_issue", "Thanks again for the help"),
    ("repeated_issue", "I'll try again tomorrow"),
    ("repeated_issue", "I'm still not sure how to set up webhooks"),
    ("repeated_issue", "Once again, thank you!"),
    ("long_wait", "Wait a minute, how do I export?"),
    ("long_wait", "I've used the product for months"),
    ("long_wait", "I'm waiting for a refund confirmation email"),
    ("long_wait", "I've been a customer since 2019"),
    ("threatening_churn", "How do I cancel an invoice?"),
    ("threatening_churn", "How do I switch to the annual plan?"),
    ("threatening_churn", "I'll leave a review"),
    ("threatening_churn", "How do I renew my plan?"),
    ("profanity", "Please assess my class pass"),
    ("profanity", "Hello there"),
    ("profanity", "I scrapped the draft"),
    ("profanity", "assign it to Cassandra"),
    ("all_caps", "CAN I export to CSV?"),
    ("all_caps", "Please fix the API ASAP"),
    ("all_caps", "Does SSO work with SAML?"),
    ("all_caps", "Error ORB-429 on invoice INV-2026-0042"),
    ("multiple_exclamations", "Thanks! Great!"),
    ("multiple_exclamations", "What?"),
    ("legal_threat", "pseudo code example"),
    ("legal_threat", "I have an issue with the issued invoice"),
    ("legal_threat", "please update my legal name"),
    ("legal_threat", "our lawyers need a copy of the DPA"),
    ("legal_threat", "Sue from your team helped me"),
    ("legal_threat", "send the report to my team"),
    ("billing_dispute", "How do I request a refund?"),
    ("billing_dispute", "Where can I download my invoice?"),
    ("billing_dispute", "What extra charges are there for more seats?"),
    ("time_pressure", "This is not urgent"),
    ("time_pressure", "a non-urgent question"),
    ("time_pressure", "The page loads immediately"),
    ("time_pressure", "How do I set a deadline on a task?"),
    ("time_pressure", "How do I download my data?"),
    ("time_pressure", "How do I subscribe to outage notifications?"),
    ("previous_escalation", "How does escalation work?"),
    ("previous_escalation", "Who is my account manager?"),
    ("asked_for_human", "How do I add an agent to my team?"),
    ("asked_for_human", "I don't need a person, just the link"),
    ("threatening_churn", "How do I cancel my subscription?"),
]


def test_every_signal_has_positive_and_near_miss_cases() -> None:
    assert {s for s, _ in FIRES} == set(SIGNALS)
    assert {s for s, _ in NEAR_MISSES} == set(SIGNALS)


@pytest.mark.parametrize(("signal", "text"), FIRES)
def test_signal_fires(signal: str, text: str) -> None:
    assert signal in rules.analyze(text, []).signals


@pytest.mark.parametrize(("signal", "text"), NEAR_MISSES)
def test_signal_does_not_fire_on_near_miss(signal: str, text: str) -> None:
    assert signal not in rules.analyze(text, []).signals


def test_one_acronym_does_not_shout_but_a_shouted_sentence_does() -> None:
    assert "all_caps" not in text_signals("Please send the invoice ASAP")
    assert "all_caps" in text_signals("I have tried everything. PLEASE FIX MY ACCOUNT")


@pytest.mark.parametrize(("text", "expected"), [
    (POLITE_FOURTH, 4), ("third time asking", 3), ("I emailed you three times", 4),
    ("This is my first message", 0), ("I use a third-party tool", 0),
])
def test_stated_contacts(text: str, expected: int) -> None:
    assert stated_contacts(text) == expected


# ----------------------------------------------------------------------------- frustration
def test_polite_fourth_contact_is_more_frustrated_than_first_time_shouting() -> None:
    polite = rules.analyze(POLITE_FOURTH, [], contact_count=4)
    shouted = rules.analyze(SHOUTED_FIRST, [], contact_count=1)
    assert polite.frustration_score > shouted.frustration_score
    assert polite.frustration_score >= 0.7  # high enough for the router's frustration rule
    assert "repeated_issue" in polite.signals


def test_frustration_grows_with_contact_count() -> None:
    scores = [rules.analyze("Any news on my export?", [], contact_count=n).frustration_score
              for n in range(1, 6)]
    assert scores == sorted(scores) and scores[0] < scores[-1]
    assert scores[0] < 0.4 <= scores[1]


def test_earlier_restatements_in_the_conversation_count_as_contacts() -> None:
    text = "The CSV export of my projects fails with an empty file"
    earlier = [customer("My CSV export of projects gives an empty file"),
               Message(role=Role.ASSISTANT, content="Try exporting again."),
               customer("CSV export still produces an empty file for projects")]
    repeated = rules.analyze(text, earlier)
    assert "repeated_issue" in repeated.signals
    assert any("restated in this conversation" in r for r in repeated.reasons)
    assert "repeated_issue" not in rules.analyze(text, [customer(text)]).signals  # itself


def test_unrelated_earlier_questions_do_not_count_as_repeats() -> None:
    earlier = [customer("How do I invite a teammate?"), customer("Where are invoices stored?")]
    assert "repeated_issue" not in rules.analyze("How do I enable SSO?", earlier).signals


def test_history_from_summary_adds_previous_escalation() -> None:
    summary = CustomerSummary(customer_id="c", total_interactions=12, previous_escalations=2)
    with_history = rules.analyze("Any update on my invoice?", [], summary)
    without = rules.analyze("Any update on my invoice?", [])
    assert "previous_escalation" in with_history.signals
    assert with_history.frustration_score > without.frustration_score
    assert any("escalated 2 time(s)" in r for r in with_history.reasons)


def test_seed_exercise() -> None:
    result = rules.analyze(EXERCISE, [])
    assert {"legal_threat", "long_wait", "billing_dispute"} <= set(result.signals)
    assert result.level in (SentimentLevel.FRUSTRATED, SentimentLevel.ANGRY)
    assert result.frustration_score >= 0.6
    assert "consumer protection bureau" in signal_phrases(result, "legal_threat")
    assert "waiting two weeks" in signal_phrases(result, "long_wait")


# ----------------------------------------------------------------------------- levels
@pytest.mark.parametrize(("text", "contacts", "level"), [
    ("Production is down, we need help ASAP", 1, SentimentLevel.URGENT),
    ("Our data was breached, fix this immediately", 1, SentimentLevel.URGENT),
    ("The export keeps failing and I need it by tomorrow, this is terrible", 1,
     SentimentLevel.URGENT),
    ("fuck this app", 1, SentimentLevel.ANGRY),
    ("THIS IS ANNOYING!!!", 1, SentimentLevel.ANGRY),
    ("I WILL SUE YOU!!!", 1, SentimentLevel.ANGRY),
    ("This is terrible, the sync is broken and useless", 1, SentimentLevel.FRUSTRATED),
    (POLITE_FOURTH, 4, SentimentLevel.FRUSTRATED),
    ("Thanks so much, that fixed it, you are great!", 1, SentimentLevel.POSITIVE),
    ("THANK YOU SO MUCH!!! Wonderful support", 1, SentimentLevel.POSITIVE),
    ("This is fucking awesome, love it", 1, SentimentLevel.POSITIVE),
    ("How do I export my data?", 1, SentimentLevel.NEUTRAL),
    ("Please send the invoice ASAP, thanks", 1, SentimentLevel.NEUTRAL),
    ("Thanks, great product, but I was charged twice", 1, SentimentLevel.NEUTRAL),
])
def test_level(text: str, contacts: int, level: SentimentLevel) -> None:
    result = rules.analyze(text, [], contact_count=contacts)
    assert result.level == level, result.reasons
    assert result.reasons[-1].startswith(f"Level {level.value}:")


def test_positive_tone_on_a_repeat_contact_is_not_positive() -> None:
    result = rules.analyze("Thanks, that is great to hear", [], contact_count=3)
    assert result.level == SentimentLevel.FRUSTRATED


def test_confidence_rises_when_evidence_agrees() -> None:
    weak = rules.analyze("This is a bit disappointing", [])
    strong = rules.analyze("This is terrible. Third time I've asked, I'll cancel my "
                           "subscription", [], contact_count=3)
    assert weak.level == strong.level == SentimentLevel.FRUSTRATED
    assert strong.confidence > weak.confidence


def test_thresholds_are_parameters() -> None:
    text = "This is a bit disappointing"
    assert rules.analyze(text, []).level == SentimentLevel.FRUSTRATED
    lenient = RuleSentimentAnalyzer(SentimentThresholds(frustrated_compound=-0.9))
    assert lenient.analyze(text, []).level == SentimentLevel.NEUTRAL
    weights = {s: 0.0 for s in SIGNALS}
    quiet = RuleSentimentAnalyzer(SentimentThresholds(signal_weights=weights, tone_weight=0.0))
    assert quiet.analyze("I will cancel my subscription", []).frustration_score == 0.0


def test_reasons_quote_the_evidence() -> None:
    result = rules.analyze("I'll take my business elsewhere, I was double charged", [])
    assert signal_phrases(result, "threatening_churn") == ["take my business elsewhere"]
    assert signal_phrases(result, "billing_dispute") == ["double charged"]
    assert result.reasons[0].startswith("Tone: VADER compound")


# ----------------------------------------------------------------------------- LLM variant
def _verdict(**kw: Any) -> dict[str, Any]:
    base = {"level": "neutral", "confidence": 0.8, "frustration_score": 0.1, "signals": [],
            "reasons": ["The customer asks calmly."]}
    return {**base, **kw}


def _llm_analyzer(server: FakeOpenAIServer) -> LLMSentimentAnalyzer:
    llm = OpenAIChat("fake-model", base_url=server.base_url, api_key="k", timeout=5.0,
                     max_retries=0)
    return LLMSentimentAnalyzer(llm, RuleSentimentAnalyzer())


def test_llm_verdict_is_used_and_gets_history() -> None:
    reply = _verdict(level="frustrated", confidence=0.7, frustration_score=0.55,
                     signals=["long_wait", "not_a_signal"], reasons=["Waited long."])
    summary = CustomerSummary(customer_id="c", total_interactions=3, recent_topics=["billing"])
    earlier = [customer("Where is my invoice?"), Message(role=Role.ASSISTANT, content="Here.")]
    with FakeOpenAIServer(lambda req: reply) as server:
        result = _llm_analyzer(server).analyze("Hm, still nothing.", earlier, summary)
        request = server.chat_requests()[0]
    assert result.backend == "llm:fake-model"
    assert (result.level, result.frustration_score, result.confidence) == (
        SentimentLevel.FRUSTRATED, 0.55, 0.7)
    assert result.signals == ["long_wait"]  # unknown signal names are dropped
    assert request["response_format"]["type"] == "json_schema"
    prompt = request["messages"][-1]["content"]
    assert "Where is my invoice?" in prompt and "billing" in prompt
    assert prompt.endswith("Hm, still nothing.")


@pytest.mark.parametrize("script_reply", ["not json at all", '{"level": "furious"}', Fail(500)])
def test_llm_failure_falls_back_to_rules(script_reply: object) -> None:
    with FakeOpenAIServer(lambda req: script_reply) as server:  # type: ignore[arg-type,return-value]
        result = _llm_analyzer(server).analyze(EXERCISE, [])
    assert result.backend.startswith("rules (llm failed:")
    assert "legal_threat" in result.signals
    assert result.reasons[-1].startswith("Language model unavailable")


def test_legal_threat_is_kept_when_the_model_says_neutral() -> None:
    with FakeOpenAIServer(lambda req: _verdict()) as server:
        result = _llm_analyzer(server).analyze(EXERCISE, [])
    assert "legal_threat" in result.signals
    assert result.level != SentimentLevel.NEUTRAL
    assert "consumer protection bureau" in signal_phrases(result, "legal_threat")
    assert any(r.startswith("Rules kept: legal_threat") for r in result.reasons)


def test_profanity_is_kept_and_raises_the_level() -> None:
    with FakeOpenAIServer(lambda req: _verdict(level="positive")) as server:
        result = _llm_analyzer(server).analyze("fuck this app", [])
    assert "profanity" in result.signals
    assert result.level == SentimentLevel.ANGRY


def test_history_floor_holds_under_the_model_score() -> None:
    with FakeOpenAIServer(lambda req: _verdict(frustration_score=0.05)) as server:
        result = _llm_analyzer(server).analyze(POLITE_FOURTH, [], contact_count=4)
    assert result.frustration_score >= 1 - 0.6**3  # the floor for a fourth contact
    assert result.frustration_score > 0.7
    assert "repeated_issue" in result.signals
    assert result.level == SentimentLevel.FRUSTRATED
