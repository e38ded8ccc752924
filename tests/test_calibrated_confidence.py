"""Calibrated confidence (``Settings.confidence_model = "calibrated"``): the shipped model,
its features on the real sample KB, and what the pipeline does with it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support_core.calibrated_confidence import (
    FEATURES,
    MODEL_PATH,
    CalibratedScorer,
    Calibrator,
    load_calibrator,
)
from support_core.clarify import retrievers_disagree
from support_core.confidence import ANSWERABLE_THRESHOLD, answerable
from support_core.models import SearchHit

UNCOVERED = "Can I pay my Orbitly invoice with cryptocurrency like bitcoin?"
FOLLOW_UP = "Thanks! And how do I set up webhooks?"


def test_shipped_model_is_monotone_and_says_where_it_came_from() -> None:
    data = json.loads(MODEL_PATH.read_text())
    assert list(data["features"]) == list(FEATURES) == list(data["weights"])
    assert all(w >= 0 for w in data["weights"].values())  # evidence only ever raises it
    assert 0 < data["threshold"] < 1
    assert data["trained_on"]["script"] == "bench/train_abstention.py"
    assert not any("techqa" in d for d in data["trained_on"]["data"])  # TechQA stays blind


def test_threshold_maps_onto_the_floor_and_confidence_is_monotone() -> None:
    model = load_calibrator()
    base = dict.fromkeys(FEATURES, 0.3)
    values = []
    for x in (0.0, 0.5, 1.0):
        for name in FEATURES:
            values.append((name, x, model.confidence({**base, name: x})))
    for name in FEATURES:
        row = [c for n, _, c in values if n == name]
        assert row == sorted(row), name
    flat = Calibrator((0.0,) * len(FEATURES), bias=0.0, threshold=0.5)  # p = 0.5 everywhere
    assert flat.confidence(base) == pytest.approx(ANSWERABLE_THRESHOLD)
    low = Calibrator((0.0,) * len(FEATURES), bias=-1.0, threshold=0.5)
    assert low.confidence(base) < ANSWERABLE_THRESHOLD


def test_rare_words_missing_from_the_answer_lower_the_features(sample_kb: Any) -> None:
    scorer = CalibratedScorer(sample_kb.embedder, sample_kb.unit_vectors, sample_kb.term_idf)
    covered = "How do I set up webhooks?"
    uncovered = scorer.features(UNCOVERED, sample_kb.search(UNCOVERED, k=5))
    webhooks = scorer.features(covered, sample_kb.search(covered, k=5))
    # "cryptocurrency" and "bitcoin" occur nowhere in the KB: the passage cannot hold them
    assert uncovered["known_share"] < 0.6 and uncovered["unit_coverage"] < 0.6
    assert webhooks["known_share"] == 1.0 and webhooks["unit_coverage"] == 1.0
    assert webhooks["unit_cosine"] > 0.3  # the stored unit vectors were used
    first = scorer.score(covered, sample_kb.search(covered, k=5))
    assert first == scorer.score(covered, sample_kb.search(covered, k=5))  # deterministic
    confidence, evidence = first
    assert evidence.calibrated == confidence and set(evidence.features) == set(FEATURES)
    assert answerable(evidence) is (confidence >= ANSWERABLE_THRESHOLD)


def test_mood_words_are_not_a_missing_topic(sample_kb: Any) -> None:
    scorer = CalibratedScorer(sample_kb.embedder, sample_kb.unit_vectors, sample_kb.term_idf)
    moody = "Ugh, so annoyed and confused: how do I get a refund?"
    values = scorer.features(moody, sample_kb.search(moody, k=5))
    assert values["known_share"] == 1.0 and values["unit_coverage"] == 1.0
    assert values["coverage"] < 1.0  # the formula's plain coverage still counts them


def test_no_hits_is_zero(sample_kb: Any) -> None:
    scorer = CalibratedScorer(sample_kb.embedder, sample_kb.unit_vectors, sample_kb.term_idf)
    confidence, evidence = scorer.score("anything", [])
    assert confidence == 0.0 and not answerable(evidence)


def test_pipeline_with_calibrated_confidence(service_factory: Any) -> None:
    svc = service_factory(confidence_model="calibrated")
    gap = svc.pipeline.process_message("cal-1", "s1", UNCOVERED)
    assert gap.action != "auto_reply"
    assert not gap.ticket.draft.answered  # "not covered", a human follows up
    assert gap.ticket.draft.evidence.calibrated is not None
    assert gap.ticket.draft.confidence < svc.settings.confidence_floor

    first = svc.pipeline.process_message("cal-2", "s1", "How do I rotate my API key?")
    assert first.action == "auto_reply"
    second = svc.pipeline.process_message("cal-2", "s1", FOLLOW_UP)
    assert second.action == "auto_reply"
    assert second.ticket.draft.answered
    assert second.ticket.draft.confidence >= svc.settings.confidence_floor


def test_retrievers_disagree() -> None:
    def hit(article: str, dense: int | None, bm25: int | None) -> SearchHit:
        return SearchHit(chunk_id=article + "#0", article_id=article, title=article, text="x",
                         dense_rank=dense, bm25_rank=bm25)

    assert not retrievers_disagree([hit("a", 1, 1), hit("b", 2, 2)])
    assert retrievers_disagree([hit("a", 1, 2), hit("b", 2, 1)])
    assert retrievers_disagree([hit("a", 1, None)])


def test_formula_setting_keeps_the_hand_formula(service_factory: Any) -> None:
    svc = service_factory(confidence_model="formula")
    result = svc.pipeline.process_message("cal-3", "s1", "How do I rotate my API key?")
    assert result.ticket.draft.evidence.calibrated is None
    assert result.ticket.draft.evidence.features == {}
