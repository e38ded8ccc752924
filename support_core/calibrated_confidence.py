"""Calibrated confidence: a small monotone logistic model over retrieval *and* answer evidence.

The hand formula in :mod:`support_core.confidence` looks at the hits only. Its blind spot
is a question whose rare words the knowledge base never mentions ("pay with bitcoin"):
the hits are about paying, the retrievers agree, and the formula answers from the wrong
article. The features here add what the answering passage says (``FEATURES``):

``agreement``          dense rank-1 article == BM25 rank-1 article (as in the formula)
``top_dense``          best chunk cosine
``dense_margin``       article-level cosine gap between rank 1 and rank 2
``bm25_margin``        article-level BM25 gap between rank 1 and 2, relative to rank 1
``coverage``           share of question content words in the best three hits (the formula's)
``idf_coverage``       the same, each word weighted by its IDF in the KB (rare words count most;
                       a word the KB never uses gets the highest weight)
``title_coverage``     IDF-weighted share of question words in the top hit's title and headings
``known_share``        IDF-weighted share of question words the KB uses anywhere
``unit_cosine``        best cosine between the question and a passage unit of the best three
                       hits (the unit vectors embedded at ingest: one small matrix product)
``unit_coverage``      IDF-weighted share of question words in the chunk holding that unit

"Question words" for the IDF-weighted features leave out mood words the KB never uses
(stemmed VADER lexicon words, as the sentiment stage reads them: "ugh", "annoyed"): a
frustrated customer's feelings are not a topic the knowledge base lacks.

Every weight is non-negative (each feature should only raise confidence) and the weights
live in ``models_data/abstention.json`` with the script and data that fitted them
(``bench/train_abstention.py``: synthetic unanswerables, the WixQA and MTRAG-UN questions
with their gold articles deleted from the index; TechQA is never used). The probability is
mapped monotonically so that the fitted operating threshold lands on the default
``Settings.confidence_floor``: the router's floor and frustration threshold keep meaning
"answer" and "answer even to a frustrated customer".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from support_core.answer_select import PASSAGE_HITS, UnitLookup, matching_vectors, unit_texts
from support_core.confidence import (
    ANSWERABLE_THRESHOLD,
    best_hits,
    content_terms,
    passage_terms,
    score_evidence,
)
from support_core.models import ConfidenceEvidence, SearchHit
from support_core.ports import Embedder

MODEL_PATH = Path(__file__).parent / "models_data" / "abstention.json"
FEATURES = ("agreement", "top_dense", "dense_margin", "bm25_margin", "coverage", "idf_coverage",
            "title_coverage", "known_share", "unit_cosine", "unit_coverage")

IdfLookup = Callable[[], Mapping[str, float]]


@dataclass(frozen=True)
class Calibrator:
    weights: tuple[float, ...]
    bias: float
    threshold: float  # probability at which a question counts as answerable

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Calibrator:
        weights = data["weights"]
        assert isinstance(weights, Mapping)
        return cls(tuple(float(weights[name]) for name in FEATURES), float(data["bias"]),  # type: ignore[arg-type]
                   float(data["threshold"]))  # type: ignore[arg-type]

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(w * features[n] for w, n in zip(self.weights, FEATURES, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def confidence(self, features: Mapping[str, float], floor: float = ANSWERABLE_THRESHOLD
                   ) -> float:
        """The probability, mapped piecewise-linearly so ``threshold`` becomes ``floor``."""
        p, t = self.probability(features), self.threshold
        scaled = floor * p / t if p < t else floor + (1 - floor) * (p - t) / (1 - t)
        return round(min(1.0, max(0.0, scaled)), 4)


@lru_cache(maxsize=4)
def load_calibrator(path: Path = MODEL_PATH) -> Calibrator:
    return Calibrator.from_dict(json.loads(path.read_text(encoding="utf-8")))


class CalibratedScorer:
    """``score(question, hits) -> (confidence, evidence)``, a drop-in for ``score_evidence``."""

    def __init__(self, embedder: Embedder | None, units: UnitLookup | None,
                 idf: IdfLookup | None, calibrator: Calibrator | None = None) -> None:
        self.embedder = embedder
        self.units = units
        self.idf = idf
        self.calibrator = calibrator or load_calibrator()

    def features(self, question: str, hits: Sequence[SearchHit],
                 evidence: ConfidenceEvidence | None = None) -> dict[str, float]:
        return features(question, hits, embedder=self.embedder, units=self.units,
                        idf=self.idf() if self.idf is not None else {}, evidence=evidence)

    def score(self, question: str, hits: Sequence[SearchHit]) -> tuple[float, ConfidenceEvidence]:
        _, evidence = score_evidence(question, hits)
        if not hits:
            return 0.0, evidence
        values = self.features(question, hits, evidence)
        confidence = self.calibrator.confidence(values)
        return confidence, evidence.model_copy(update={
            "calibrated": confidence, "features": {k: round(v, 4) for k, v in values.items()}})


def features(question: str, hits: Sequence[SearchHit], *, embedder: Embedder | None,
             units: UnitLookup | None, idf: Mapping[str, float],
             evidence: ConfidenceEvidence | None = None) -> dict[str, float]:
    """The ``FEATURES`` of one question and its hits (module docstring); ``evidence``: the
    formula's evidence for them, if the caller already has it."""
    if evidence is None:
        _, evidence = score_evidence(question, hits)
    ranked = best_hits(hits, PASSAGE_HITS)
    # A mood word the KB never uses ("ugh", "annoyed") is how the customer feels, not a topic
    # the KB lacks; a word the KB does use ("cancel", "error") always counts.
    wanted = {t for t in content_terms(question) if t in idf or t not in _mood_terms()}
    # a word no chunk uses counts as if it were in half a chunk: log(1 + 2N) ~ rarest + log 2
    unseen = max(idf.values(), default=0.0) + math.log(2)
    weight = {t: idf.get(t, unseen) for t in wanted}
    total = sum(weight.values())

    def share(terms: set[str]) -> float:
        return sum(weight[t] for t in wanted & terms) / total if total else 0.0

    found: set[str] = set()
    for hit in ranked:
        found |= _terms(hit)
    top = ranked[0] if ranked else None
    title = content_terms(" ".join([top.title, *top.heading_path])) if top else set()
    cosine, unit_hit = _best_unit(question, ranked, embedder, units)
    firsts = _article_firsts(hits)
    return {
        "agreement": float(evidence.agreement),
        "top_dense": evidence.top_dense,
        "dense_margin": _margin([h.dense_score for h in firsts]),
        "bm25_margin": _margin([h.bm25_score for h in firsts], relative=True),
        "coverage": evidence.coverage,
        "idf_coverage": share(found),
        "title_coverage": share(title),
        "known_share": share(set(idf)),
        "unit_cosine": cosine,
        "unit_coverage": share(_terms(unit_hit)) if unit_hit is not None else 0.0,
    }


@lru_cache(maxsize=1)
def _mood_terms() -> frozenset[str]:
    """Stemmed words of the VADER sentiment lexicon (the sentiment stage's), e.g. 'annoyed'."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return frozenset(content_terms(" ".join(SentimentIntensityAnalyzer().lexicon)))


def _terms(hit: SearchHit) -> set[str]:
    return passage_terms(hit.title, hit.heading_path, hit.text)


def _article_firsts(hits: Sequence[SearchHit]) -> list[SearchHit]:
    seen: set[str] = set()
    firsts = []
    for hit in hits:
        if hit.article_id not in seen:
            seen.add(hit.article_id)
            firsts.append(hit)
    return firsts


def _margin(scores: Sequence[float | None], relative: bool = False) -> float:
    values = sorted((s for s in scores if s is not None), reverse=True)
    if not values:
        return 0.0
    second = values[1] if len(values) > 1 else 0.0
    gap = values[0] - second
    if relative:
        return gap / values[0] if values[0] > 0 else 0.0
    return gap


def _best_unit(question: str, ranked: Sequence[SearchHit], embedder: Embedder | None,
               units: UnitLookup | None) -> tuple[float, SearchHit | None]:
    """Best question-unit cosine over the stored unit vectors of ``ranked``, and its hit.
    A hit without stored vectors counts with its chunk cosine (no encoder call here)."""
    if not ranked:
        return 0.0, None
    stored = units([h.chunk_id for h in ranked]) if units is not None and embedder else {}
    query = None
    if stored and embedder is not None:
        query = np.asarray(embedder.embed_query(question), dtype=np.float32)
    best, best_hit = -1.0, None
    for hit in ranked:
        row = stored.get(hit.chunk_id)
        matrix = (matching_vectors(row, unit_texts(hit.title, hit.heading_path, hit.text))
                  if row is not None else None)
        if query is not None and matrix is not None and len(matrix):
            value = float(np.max(matrix @ query))
        else:
            value = hit.dense_score if hit.dense_score is not None else 0.0
        if value > best:
            best, best_hit = value, hit
    return max(0.0, best), best_hit
