"""The default sentiment analyser: a learned frustration model, the rules as floors, and a
mood that carries across the turns of one session.

Per message, :class:`ModelSentimentAnalyzer`

1. gathers the rule evidence (VADER tone, named signals with their phrases, contact
   history) exactly as :class:`~support_core.sentiment.RuleSentimentAnalyzer` does;
2. scores the message with :class:`~support_core.frustration_model.FrustrationModel` on
   the message's MiniLM vector (the KB search's cached query vector) plus the tone and
   signal features;
3. takes the larger of that score and the **rule floor**: the named signals and the
   history (legal threat, repeated contact, previous escalation, ...) combined as in the
   rules, without VADER's tone. The model can raise frustration, never lower what a rule
   saw;
4. carries the session's **mood**: ``mood = max(this turn, decay * previous mood)``. A
   calm message after an angry one lowers the score step by step instead of resetting it;
   an angry message raises it at once. The previous mood is the frustration recorded on
   the last assistant reply of this session (the pipeline stores it in the reply's
   metadata), so nothing is recomputed.

The level follows the rules' precedence (urgent, angry, ...), with "frustrated" decided by
the score rather than by VADER alone, which is what flagged neutral how-to questions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from support_core.errors import BackendUnavailable
from support_core.frustration_model import FrustrationModel, load_model, signal_features
from support_core.models import (
    CustomerSummary,
    Message,
    Role,
    SentimentLevel,
    SentimentResult,
)
from support_core.sentiment import (
    EXPRESSIVE,
    Evidence,
    RuleSentimentAnalyzer,
    SentimentThresholds,
    decide_level,
    evidence_reasons,
    history_floor,
    level_confidence,
    signal_evidence,
    signals_of,
)

ANGRY_SCORE = 0.6  # model score which, with a strongly negative tone (VADER), reads as angry
MOOD_KEY = "frustration"  # reply metadata key holding the score the reply answered
_PLAIN_QUESTION = re.compile(
    r"^\W*(?:hi|hello|hey)?\W*(?:how|what|where|when|which|who|why|can|could|may|is|are|do|does"
    r"|will|would|should)\b[^.!]*\?\s*$", re.IGNORECASE)


def plain_question(text: str, ev: Evidence) -> bool:
    """A one-sentence question with no named signal and no strongly negative word: a request
    for information ("How do I cancel my subscription?"). The model, trained on social
    media where "cancel" and "error" read as negative, cannot call it frustrated alone."""
    return (bool(_PLAIN_QUESTION.match(text.strip())) and not ev.phrases
            and ev.compound > -0.5)


def rule_floor(ev: Evidence, signals: Sequence[str], th: SentimentThresholds) -> float:
    """Noisy-OR of the named signals and the history floor: what the rules alone justify."""
    calm = 1.0 - history_floor(ev, th)
    for s in signals:
        calm *= 1.0 - min(1.0, max(0.0, th.signal_weights.get(s, 0.0)))
    if ev.total_interactions >= th.heavy_history:
        calm *= 0.9
    return 1.0 - calm


def previous_mood(conversation: Sequence[Message], message: str) -> float | None:
    """The frustration recorded on the latest assistant reply of this session, if any."""
    for m in reversed(conversation):
        if m.role == Role.CUSTOMER and m.content.strip() == message.strip():
            continue
        value = m.metadata.get(MOOD_KEY) if m.role != Role.CUSTOMER else None
        if isinstance(value, (int, float)):
            return float(value)
    return None


def carry(turn: float, previous: float | None, decay: float) -> float:
    """The session's mood after this turn: rises at once, falls by ``decay`` per turn."""
    return turn if previous is None else max(turn, decay * previous)


class ModelSentimentAnalyzer:
    """Learned score + rule floors + session mood (see the module docstring)."""

    def __init__(
        self,
        embed: Callable[[str], np.ndarray],
        *,
        rules: RuleSentimentAnalyzer | None = None,
        model: FrustrationModel | None = None,
        decay: float | None = None,
    ) -> None:
        self._embed = embed
        self.rules = rules or RuleSentimentAnalyzer()
        self.model = model or load_model()
        self.decay = self.model.mood_decay if decay is None else decay  # from the model card
        self.backend = f"model:{self.model.name}"

    @property
    def thresholds(self) -> SentimentThresholds:
        return self.rules.thresholds

    def message_score(self, message: str, ev: Evidence) -> float:
        """The model's frustration for this message alone, on the analyser's scale."""
        vector = self._embed(message)
        if vector.shape[-1] != self.model.embedding_dim:
            raise BackendUnavailable(
                f"The frustration model expects {self.model.embedding_dim}-dimensional "
                f"embeddings, got {vector.shape[-1]}; set SUPPORT_SENTIMENT_BACKEND=rules "
                "or use the local embedder.")
        return self.model.to_score(
            self.model.probability(vector, signal_features(ev.compound, ev.phrases)))

    def analyze(
        self,
        message: str,
        conversation: list[Message],
        summary: CustomerSummary | None = None,
        contact_count: int = 1,
    ) -> SentimentResult:
        ev = self.rules.evidence(message, conversation, summary, contact_count)
        learned = self.message_score(message, ev)
        if plain_question(message, ev):
            learned = min(learned, self.thresholds.frustrated_score * 0.9)
        return self.decide(ev, learned, previous_mood(conversation, message))

    def decide(self, ev: Evidence, learned: float, previous: float | None) -> SentimentResult:
        th = self.thresholds
        signals = signals_of(ev, th)
        floor = rule_floor(ev, signals, th)
        turn = max(learned, floor)
        # What this message's words show, without history or mood (what the tone answers).
        words = max(learned, rule_floor(
            replace(ev, contacts=1, previous_escalations=0, total_interactions=0),
            [s for s in signals if s in ev.phrases], th))
        score = carry(turn, previous, self.decay)
        # "frustrated" comes from the score; VADER alone no longer decides it.
        level, why = decide_level(ev, signals, score, replace(th, frustrated_compound=-1.01))
        if (level in (SentimentLevel.FRUSTRATED, SentimentLevel.NEUTRAL)
                and learned >= ANGRY_SCORE and ev.compound <= th.strong_negative_compound):
            level, why = SentimentLevel.ANGRY, f"learned frustration {learned:.2f} and hostile tone"
        if level == SentimentLevel.POSITIVE and score >= th.frustrated_score:
            level = SentimentLevel.FRUSTRATED
        reasons = [*evidence_reasons(ev, th),
                   f"Model: {learned:.2f} for this message; rule floor {floor:.2f}"]
        if previous is not None and score > turn:
            reasons.append(f"Mood carried from earlier in this session: {previous:.2f} "
                           f"x {self.decay} = {score:.2f}")
        reasons.append(f"Level {level.value}: {why}")
        loud = bool(EXPRESSIVE & set(signals))
        confidence = level_confidence(level, ev, signals, score, th)
        if level == SentimentLevel.FRUSTRATED and learned >= th.frustrated_score and not loud:
            confidence = max(confidence, round(min(0.9, 0.5 + learned / 2), 2))
        return SentimentResult(
            level=level, confidence=confidence, frustration_score=round(min(1.0, score), 4),
            signals=signals, reasons=reasons, backend=self.backend,
            evidence=signal_evidence(ev, signals), message_score=round(words, 4),
        )
