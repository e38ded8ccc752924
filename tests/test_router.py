"""The escalation router: every rule, its precedence, thresholds from settings, asks_for_human."""

from __future__ import annotations

from typing import Any

import pytest

from support_core.config import Settings
from support_core.models import (
    Priority,
    Queue,
    SentimentLevel,
    SentimentResult,
    StageError,
)
from support_core.router import RULES, RouterThresholds, asks_for_human, route
from support_core.sentiment import RuleSentimentAnalyzer

EXERCISE = ("I have been waiting two weeks for a refund that your agent promised me last month. "
            "I am considering filing a complaint with the consumer protection bureau.")


def sentiment(level: str = "neutral", frustration: float = 0.1, signals: tuple[str, ...] = (),
              reasons: tuple[str, ...] = ()) -> SentimentResult:
    return SentimentResult(level=SentimentLevel(level), confidence=0.8,
                           frustration_score=frustration, signals=list(signals),
                           reasons=list(reasons))


CALM = sentiment()
FAILED = StageError(stage="kb.search", error="Chroma is unavailable")

# (case id, sentiment, confidence, keyword arguments, queue, priority, rule)
CASES: list[tuple[str, SentimentResult, float, dict[str, Any], Queue, Priority, str]] = [
    ("stage failure", CALM, 0.9, {"stage_errors": [FAILED]}, Queue.TIER1, Priority.HIGH,
     "stage_failure"),
    ("legal", sentiment("frustrated", 0.6, ("legal_threat",)), 0.9, {}, Queue.MANAGER,
     Priority.CRITICAL, "legal_threat"),
    ("urgent", sentiment("urgent", 0.3, ("time_pressure",)), 0.9, {}, Queue.TIER2,
     Priority.CRITICAL, "angry_or_urgent"),
    ("angry", sentiment("angry", 0.5, ("profanity",)), 0.9, {}, Queue.TIER1, Priority.HIGH,
     "angry_or_urgent"),
    ("frustrated, unsure", sentiment("frustrated", 0.8), 0.7, {}, Queue.TIER1, Priority.HIGH,
     "frustrated_low_confidence"),
    ("low confidence", CALM, 0.4, {}, Queue.TIER1, Priority.MEDIUM, "low_confidence"),
    ("no answer", CALM, 0.9, {"answered": False}, Queue.TIER1, Priority.MEDIUM, "low_confidence"),
    ("repeat contact", CALM, 0.9, {"contact_count": 3}, Queue.TIER2, Priority.HIGH,
     "repeat_contact"),
    ("asked for human", CALM, 0.9, {"wants_human": True}, Queue.TIER1, Priority.MEDIUM,
     "asked_for_human"),
    ("auto", CALM, 0.9, {}, Queue.AUTO, Priority.LOW, "auto_reply"),
    ("frustrated but sure", sentiment("frustrated", 0.8), 0.8, {}, Queue.AUTO, Priority.LOW,
     "auto_reply"),
]


@pytest.mark.parametrize(("sent", "confidence", "kwargs", "queue", "priority", "rule"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule(sent: SentimentResult, confidence: float, kwargs: dict[str, Any],
                   queue: Queue, priority: Priority, rule: str) -> None:
    kwargs = {"contact_count": 1, "intake_priority": Priority.LOW, **kwargs}
    decision = route(sent, confidence, **kwargs)
    assert (decision.queue, decision.priority, decision.rule) == (queue, priority, rule)
    assert decision.should_escalate == (queue != Queue.AUTO)
    assert decision.reason


def test_rule_order_is_the_documented_policy() -> None:
    assert [rule_id for rule_id, _ in RULES] == [
        "legal_threat", "stage_failure", "asked_for_human", "angry_or_urgent",
        "frustrated_low_confidence", "low_confidence", "repeat_contact",
    ]


# Everything fires at once; removing the winner each time walks down the precedence list.
EVERYTHING: dict[str, Any] = dict(contact_count=5, answered=False, wants_human=True,
                                  stage_errors=[FAILED])


@pytest.mark.parametrize(("sent", "drop", "rule"), [
    (sentiment("angry", 0.9, ("legal_threat",)), (), "legal_threat"),
    (sentiment("angry", 0.9), (), "stage_failure"),
    (sentiment("angry", 0.9), ("stage_errors",), "asked_for_human"),
    (sentiment("angry", 0.9), ("stage_errors", "wants_human"), "angry_or_urgent"),
    (sentiment("frustrated", 0.9), ("stage_errors", "wants_human"), "frustrated_low_confidence"),
    (sentiment("frustrated", 0.2), ("stage_errors", "wants_human"), "low_confidence"),
    (sentiment("frustrated", 0.2), ("stage_errors", "answered", "wants_human"), "repeat_contact"),
])
def test_precedence(sent: SentimentResult, drop: tuple[str, ...], rule: str) -> None:
    kwargs = {k: v for k, v in EVERYTHING.items() if k not in drop}
    kwargs.setdefault("contact_count", 1)
    decision = route(sent, 0.3 if "answered" in kwargs else 0.9, **kwargs)
    assert decision.rule == rule
    assert decision.inputs["matched_rules"][0] == rule


def test_angry_legal_threat_goes_to_the_manager_not_tier1() -> None:
    """The seed checks anger first and sends this customer to tier 1."""
    angry = sentiment("angry", 0.9, ("legal_threat", "profanity"))
    decision = route(angry, 0.9, contact_count=1)
    assert (decision.queue, decision.priority) == (Queue.MANAGER, Priority.CRITICAL)
    assert decision.inputs["matched_rules"] == ["legal_threat", "angry_or_urgent"]


def test_seed_exercise_end_to_end() -> None:
    result = RuleSentimentAnalyzer().analyze(EXERCISE, [])
    decision = route(result, 0.8, contact_count=1)
    assert (decision.queue, decision.priority, decision.rule) == (
        Queue.MANAGER, Priority.CRITICAL, "legal_threat")
    assert decision.reason.startswith("Legal threat detected: 'consumer protection bureau'")


def test_legal_reason_without_phrases_still_reads() -> None:
    decision = route(sentiment("neutral", 0.2, ("legal_threat",)), 0.9, contact_count=1)
    assert decision.reason == "Legal threat detected"


@pytest.mark.parametrize(("intake", "expected"), [
    (Priority.LOW, Priority.MEDIUM), (Priority.MEDIUM, Priority.MEDIUM),
    (Priority.HIGH, Priority.HIGH), (Priority.CRITICAL, Priority.CRITICAL),
])
def test_escalation_priority_is_at_least_intake_priority(intake: Priority,
                                                         expected: Priority) -> None:
    decision = route(CALM, 0.3, contact_count=1, intake_priority=intake)
    assert decision.rule == "low_confidence" and decision.priority == expected


def test_auto_reply_stays_low_whatever_the_intake_priority() -> None:
    decision = route(CALM, 0.9, contact_count=1, intake_priority=Priority.HIGH)
    assert (decision.queue, decision.priority) == (Queue.AUTO, Priority.LOW)


@pytest.mark.parametrize(("frustration", "confidence", "rule"), [
    (0.70, 0.60, "auto_reply"),  # frustration must be strictly above the threshold
    (0.71, 0.60, "frustrated_low_confidence"),
    (0.71, 0.75, "auto_reply"),  # confidence at the threshold is enough
    (0.20, 0.50, "auto_reply"),  # at the floor is not below it
    (0.20, 0.49, "low_confidence"),
])
def test_boundaries(frustration: float, confidence: float, rule: str) -> None:
    decision = route(sentiment("frustrated", frustration), confidence, contact_count=1)
    assert decision.rule == rule


@pytest.mark.parametrize(("overrides", "sent", "confidence", "contacts", "default_rule",
                          "new_rule"), [
    ({"confidence_floor": 0.3}, CALM, 0.4, 1, "low_confidence", "auto_reply"),
    ({"repeat_contact_threshold": 5}, CALM, 0.9, 3, "repeat_contact", "auto_reply"),
    ({"repeat_contact_threshold": 2}, CALM, 0.9, 2, "auto_reply", "repeat_contact"),
    ({"frustration_threshold": 0.9}, sentiment("frustrated", 0.8), 0.6, 1,
     "frustrated_low_confidence", "auto_reply"),
    ({"confidence_threshold": 0.95}, sentiment("frustrated", 0.8), 0.9, 1, "auto_reply",
     "frustrated_low_confidence"),
])
def test_thresholds_from_settings_change_outcomes(
    overrides: dict[str, Any], sent: SentimentResult, confidence: float, contacts: int,
    default_rule: str, new_rule: str,
) -> None:
    settings = Settings(_env_file=None, **overrides)  # type: ignore[call-arg]
    thresholds = RouterThresholds.from_settings(settings)
    for key, value in overrides.items():
        assert getattr(thresholds, key) == value
    assert route(sent, confidence, contact_count=contacts).rule == default_rule
    assert route(sent, confidence, contact_count=contacts, thresholds=thresholds).rule == new_rule


def test_defaults_match_settings_defaults() -> None:
    assert RouterThresholds.from_settings(Settings(_env_file=None)) == RouterThresholds()  # type: ignore[call-arg]


def test_inputs_are_recorded() -> None:
    sent = sentiment("frustrated", 0.8, ("long_wait",))
    decision = route(sent, 0.6, contact_count=3, intake_priority=Priority.HIGH,
                     stage_errors=(), wants_human=True)
    inputs = decision.inputs
    assert inputs["sentiment_level"] == "frustrated" and inputs["signals"] == ["long_wait"]
    assert inputs["confidence"] == 0.6 and inputs["contact_count"] == 3
    assert inputs["intake_priority"] == "high" and inputs["wants_human"] is True
    assert inputs["thresholds"]["frustration_threshold"] == 0.7
    assert inputs["matched_rules"] == ["asked_for_human", "frustrated_low_confidence",
                                       "repeat_contact"]


def test_stage_failure_reason_names_the_stage() -> None:
    decision = route(None, 0.0, contact_count=1, stage_errors=[FAILED])
    assert "kb.search" in decision.reason and "Chroma is unavailable" in decision.reason
    assert decision.inputs["sentiment_level"] is None


@pytest.mark.parametrize(("text", "expected"), [
    ("Can I talk to a human?", True),
    ("I want to speak with a real person", True),
    ("Please transfer me to an agent", True),
    ("human please", True),
    ("get me a manager now", True),
    ("Am I talking to a bot?", True),
    ("Please escalate this", True),
    ("Can I speak to someone?", True),
    ("I don't need to talk to a human, just tell me how", False),
    ("How do I chat with someone on my team?", False),
    ("How do I add an agent to my workspace?", False),
    ("How do people talk to each other in the app?", False),
    ("What does a human-readable export look like?", False),
    ("I want to talk to a human", True),
    ("a person please", True),
    ("Can I speak to someone real?", True),
    ("call me", True),
    ("Could someone call me back today?", True),
    ("This bot is useless.", True),
    ("you are useless", True),
    ("Is there a real person I can talk to?", True),
    ("How can I call the API from Python?", False),
    ("How do I transfer a ticket to another agent?", False),
    ("Can agents on my team see archived tickets?", False),
])
def test_asks_for_human(text: str, expected: bool) -> None:
    assert asks_for_human(text) is expected


@pytest.mark.parametrize(("level", "score", "queue", "priority"), [
    ("neutral", 0.0, Queue.TIER1, Priority.MEDIUM),
    ("frustrated", 0.5, Queue.TIER1, Priority.HIGH),
    ("frustrated", 0.8, Queue.TIER2, Priority.HIGH),
    ("angry", 0.9, Queue.TIER2, Priority.HIGH),
    ("urgent", 0.9, Queue.TIER2, Priority.CRITICAL),
])
def test_a_request_for_a_person_is_routed_by_the_mood(
    level: str, score: float, queue: Queue, priority: Priority
) -> None:
    """Asked for a person: escalate with that reason even when the KB has no answer; an
    angry customer asking for a person outranks tier1/medium."""
    decision = route(sentiment(level, score, ("asked_for_human",)), 0.0, contact_count=1,
                     answered=False, intake_priority=Priority.LOW)
    assert (decision.queue, decision.priority, decision.rule) == (queue, priority,
                                                                  "asked_for_human")
    assert decision.reason.startswith("Customer asked to talk to a person")
    assert "knowledge base" not in decision.reason
