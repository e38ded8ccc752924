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
4. gives the session's **mood**, the frustration given the conversation so far. With the
   v2 weights it is learned: ``logit = message logit + w . context`` where the context
   (:func:`session_context`, :func:`context_features`) is the mood recorded on the last
   assistant reply of this session (the pipeline stores it in the reply's metadata), how
   many earlier turns there were and how many were frustrated, and the reply the customer
   is reacting to (a question, a repeat of an earlier reply, a holding / "not covered"
   answer). Earlier replies that did not answer (holding / "not covered") raise the rule
   floor. The mood never falls below ``mood_floor_decay`` x the previous mood and never
   below the rule floor; a calm message after an angry one lowers it turn by turn, because
   the previous mood enters the next turn's logit. v1 weights (no session part) keep
   ``mood = max(this turn, decay * previous mood)``.

The level follows the rules' precedence (urgent, angry, ...), with "frustrated" decided by
the score rather than by VADER alone, which is what flagged neutral how-to questions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from support_core.errors import BackendUnavailable
from support_core.frustration_model import (
    CONTEXT_NAMES,
    FrustrationModel,
    load_model,
    signal_features,
)
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
    more_severe,
    signal_evidence,
    signals_of,
    stated_contacts,
)

# Each earlier reply of the session that did not answer (a holding / "not covered" message)
# adds this much to the rule floor (noisy-OR). A rule, not learned: uss_ccpe has almost no
# such replies to learn it from.
UNANSWERED_WEIGHT = 0.15
ANGRY_SCORE = 0.6  # model score which, with a strongly negative tone (VADER), reads as angry
MOOD_KEY = "frustration"  # reply metadata key holding the score the reply answered
_PLAIN_QUESTION = re.compile(
    r"^\W*(?:hi|hello|hey)?\W*(?:how|what|where|when|which|who|why|can|could|may|is|are|do|does"
    r"|will|would|should)\b[^.!]*\?\s*$", re.IGNORECASE)
# A reply that did not answer: the pipeline's holding message, or a bot admitting it can't.
_NON_ANSWER = re.compile(
    r"\b(?:doesn'?t|does not|don'?t|do not|couldn'?t|could not|can'?t|cannot)\s+(?:cover|find"
    r"|answer|help with|understand|know)\b|\bnot\s+(?:covered|sure|familiar)\b"
    r"|\bdidn'?t\s+(?:get|catch|understand)\b", re.IGNORECASE)
_LEVELS = {level.value for level in SentimentLevel}
_UPSET = (SentimentLevel.ANGRY, SentimentLevel.FRUSTRATED)  # levels that persist
_WORDS = re.compile(r"[a-z0-9']+")
_EPS = 1e-4


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


@dataclass(frozen=True)
class SessionContext:
    """What the conversation so far says, before this message is read."""

    previous_mood: float | None  # recorded on the latest reply of this session
    turns: int  # earlier customer messages in this session
    frustrated_turns: int  # earlier replies whose recorded mood was frustrated or worse
    reply: str  # the latest reply the customer is reacting to ("" if none)
    reply_repeated: bool  # that reply repeats an earlier one (the bot going round in circles)
    unanswered: int  # earlier replies that were holding / non-answers
    restated: int = 0  # earlier customer messages of this session that this one restates


def _same_text(a: str, b: str) -> bool:
    wa, wb = set(_WORDS.findall(a.lower())), set(_WORDS.findall(b.lower()))
    return bool(wa) and len(wa & wb) / len(wa | wb) >= 0.8


def session_context(conversation: Sequence[Message], message: str,
                    frustrated_score: float = 0.4) -> SessionContext:
    """The context features' raw inputs, read from the session's messages and the metadata
    the pipeline stored on its replies (the current message, if last, is left out)."""
    msgs = list(conversation)
    if msgs and msgs[-1].role == Role.CUSTOMER and msgs[-1].content.strip() == message.strip():
        msgs.pop()
    replies = [m for m in msgs if m.role != Role.CUSTOMER]
    said = [m for m in replies if m.content.strip()]
    moods = [m.metadata.get(MOOD_KEY) for m in replies]
    reply = said[-1].content if said else ""
    return SessionContext(
        previous_mood=previous_mood(msgs, message),
        turns=sum(m.role == Role.CUSTOMER for m in msgs),
        frustrated_turns=sum(isinstance(v, (int, float)) and v >= frustrated_score
                             for v in moods),
        reply=reply,
        reply_repeated=bool(said) and any(_same_text(reply, m.content) for m in said[:-1]),
        unanswered=sum(bool(m.metadata.get("holding")) or bool(_NON_ANSWER.search(m.content))
                       for m in said),
    )


def restated(ev: Evidence) -> int:
    """Earlier messages of this conversation the current one restates (0 when the contact
    count comes from the ticket or from the customer's own words)."""
    return ev.contacts - 1 if ev.contact_source == "restated in this conversation" else 0


def on_record(ev: Evidence, message: str, contact_count: int) -> Evidence:
    """The evidence with only the recorded or stated contacts. The v2 session model takes a
    restatement inside the conversation as a learned feature instead of a floor: the
    word-overlap guess fired on ordinary chat (uss_ccpe) and its fixed floor of 0.4 ranked
    those turns above most dissatisfied ones. The ticket's contact count, the customer's
    "third time" and previous escalations stay floors."""
    if not restated(ev):
        return ev
    count = max(contact_count, stated_contacts(message))
    return replace(ev, contacts=count, contact_source="ticket contact count")


def _logit(p: float) -> float:
    p = min(1 - _EPS, max(_EPS, p))
    return float(np.log(p / (1 - p)))


def context_features(ctx: SessionContext, message_logit: float,
                     model: FrustrationModel) -> np.ndarray:
    """:data:`CONTEXT_NAMES` in order; all 0 on a session's first message."""
    prev = ctx.previous_mood
    carried = 0.0
    if prev is not None:
        carried = max(0.0, _logit(model.from_score(model.mood_decay * prev)) - message_logit)
    values = {
        "previous_mood": prev or 0.0,
        "previous_logit": (min(6.0, max(-6.0, _logit(model.from_score(prev))))
                           if prev is not None else 0.0),
        "carried_logit": carried,
        "later_turn": 1.0 if ctx.turns else 0.0,
        "log_turns": float(np.log1p(ctx.turns)),
        "frustrated_turns": float(np.log1p(ctx.frustrated_turns)),
        "reply_is_question": 1.0 if ctx.reply.rstrip().endswith("?") else 0.0,
        "reply_repeated": 1.0 if ctx.reply_repeated else 0.0,
        "restated": float(np.log1p(ctx.restated)),
    }
    return np.array([values[n] for n in CONTEXT_NAMES], dtype=np.float32)


def previous_level(conversation: Sequence[Message], message: str) -> SentimentLevel | None:
    """The level recorded with the previous mood (the pipeline stores both on its reply)."""
    for m in reversed(conversation):
        if m.role == Role.CUSTOMER:
            continue
        if isinstance(m.metadata.get(MOOD_KEY), (int, float)):
            value = m.metadata.get("sentiment_level")
            return SentimentLevel(value) if value in _LEVELS else None
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

    def message_logit(self, message: str, ev: Evidence) -> float:
        """The model's logit for this message alone; a plain question is capped below
        "frustrated" (see :func:`plain_question`)."""
        vector = self._embed(message)
        if vector.shape[-1] != self.model.embedding_dim:
            raise BackendUnavailable(
                f"The frustration model expects {self.model.embedding_dim}-dimensional "
                f"embeddings, got {vector.shape[-1]}; set SUPPORT_SENTIMENT_BACKEND=rules "
                "or use the local embedder.")
        z = self.model.logit(vector, signal_features(ev.compound, ev.phrases))
        if plain_question(message, ev):
            z = min(z, _logit(self.model.from_score(self.thresholds.frustrated_score * 0.9)))
        return z

    def message_score(self, message: str, ev: Evidence) -> float:
        """The model's frustration for this message alone, on the analyser's scale."""
        return self.model.to_score(1.0 / (1.0 + float(np.exp(-self.message_logit(message, ev)))))

    def analyze(
        self,
        message: str,
        conversation: list[Message],
        summary: CustomerSummary | None = None,
        contact_count: int = 1,
    ) -> SentimentResult:
        return self.scored(message, conversation, summary, contact_count)[0]

    def scored(
        self,
        message: str,
        conversation: Sequence[Message],
        summary: CustomerSummary | None = None,
        contact_count: int = 1,
    ) -> tuple[SentimentResult, float, np.ndarray | None]:
        """The result, the message logit and the context features (None with v1 weights);
        ``bench/train_frustration.py`` fits the session weights on the last two."""
        ev = self.rules.evidence(message, conversation, summary, contact_count)
        z = self.message_logit(message, ev)
        learned = self.model.to_score(1.0 / (1.0 + float(np.exp(-z))))
        if self.model.session_coef is None:
            return self.decide(ev, learned, previous_mood(conversation, message)), z, None
        ctx = replace(session_context(conversation, message, self.thresholds.frustrated_score),
                      restated=restated(ev))
        features = context_features(ctx, z, self.model)
        session = self.model.to_score(self.model.session_probability(z, features))
        result = self.decide(ev, learned, ctx.previous_mood, session,
                             on_record(ev, message, contact_count), ctx.unanswered)
        return self.persist_level(result, ctx.previous_mood,
                                  previous_level(conversation, message)), z, features

    def persist_level(self, result: SentimentResult, previous: float | None,
                      level: SentimentLevel | None) -> SentimentResult:
        """Keep an angry or frustrated turn's level while ``decay`` x its mood is still at or
        above "frustrated" (v1's carry), and the score with it: while the level is kept the
        mood falls by ``decay`` per turn (0.76 -> 0.53 after a calm line), so level and score
        agree and an upset customer's mood lowers gradually. Routing still sees that an angry
        customer's next line, "a human, please", comes from an angry customer. Carrying the
        score only while the level is kept costs 0.001 uss_ccpe AUC (dev 0.8293 -> 0.8282);
        carrying it after every upset turn cost 0.010 and fell below the message alone."""
        if previous is None or level is None or previous * self.decay < (
                self.thresholds.frustrated_score):
            return result
        kept = SentimentLevel.ANGRY if level == SentimentLevel.URGENT else level
        if kept not in _UPSET or more_severe(result.level, kept) == result.level:
            return result
        carried = previous * self.decay
        return result.model_copy(update={
            "level": kept,
            "frustration_score": round(min(1.0, max(result.frustration_score, carried)), 4),
            "reasons": [*result.reasons[:-1],
                        f"Level {kept.value}: kept from the previous turn; mood {previous:.2f} "
                        f"x {self.decay} = {carried:.2f} carried (still >= "
                        f"{self.thresholds.frustrated_score})"]})

    def decide(self, ev: Evidence, learned: float, previous: float | None,
               session: float | None = None, floor_ev: Evidence | None = None,
               unanswered: int = 0) -> SentimentResult:
        """``session``: the learned mood given the conversation (v2); None: v1's carry.
        ``floor_ev``: the evidence the rule floor is computed on (default ``ev``);
        ``unanswered``: earlier replies of the session that did not answer."""
        th = self.thresholds
        signals = signals_of(ev, th)
        floor_ev = floor_ev or ev
        floor = 1.0 - (1.0 - rule_floor(floor_ev, signals_of(floor_ev, th), th)) * (
            1.0 - UNANSWERED_WEIGHT) ** unanswered
        turn = max(learned, floor)
        # What this message's words show, without history or mood (what the tone answers).
        words = max(learned, rule_floor(
            replace(ev, contacts=1, previous_escalations=0, total_interactions=0),
            [s for s in signals if s in ev.phrases], th))
        if session is None:
            score = carry(turn, previous, self.decay)
        else:  # learned mood; it cannot lower the rule floor, nor fall faster than the floor decay
            score = max(session, floor,
                        self.model.mood_floor_decay * previous if previous is not None else 0.0)
        # "frustrated" comes from the score; VADER alone no longer decides it.
        level, why = decide_level(ev, signals, score, replace(th, frustrated_compound=-1.01))
        if (level in (SentimentLevel.FRUSTRATED, SentimentLevel.NEUTRAL)
                and learned >= ANGRY_SCORE and ev.compound <= th.strong_negative_compound):
            level, why = SentimentLevel.ANGRY, f"learned frustration {learned:.2f} and hostile tone"
        if level == SentimentLevel.POSITIVE and score >= th.frustrated_score:
            level = SentimentLevel.FRUSTRATED
        reasons = [*evidence_reasons(ev, th),
                   *([f"Unanswered: {unanswered} earlier repl{'y' if unanswered == 1 else 'ies'}"
                      " in this session did not answer"] if unanswered else []),
                   f"Model: {learned:.2f} for this message; rule floor {floor:.2f}"]
        if previous is not None and score > turn:
            reasons.append(f"Mood carried from earlier in this session: {previous:.2f} before, "
                           f"{score:.2f} now" + (f" (x {self.decay})" if session is None else
                                                 " (learned from the conversation)"))
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
