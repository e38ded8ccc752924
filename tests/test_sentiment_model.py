"""The learned frustration model: rules as floors, session mood, shipped weights."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from support_core.frustration_model import (
    CONTEXT_NAMES,
    FEATURE_NAMES,
    MODEL_NAME,
    V1_NAME,
    FrustrationModel,
    load_model,
    model_card,
    model_path,
)
from support_core.models import CustomerSummary, Message, Role, SentimentLevel, Signal
from support_core.responder import NOT_COVERED
from support_core.sentiment_model import (
    MOOD_KEY,
    ModelSentimentAnalyzer,
    carry,
    context_features,
    previous_mood,
    session_context,
)

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


def shipped(logits: dict[str, float]) -> ModelSentimentAnalyzer:
    """The shipped session weights over a message model whose logit we set per text."""
    model = load_model()
    coef = np.zeros_like(model.coef)
    coef[0] = 1.0  # logit = the vector's first entry

    def embed(text: str) -> np.ndarray:
        vector = np.zeros(DIM, np.float32)
        vector[0] = logits[text]
        return vector

    return ModelSentimentAnalyzer(embed, model=replace(model, coef=coef, intercept=0.0))


def customer(text: str) -> Message:
    return Message(role=Role.CUSTOMER, content=text)


def session_moods(analyzer: ModelSentimentAnalyzer, texts: list[str]) -> list[float]:
    """Score each text as the next turn of one session, as the pipeline does (the reply
    after each turn records the mood)."""
    conversation: list[Message] = []
    moods = []
    for text in texts:
        conversation.append(customer(text))
        result = analyzer.analyze(text, list(conversation))
        moods.append(result.frustration_score)
        conversation.append(Message(role=Role.ASSISTANT, content="Here is how to do that.",
                                    metadata={MOOD_KEY: result.frustration_score}))
    return moods


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


def test_v2_card_names_its_data_script_and_session_weights() -> None:
    model, card = load_model(), model_card()
    assert model.name == card["name"] == MODEL_NAME
    assert "ccpe_dialogues.jsonl" in card["data"]["uss_ccpe"]
    assert card["inputs"]["context"] == list(CONTEXT_NAMES)
    assert model.session_coef is not None and model.session_coef.shape == (len(CONTEXT_NAMES),)
    weights = card["chosen_on_dev"]["session"]["weights"]
    assert [weights[n] for n in CONTEXT_NAMES] == pytest.approx(model.session_coef.tolist(),
                                                                 abs=1e-3)
    test = card["test"]["uss_ccpe"]
    assert {"roc_auc", "roc_auc_with_conversation"} <= set(test)
    assert load_model(V1_NAME).session_coef is None  # v1 stays loadable for comparison


def test_a_first_message_scores_as_the_message_model_alone() -> None:
    """Every context feature is 0 on a session's first message."""
    model = load_model()
    ctx = session_context([customer("hello")], "hello")
    assert not context_features(ctx, 0.3, model).any()
    analyzer = shipped({"hello": -1.0})
    result = analyzer.analyze("hello", [customer("hello")])
    assert result.frustration_score == pytest.approx(model.to_score(1 / (1 + np.exp(1.0))),
                                                     abs=1e-4)


def test_learned_mood_after_anger_falls_turn_by_turn_but_stays_elevated() -> None:
    angry, calm1, calm2 = "ANGRY", "Ok, thank you.", "Sure, that is fine."
    analyzer = shipped({angry: 3.0, calm1: -4.0, calm2: -4.0})
    f1, f2, f3 = session_moods(analyzer, [angry, calm1, calm2])
    alone = session_moods(analyzer, [calm2])[0]
    assert f1 > f2 > f3 > alone  # decreasing, not reset to what the calm words alone say
    assert f1 >= 0.9


def test_a_polite_message_after_three_non_answers_scores_higher_than_first() -> None:
    polite = "Could you tell me where the invoice settings are, please?"
    earlier = ["How do I export invoices?", "Can I change the invoice currency?",
               "Where are the tax settings?"]
    analyzer = shipped({t: -2.0 for t in [polite, *earlier]})
    conversation: list[Message] = []
    for text in earlier:
        conversation += [customer(text), Message(role=Role.ASSISTANT, content=NOT_COVERED,
                                                 metadata={MOOD_KEY: 0.1})]
    after = analyzer.analyze(polite, [*conversation, customer(polite)])
    first = analyzer.analyze(polite, [customer(polite)])
    assert after.frustration_score > first.frustration_score
    assert after.message_score == pytest.approx(first.message_score)  # the words are the same
    assert any(r.startswith("Unanswered: 3") for r in after.reasons)


@pytest.mark.parametrize(("text", "signal", "floor"), [
    ("I will contact my lawyer about this invoice.", Signal.LEGAL_THREAT, 0.45),
    ("This was already escalated and nothing happened.", Signal.PREVIOUS_ESCALATION, 0.2),
])
def test_the_learned_session_cannot_lower_rule_floors(
    text: str, signal: Signal, floor: float
) -> None:
    calm = "Thanks, that is all fine."
    analyzer = shipped({calm: -6.0, text: -6.0})
    conversation = [customer(calm), reply(0.0), customer(calm), reply(0.0), customer(text)]
    result = analyzer.analyze(text, conversation)
    assert signal in result.signals
    assert result.frustration_score >= floor


def test_repeated_contact_on_record_stays_a_floor_in_a_session() -> None:
    text = "Any news on my export?"
    analyzer = shipped({text: -6.0, "hi": -6.0})
    result = analyzer.analyze(text, [customer("hi"), reply(0.0), customer(text)],
                              contact_count=3)
    assert Signal.REPEATED_ISSUE in result.signals
    assert result.frustration_score >= 1 - 0.6 ** 2


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
    assert result.ticket.sentiment.backend == f"model:{MODEL_NAME}"
    assert computed == [text]  # embedded once, by the KB search; the model reused it


@pytest.mark.parametrize(("mood", "kept"), [(0.9, True), (0.5, False)])
def test_an_angry_level_persists_while_the_decayed_mood_is_still_frustrated(
    mood: float, kept: bool
) -> None:
    """Routing sees the angry customer's next, calm line as angry for as long as
    decay x the mood stays at or above "frustrated"; while the level is kept the score
    carries decay x the mood with it, so the two agree; after that it is the learned mood."""
    text = "I want to talk to a human"
    analyzer = shipped({"ANGRY": 3.0, text: -3.0})
    angry_reply = Message(role=Role.ASSISTANT, content="Sorry about that.",
                          metadata={MOOD_KEY: mood, "sentiment_level": "angry"})
    result = analyzer.analyze(text, [customer("ANGRY"), angry_reply, customer(text)])
    assert (result.level == SentimentLevel.ANGRY) is kept
    assert result.frustration_score < mood
    carried = mood * analyzer.decay
    if kept:  # level and score agree: "angry" never comes with a below-"frustrated" score
        assert result.frustration_score == pytest.approx(carried, abs=1e-3)
        assert result.frustration_score >= analyzer.thresholds.frustrated_score
    else:  # no carry once the level lapses: the learned mood, below what decay would keep
        assert result.frustration_score < carried
    assert any("kept from the previous turn" in r for r in result.reasons) is kept
