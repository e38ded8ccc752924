"""Escalation routing: does the draft ship, or does a human take over, and who?

:func:`route` is a pure function over typed inputs. Rules are checked in a fixed
order and the first that matches decides; the order *is* the policy:

    1 legal_threat               legal threat in the signals      -> manager, critical
    2 stage_failure              a pipeline stage failed          -> tier1,   high
    3 asked_for_human            the customer asked for a person  -> by mood (see below)
    4 angry_or_urgent            urgent -> tier2 critical; angry  -> tier1,   high
    5 frustrated_low_confidence  frustration high, confidence not -> tier1,   high
    6 low_confidence             below the floor, or no answer    -> tier1,   medium
    7 repeat_contact             contacted about it N times       -> tier2,   high
      auto_reply                 none of the above                -> auto,    low

A request for a person is honoured at once, whatever the knowledge base holds, and
its queue follows the session's mood: urgent -> tier2 critical, angry or frustration
above the threshold -> tier2 high, frustrated -> tier1 high, calm -> tier1 medium.

Legal threats come first on purpose: an angry customer threatening legal action
needs a manager, not the first free tier-1 agent, even when a stage failed (the
failure is still on the ticket and in the handoff). An escalation's priority
is never below the intake priority. Every decision records its inputs and the
other rules that would also have fired, so the handoff inbox can show the whole
picture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from support_core.config import Settings
from support_core.human_request import asks_for_human
from support_core.models import (
    PRIORITY_ORDER,
    EscalationDecision,
    Priority,
    Queue,
    SentimentLevel,
    SentimentResult,
    Signal,
    StageError,
)

__all__ = ["RULES", "RouterThresholds", "asks_for_human", "route"]


def _default(name: str) -> float:
    """Defaults come from :class:`Settings` only, so there is one place to change them."""
    return float(Settings.model_fields[name].default)


@dataclass(frozen=True)
class RouterThresholds:
    confidence_floor: float = _default("confidence_floor")
    confidence_threshold: float = _default("confidence_threshold")
    frustration_threshold: float = _default("frustration_threshold")
    repeat_contact_threshold: int = int(_default("repeat_contact_threshold"))

    @classmethod
    def from_settings(cls, settings: Settings) -> RouterThresholds:
        return cls(
            confidence_floor=settings.confidence_floor,
            confidence_threshold=settings.confidence_threshold,
            frustration_threshold=settings.frustration_threshold,
            repeat_contact_threshold=settings.repeat_contact_threshold,
        )


@dataclass(frozen=True)
class RouteInputs:
    """Everything a rule may look at."""

    sentiment: SentimentResult | None
    confidence: float
    contact_count: int
    answered: bool
    intake_priority: Priority
    stage_errors: tuple[StageError, ...]
    wants_human: bool
    thresholds: RouterThresholds

    @property
    def frustration(self) -> float:
        return self.sentiment.frustration_score if self.sentiment else 0.0

    @property
    def signals(self) -> list[str]:
        return list(self.sentiment.signals) if self.sentiment else []


Verdict = tuple[Queue, Priority, str]  # queue, rule priority, human-readable reason
Rule = Callable[[RouteInputs], Verdict | None]


def _stage_failure(x: RouteInputs) -> Verdict | None:
    if not x.stage_errors:
        return None
    failed = "; ".join(f"{e.stage} ({e.error})" for e in x.stage_errors[:3])
    return Queue.TIER1, Priority.HIGH, f"A pipeline stage failed, a person should check: {failed}"


def _legal_threat(x: RouteInputs) -> Verdict | None:
    if "legal_threat" not in x.signals:
        return None
    phrases = x.sentiment.phrases(Signal.LEGAL_THREAT) if x.sentiment else []
    quoted = ", ".join(f"'{p}'" for p in phrases[:3])
    reason = f"Legal threat detected: {quoted}" if quoted else "Legal threat detected"
    return Queue.MANAGER, Priority.CRITICAL, reason


def _angry_or_urgent(x: RouteInputs) -> Verdict | None:
    level = x.sentiment.level if x.sentiment else None
    if level == SentimentLevel.URGENT:
        why = _evidence(x, Signal.TIME_PRESSURE)
        return Queue.TIER2, Priority.CRITICAL, f"Customer is urgent{why}"
    if level == SentimentLevel.ANGRY:
        why = _evidence(x, Signal.PROFANITY) or _evidence(x, Signal.ALL_CAPS)
        return Queue.TIER1, Priority.HIGH, f"Customer is angry{why}"
    return None


def _frustrated_low_confidence(x: RouteInputs) -> Verdict | None:
    t = x.thresholds
    if x.frustration > t.frustration_threshold and x.confidence < t.confidence_threshold:
        return Queue.TIER1, Priority.HIGH, (
            f"Frustration {x.frustration:.2f} is above {t.frustration_threshold:.2f} and answer "
            f"confidence {x.confidence:.2f} is below {t.confidence_threshold:.2f}"
        )
    return None


def _low_confidence(x: RouteInputs) -> Verdict | None:
    if not x.answered:
        return Queue.TIER1, Priority.MEDIUM, "The knowledge base holds no answer to this question"
    if x.confidence < x.thresholds.confidence_floor:
        return Queue.TIER1, Priority.MEDIUM, (
            f"Answer confidence {x.confidence:.2f} is below the floor "
            f"{x.thresholds.confidence_floor:.2f}"
        )
    return None


def _repeat_contact(x: RouteInputs) -> Verdict | None:
    if x.contact_count >= x.thresholds.repeat_contact_threshold:
        return Queue.TIER2, Priority.HIGH, (
            f"Customer has contacted us {x.contact_count} times about this issue"
        )
    return None


def _asked_for_human(x: RouteInputs) -> Verdict | None:
    if not (x.wants_human or Signal.ASKED_FOR_HUMAN in x.signals):
        return None
    level = x.sentiment.level if x.sentiment else None
    words = _evidence(x, Signal.ASKED_FOR_HUMAN)
    mood = f" (session mood {level.value}, frustration {x.frustration:.2f})" if level else ""
    reason = f"Customer asked to talk to a person{words}{mood}"
    if level == SentimentLevel.URGENT:
        return Queue.TIER2, Priority.CRITICAL, reason
    if level == SentimentLevel.ANGRY or x.frustration >= x.thresholds.frustration_threshold:
        return Queue.TIER2, Priority.HIGH, reason
    if level == SentimentLevel.FRUSTRATED:
        return Queue.TIER1, Priority.HIGH, reason
    return Queue.TIER1, Priority.MEDIUM, reason


RULES: tuple[tuple[str, Rule], ...] = (
    ("legal_threat", _legal_threat),  # first: a legal threat reaches a manager whatever else failed
    ("stage_failure", _stage_failure),
    ("asked_for_human", _asked_for_human),  # before the KB rules: never a "KB gap"
    ("angry_or_urgent", _angry_or_urgent),
    ("frustrated_low_confidence", _frustrated_low_confidence),
    ("low_confidence", _low_confidence),
    ("repeat_contact", _repeat_contact),
)


def route(
    sentiment: SentimentResult | None,
    confidence: float,
    *,
    contact_count: int,
    answered: bool = True,
    intake_priority: Priority = Priority.MEDIUM,
    stage_errors: Sequence[StageError] = (),
    wants_human: bool = False,
    thresholds: RouterThresholds | None = None,
) -> EscalationDecision:
    """First matching rule in :data:`RULES` decides; see the module docstring."""
    x = RouteInputs(sentiment, confidence, contact_count, answered, intake_priority,
                    tuple(stage_errors), wants_human, thresholds or RouterThresholds())
    fired = [(rule_id, v) for rule_id, rule in RULES if (v := rule(x)) is not None]
    inputs = _record(x, [rule_id for rule_id, _ in fired])
    if not fired:
        return EscalationDecision(
            should_escalate=False, queue=Queue.AUTO, priority=Priority.LOW, rule="auto_reply",
            reason="Confident answer and no sign that a person is needed", inputs=inputs,
        )
    rule_id, (queue, priority, reason) = fired[0]
    return EscalationDecision(
        should_escalate=True, queue=queue, priority=_max_priority(priority, intake_priority),
        reason=reason, rule=rule_id, inputs=inputs,
    )


def _max_priority(a: Priority, b: Priority) -> Priority:
    return a if PRIORITY_ORDER[a] >= PRIORITY_ORDER[b] else b


def _evidence(x: RouteInputs, signal: Signal) -> str:
    phrases = x.sentiment.phrases(signal) if x.sentiment else []
    return ": " + ", ".join(f"'{p}'" for p in phrases[:3]) if phrases else ""


def _record(x: RouteInputs, matched: list[str]) -> dict[str, Any]:
    s = x.sentiment
    return {
        "sentiment_level": s.level.value if s else None,
        "frustration_score": s.frustration_score if s else None,
        "signals": list(s.signals) if s else [],
        "sentiment_backend": s.backend if s else None,
        "confidence": x.confidence,
        "answered": x.answered,
        "contact_count": x.contact_count,
        "intake_priority": x.intake_priority.value,
        "stage_errors": [f"{e.stage}: {e.error}" for e in x.stage_errors],
        "wants_human": x.wants_human,
        "thresholds": asdict(x.thresholds),
        "matched_rules": matched,  # every rule that fired, in precedence order
    }
