"""A small learned frustration model over the sentence embedding the KB already computed.

Logistic regression on ``[all-MiniLM-L6-v2 vector (384), signal features]``: the
features are VADER's tone and the named signals visible in the message
(:func:`signal_features`). Scoring a message is one dot product and a sigmoid on a
vector the knowledge-base search has just embedded (the embedding cache keeps query
vectors, so asking again for the same text is a cache hit).

The weights are trained by ``bench/train_frustration.py`` on public labelled data
(GoEmotions, TweetEval, uss_ccpe) and shipped as ``models_data/frustration_v2.npz``
with a JSON card that names the script, data, splits and dev/test metrics. Nothing is
downloaded at run time. ``frustration_v1`` (no session part) stays loadable for comparison.

The session part (v2) is a second, tiny logistic model: the session's frustration given the
conversation has the logit ``message logit + w . context``, where the context features
(:data:`CONTEXT_NAMES`) are what the pipeline has at run time: the mood recorded on the
previous reply, how many earlier turns there were and how many were frustrated, and what
the reply the customer is reacting to looked like. Every context feature is 0 on a
session's first message, so a first message scores exactly as the message model says.
The weights ``w`` are fitted on uss_ccpe train dialogues (the context recomputed turn by
turn, as at run time) and chosen on dev by ROC AUC.

The model's probability is mapped onto the analyser's frustration scale so that the
decision threshold chosen on the dev splits lands on ``frustrated_score`` (0.4): the
router's and the responder's thresholds keep their meaning, and the mapping is
monotonic, so rankings (ROC AUC) are the model's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from support_core.errors import BackendUnavailable
from support_core.models import SIGNALS, Signal

MODEL_NAME = "frustration_v2"
V1_NAME = "frustration_v1"
# Signals the model sees as features: the ones visible in one message's words.
FEATURE_SIGNALS: tuple[Signal, ...] = tuple(
    s for s in SIGNALS if s not in (Signal.REPEATED_ISSUE, Signal.PREVIOUS_ESCALATION)
)
FEATURE_NAMES: tuple[str, ...] = ("vader_negative", "vader_positive", "vader_compound",
                                  *FEATURE_SIGNALS)
# What the session model sees besides the message's own logit; all 0 on a first message.
CONTEXT_NAMES: tuple[str, ...] = (
    "previous_mood",  # frustration recorded on the previous reply (0..1)
    "previous_logit",  # the same as a logit (clipped to +-6): small moods differ there
    "carried_logit",  # logit of decay * previous mood, minus the message's logit, if above
    "later_turn",  # 1 after the first customer message of the session
    "log_turns",  # log(1 + earlier customer messages)
    "frustrated_turns",  # log(1 + earlier replies recorded at or above frustrated)
    "reply_is_question",  # the reply the customer answers ends with a question
    "reply_repeated",  # that reply repeats an earlier reply of this session
    "restated",  # log(1 + earlier customer messages this one restates), learned, not a floor
)


def signal_features(compound: float, phrases: dict[str, list[str]]) -> np.ndarray:
    """Tone and text-signal features of one message, in :data:`FEATURE_NAMES` order."""
    flags = [1.0 if phrases.get(s) else 0.0 for s in FEATURE_SIGNALS]
    return np.array([max(0.0, -compound), max(0.0, compound), compound, *flags],
                    dtype=np.float32)


@dataclass(frozen=True)
class FrustrationModel:
    """Weights and the calibration that maps probabilities onto the frustration scale."""

    coef: np.ndarray  # (dim + len(FEATURE_NAMES),)
    intercept: float
    feature_mean: np.ndarray  # standardisation of the signal features
    feature_scale: np.ndarray
    threshold: float  # probability chosen on dev as "frustrated"
    anchor: float  # the frustration score the threshold maps to
    mood_decay: float = 0.7  # per-turn decay of the carried mood, chosen on uss_ccpe dev
    name: str = MODEL_NAME
    embedding_dim: int = 384
    # Session part (v2): logit = message logit + context @ session_coef. None: v1's max-with-decay.
    session_coef: np.ndarray | None = None
    mood_floor_decay: float = 0.0  # the mood never falls below this x the previous mood

    def logit(self, vector: np.ndarray, features: np.ndarray) -> float:
        """The message model's logit: one dot product."""
        x = np.concatenate([np.asarray(vector, dtype=np.float32).ravel(),
                            (features - self.feature_mean) / self.feature_scale])
        return float(x @ self.coef) + self.intercept

    def session_probability(self, message_logit: float, context: np.ndarray) -> float:
        """P(frustrated | message, conversation so far)."""
        z = message_logit + (float(context @ self.session_coef)
                             if self.session_coef is not None else 0.0)
        return float(1.0 / (1.0 + np.exp(-z)))

    def probability(self, vector: np.ndarray, features: np.ndarray) -> float:
        """P(frustrated | message): one dot product and a sigmoid."""
        return float(1.0 / (1.0 + np.exp(-self.logit(vector, features))))

    def probabilities(self, vectors: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Batched :meth:`probability` (for the benchmark)."""
        x = np.hstack([vectors.astype(np.float32),
                       (features - self.feature_mean) / self.feature_scale])
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def to_score(self, probability: float) -> float:
        """Piecewise-linear, monotonic: 0 -> 0, threshold -> anchor, 1 -> 1."""
        t, a = self.threshold, self.anchor
        if probability <= t:
            return a * probability / t if t > 0 else a
        return a + (1.0 - a) * (probability - t) / (1.0 - t) if t < 1 else 1.0

    def from_score(self, score: float) -> float:
        """Inverse of :meth:`to_score` (the recorded mood back to a probability)."""
        t, a = self.threshold, self.anchor
        if score <= a:
            return t * score / a if a > 0 else t
        return t + (1.0 - t) * (score - a) / (1.0 - a) if a < 1 else 1.0

    def save(self, path: Path, card: dict[str, Any]) -> None:
        arrays: dict[str, np.ndarray] = {
            "coef": self.coef, "intercept": np.array([self.intercept]),
            "feature_mean": self.feature_mean, "feature_scale": self.feature_scale,
            "threshold": np.array([self.threshold]), "anchor": np.array([self.anchor]),
            "mood_decay": np.array([self.mood_decay])}
        if self.session_coef is not None:
            arrays["session_coef"] = self.session_coef
            arrays["mood_floor_decay"] = np.array([self.mood_floor_decay])
        np.savez_compressed(path, allow_pickle=False, **arrays)
        path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def model_path(name: str = MODEL_NAME) -> Path:
    return Path(str(resources.files("support_core.models_data").joinpath(f"{name}.npz")))


@cache
def load_model(name: str = MODEL_NAME) -> FrustrationModel:
    """The shipped weights, loaded once per process."""
    path = model_path(name)
    if not path.exists():
        raise BackendUnavailable(
            f"The frustration model {path.name} is missing; retrain it with "
            "bench/train_frustration.py or set SUPPORT_SENTIMENT_BACKEND=rules."
        )
    with np.load(path) as z:
        coef = z["coef"].astype(np.float32)
        return FrustrationModel(
            coef=coef, intercept=float(z["intercept"][0]),
            feature_mean=z["feature_mean"].astype(np.float32),
            feature_scale=z["feature_scale"].astype(np.float32),
            threshold=float(z["threshold"][0]), anchor=float(z["anchor"][0]),
            mood_decay=float(z["mood_decay"][0]), name=name,
            embedding_dim=int(coef.shape[0] - len(FEATURE_NAMES)),
            session_coef=(z["session_coef"].astype(np.float32) if "session_coef" in z else None),
            mood_floor_decay=(float(z["mood_floor_decay"][0]) if "mood_floor_decay" in z
                              else 0.0),
        )


def model_card(name: str = MODEL_NAME) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(model_path(name).with_suffix(".json").read_text("utf-8"))
    return card
