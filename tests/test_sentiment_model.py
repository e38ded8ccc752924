"""The learned frustration model: rules as floors, session mood, shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from support_core.frustration_model import (
    FEATURE_NAMES,
    FrustrationModel,
    load_model,
    model_card,
    model_path,
)
from support_core.models import CustomerSummary, Message, Role, SentimentLevel, Signal
from support_core.sentiment_model import MOOD_KEY, ModelSentimentAnalyzer, carry, previous_mood

DIM = 384


def fixed_model(probability: float, decay: float = 0.7) -> FrustrationModel:
    """A model that gives every message the same probability (zero weights, a bias)."""
    bias = float(np.log(probability / (1 - probability)))
    n = DIM + len(FEATURE_NAMES)
    return FrustrationModel(coef=np.zeros(n, np.float32), intercept=bias,
                            feature_mean=np.zeros(len(FEATURE_NAMES), np.float32),
                            feature_scale=np.ones(len(FEATURE_NAMES), np.float32),
                            threshold=0.5, anchor=0.4, mood_decay=decay, name="fixed")


def analyzer(probability: float, decay: float = 0.7) -> ModelSentimentAnalyzer:
    return ModelSentimentAnalyzer(lambda _t: np.zeros(DIM, np.float32),
                                  model=fixed_model(probability, decay))


def reply(score: float) -> Message:
    return Message(role=Role.ASSISTANT, content="reply", metadata={MOOD_KEY: score})


def test_score_mapping_is_monotonic_and_anchored() -> None:
    m = fixed_model(0.5)
    assert m.to_score(0.0) == 0.0 and m.to_score(1.0) == 1.0
    assert m.to_score(m.threshold) == pytest.approx(m.anchor)
    values = [m.to_score(p) for p in np.linspace(0, 1, 21)]
    assert values == sorted(values)


@pytest.mark.parametrize(("text", "signal", "floor"), [
    ("I will contact my lawyer about this invoice.", Signal.LEGAL_THREAT, 0.45),
    ("This was already escalated and nothing happened.", Signal.PREVIOUS_ESCALATION, 0.2),
])
def test_named_signals_are_floors_the_model_cannot_lower(
    text: str, signal: Signal, floor: float
) -> None:
    result = analyzer(0.01).analyze(text, [])
    assert signal in result.signals
    assert result.frustration_score >= floor
    assert result.phrases(signal) or signal == Signal.PREVIOUS_ESCALATION


def test_repeated_contact_and_history_are_floors() -> None:
    summary = CustomerSummary(customer_id="c", previous_escalations=1, total_interactions=3)
    result = analyzer(0.01).analyze("Any news on my export?", [], summary, contact_count=3)
    assert {Signal.REPEATED_ISSUE, Signal.PREVIOUS_ESCALATION} <= set(result.signals)
    assert result.frustration_score >= 1 - 0.6 ** 2  # the contact history floor
    assert result.level == SentimentLevel.FRUSTRATED


def test_the_model_raises_frustration_the_rules_missed() -> None:
    quiet = "The export you sent me is not what I asked for."
    assert analyzer(0.95).analyze(quiet, []).frustration_score > 0.9
    assert analyzer(0.95).analyze(quiet, []).level in (SentimentLevel.FRUSTRATED,
                                                       SentimentLevel.ANGRY)
    assert analyzer(0.05).analyze(quiet, []).level == SentimentLevel.NEUTRAL


def test_mood_carries_and_decays_turn_by_turn() -> None:
    calm = analyzer(0.02, decay=0.5)
    first = calm.analyze("ok", [reply(0.9)])
    assert first.frustration_score == pytest.approx(0.45)
    second = calm.analyze("ok", [reply(0.9), reply(first.frustration_score)])
    assert second.frustration_score == pytest.approx(0.225)
    assert second.message_score is not None and second.message_score < 0.05
    assert any("Mood carried" in r for r in first.reasons)


def test_mood_rises_at_once() -> None:
    assert carry(0.9, 0.1, 0.7) == 0.9 and carry(0.1, 0.9, 0.7) == pytest.approx(0.63)
    assert carry(0.3, None, 0.7) == 0.3


def test_previous_mood_skips_the_current_message_and_human_replies() -> None:
    conversation = [reply(0.8), Message(role=Role.AGENT, content="hi"),
                    Message(role=Role.CUSTOMER, content="now")]
    assert previous_mood(conversation, "now") == 0.8
    assert previous_mood([Message(role=Role.CUSTOMER, content="now")], "now") is None


def test_shipped_weights_and_card_match() -> None:
    model = load_model()
    card = model_card()
    assert model_path().stat().st_size < 100_000  # small enough to ship in the repository
    assert card["trained_by"] == "bench/train_frustration.py"
    assert set(card["data"]) == {"GoEmotions", "TweetEval", "uss_ccpe"}
    assert card["chosen_on_dev"]["threshold"] == pytest.approx(model.threshold)
    assert card["chosen_on_dev"]["mood_decay"] == pytest.approx(model.mood_decay)
    assert model.coef.shape == (model.embedding_dim + len(FEATURE_NAMES),)
    json.dumps(card)


@pytest.mark.slow
def test_real_model_on_real_embeddings() -> None:
    from support_core.adapters.embeddings_local import LocalEmbedder

    embedder = LocalEmbedder()
    real = ModelSentimentAnalyzer(embedder.embed_query)
    how_to = real.analyze("How do I cancel my subscription?", [])
    angry = real.analyze("This is absolutely unacceptable. Your update broke our Slack "
                         "integration, my team lost a whole day and I'm furious. Fix it NOW!", [])
    assert how_to.level in (SentimentLevel.NEUTRAL, SentimentLevel.POSITIVE)
    assert how_to.frustration_score < 0.4
    assert angry.level == SentimentLevel.ANGRY  # strongly negative tone, model agrees
    assert angry.frustration_score >= 0.55


@pytest.mark.slow
def test_the_pipeline_scores_the_vector_the_kb_search_already_embedded(
    service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model adds no embedding: the sentiment stage's embed_query is a cache hit."""
    embedder = service.kb.embedder
    assert isinstance(service.pipeline.s.sentiment, ModelSentimentAnalyzer)
    computed: list[str] = []
    inner = embedder.inner.embed_query

    def counting(text: str) -> np.ndarray:
        computed.append(text)
        return inner(text)

    monkeypatch.setattr(embedder.inner, "embed_query", counting)
    text = "How do I export my invoices as PDF files for my accountant?"
    result = service.pipeline.process_message("lat-1", "s1", text)
    assert result.ticket.sentiment.backend == "model:frustration_v1"
    assert computed == [text]  # embedded once, by the KB search; the model reused it
