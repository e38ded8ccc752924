"""How sure we are that the knowledge base answers a question, from evidence alone.

A model's opinion of its own answer is not evidence: it is most confident
exactly when it is most wrong. The confidence here is computed from what
retrieval returned, in four measurable parts (:class:`ConfidenceEvidence`):

``agreement``  the dense (embedding) top-1 article and the BM25 (keyword) top-1
               article are the same. Two retrievers that fail differently
               pointing at one article is by far the best answerable/unanswerable
               signal we measured (NOTES-retrieval.md: they agree on 74 % of
               answerable TechQA questions and 30 % of unanswerable ones).
``top_dense``  the best cosine similarity. Weak alone (AUC 0.68), useful as a
               tie-breaker; mapped linearly from [DENSE_FLOOR, DENSE_CEILING] to 0..1.
``coverage``   the share of the question's content words (stopwords removed,
               Snowball-stemmed) that appear in the best hits' text.
``hits``       how many hits came back; fewer than ``FULL_HITS`` scales the
               score down (a nearly empty KB is thin evidence).

The combination is a weighted sum, scaled by the hit factor::

    confidence = min(hits, FULL_HITS) / FULL_HITS
                 * (W_AGREE * agreement + W_DENSE * dense_part + W_COVER * coverage)

Every part enters with a non-negative weight, so confidence never drops when
any piece of evidence improves. The weights sum to 1, so confidence is in
[0, 1]. ``answerable`` is ``confidence >= threshold``, the configured
``Settings.confidence_floor`` (default 0.5, ``ANSWERABLE_THRESHOLD``): with agreement,
modest similarity or coverage is enough; without it, only a strong match on both passes.
``bench/abstention.py`` measures how well this separates answerable from
unanswerable questions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import Stemmer

from support_core.config import Settings
from support_core.models import ConfidenceEvidence, SearchHit

W_AGREE = 0.4
W_DENSE = 0.35
W_COVER = 0.25
DENSE_FLOOR = 0.25  # cosine at or below which similarity counts as no evidence
DENSE_CEILING = 0.65  # cosine at or above which similarity counts as full evidence
FULL_HITS = 3
COVERAGE_HITS = 3  # coverage is measured over this many best hits
ANSWERABLE_THRESHOLD = float(Settings.model_fields["confidence_floor"].default)  # the default

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can cannot could did do does doing done down during each
    either else etc even ever every few for from further get gets getting got had has have
    having he her here hers herself him himself his how however i if in into is it its itself
    just let like may me might more most much must my myself need no nor not now of off often
    on once one only or other our ours ourselves out over own please same shall she should
    since so some still such than thank thanks that the their theirs them themselves then
    there these they this those though through thus to too under until up upon us use used
    using very via want was way we well were what when where whether which while who whom why
    will with within without would yes yet you your yours yourself yourselves hi hello hey
    """.split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def content_terms(text: str) -> set[str]:
    """Stemmed content words of ``text``: what "covering a question" is measured in."""
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1]
    return set(_stemmer().stemWords(words))


def score_evidence(question: str, hits: Sequence[SearchHit]) -> tuple[float, ConfidenceEvidence]:
    """Confidence (0..1) that ``hits`` answer ``question``, and what it is made of."""
    evidence = ConfidenceEvidence(
        top_dense=_top_dense(hits),
        agreement=_top_articles_agree(hits),
        coverage=coverage(question, best_hits(hits, COVERAGE_HITS)),
        hits=len(hits),
    )
    return combine(evidence), evidence


def combine(evidence: ConfidenceEvidence) -> float:
    """The documented, monotone formula from the module docstring."""
    if evidence.hits == 0:
        return 0.0
    span = DENSE_CEILING - DENSE_FLOOR
    dense_part = min(1.0, max(0.0, (evidence.top_dense - DENSE_FLOOR) / span))
    weighted = (
        W_AGREE * float(evidence.agreement)
        + W_DENSE * dense_part
        + W_COVER * min(1.0, max(0.0, evidence.coverage))
    )
    return round(min(evidence.hits, FULL_HITS) / FULL_HITS * weighted, 4)


def answerable(evidence: ConfidenceEvidence, threshold: float = ANSWERABLE_THRESHOLD) -> bool:
    """Whether the evidence is strong enough to answer instead of saying "not covered"."""
    score = evidence.calibrated if evidence.calibrated is not None else combine(evidence)
    return evidence.hits > 0 and score >= threshold


def best_hits(hits: Sequence[SearchHit], n: int) -> list[SearchHit]:
    """The ``n`` best hits by fused score; the given order breaks ties (sort is stable)."""
    return sorted(hits, key=lambda h: -h.fused_score)[:n]


def passage_terms(title: str, heading_path: Sequence[str], text: str) -> set[str]:
    """Content terms of a chunk with its title and headings: what a hit "covers"."""
    return content_terms(" ".join([title, *heading_path, text]))


def coverage(question: str, hits: Sequence[SearchHit]) -> float:
    """Share of the question's content words found in the hits' titles, headings and text."""
    wanted = content_terms(question)
    if not wanted or not hits:
        return 0.0
    found: set[str] = set()
    for hit in hits:
        found |= passage_terms(hit.title, hit.heading_path, hit.text)
    return round(len(wanted & found) / len(wanted), 4)


def _top_dense(hits: Sequence[SearchHit]) -> float:
    scores = [h.dense_score for h in hits if h.dense_score is not None]
    return max(scores, default=0.0)


def _top_articles_agree(hits: Sequence[SearchHit]) -> bool:
    """Dense rank-1 and BM25 rank-1 hits come from the same article."""
    dense_top = next((h for h in hits if h.dense_rank == 1), None)
    bm25_top = next((h for h in hits if h.bm25_rank == 1), None)
    return dense_top is not None and bm25_top is not None and (
        dense_top.article_id == bm25_top.article_id
    )
