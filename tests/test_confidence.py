"""Confidence from retrieval evidence: agreement, similarity, coverage, hit count."""

from __future__ import annotations

import itertools

import pytest

from support_core.confidence import (
    ANSWERABLE_THRESHOLD,
    answerable,
    combine,
    content_terms,
    coverage,
    score_evidence,
)
from support_core.kb.fusion import FusionParams, fuse_articles
from support_core.models import ConfidenceEvidence, SearchHit

QUESTION = "How do I request a refund for a duplicate charge?"
REFUND = "To request a refund for a duplicate charge, open the invoice and click Request refund."
EXPORT = "Export your workspace data as CSV from the settings page."


def hit(article: str, text: str, *, dense: float | None = 0.6, dense_rank: int | None = None,
        bm25_rank: int | None = None, fused: float = 0.0, bm25: float | None = None) -> SearchHit:
    return SearchHit(chunk_id=f"{article}:0", article_id=article, title=article.title(),
                     text=text, dense_score=dense, bm25_score=bm25, dense_rank=dense_rank,
                     bm25_rank=bm25_rank, fused_score=fused)


def agreeing() -> list[SearchHit]:
    return [hit("refunds", REFUND, dense=0.62, dense_rank=1, bm25_rank=1, fused=0.033),
            hit("export", EXPORT, dense=0.30, dense_rank=2, bm25_rank=2, fused=0.032),
            hit("billing", "Invoices list every charge.", dense=0.28, dense_rank=3, fused=0.016)]


def disagreeing() -> list[SearchHit]:
    """Same texts and scores, but BM25's top-1 is another article."""
    hits = agreeing()
    return [hits[0].model_copy(update={"bm25_rank": 2}),
            hits[1].model_copy(update={"bm25_rank": 1}), hits[2]]


def test_agreement_raises_confidence_over_otherwise_identical_evidence() -> None:
    agree_conf, agree_ev = score_evidence(QUESTION, agreeing())
    split_conf, split_ev = score_evidence(QUESTION, disagreeing())
    assert agree_ev.agreement and not split_ev.agreement
    assert (agree_ev.top_dense, agree_ev.coverage) == (split_ev.top_dense, split_ev.coverage)
    assert agree_conf > split_conf
    assert answerable(agree_ev)


def test_disagreement_with_weak_similarity_is_not_answerable() -> None:
    hits = [h.model_copy(update={"dense_score": 0.3}) for h in disagreeing()]
    confidence, evidence = score_evidence("Why does my printer jam on page two?", hits)
    assert not answerable(evidence)
    assert confidence < ANSWERABLE_THRESHOLD


def test_no_hits_means_zero_confidence_and_not_answerable() -> None:
    confidence, evidence = score_evidence(QUESTION, [])
    assert confidence == 0.0
    assert evidence == ConfidenceEvidence(top_dense=0.0, agreement=False, coverage=0.0, hits=0)
    assert not answerable(evidence)


def test_agreement_needs_both_rank_one_hits_present() -> None:
    hits = [h.model_copy(update={"dense_rank": None}) if h.dense_rank == 1 else h
            for h in agreeing()]
    assert not score_evidence(QUESTION, hits)[1].agreement


def test_agreement_is_per_article_not_per_chunk() -> None:
    first = hit("refunds", REFUND, dense_rank=1, fused=0.03)
    second = hit("refunds", "Refunds take 5 days.", bm25_rank=1, fused=0.02)
    second = second.model_copy(update={"chunk_id": "refunds:7"})
    assert score_evidence(QUESTION, [first, second])[1].agreement


def chunk(article: str, n: int, *, dense: float | None = None, dense_rank: int | None = None,
          bm25: float | None = None, bm25_rank: int | None = None) -> SearchHit:
    return hit(article, f"{article} chunk {n}", dense=dense, dense_rank=dense_rank,
               bm25=bm25, bm25_rank=bm25_rank).model_copy(update={"chunk_id": f"{article}:{n}"})


@pytest.mark.parametrize("fusion", ["score", "rrf"])
def test_agreement_survives_top_chunks_in_different_chunks_of_one_article(fusion: str) -> None:
    """The KB's article hits carry each article's best ranks, so one hit per article is enough."""
    candidates = [
        chunk("refunds", 0, dense=0.71, dense_rank=1, bm25=2.0, bm25_rank=3),
        chunk("refunds", 1, dense=0.40, dense_rank=4, bm25=9.0, bm25_rank=1),
        chunk("export", 0, dense=0.65, dense_rank=2, bm25=7.0, bm25_rank=2),
        chunk("billing", 0, dense=0.50, dense_rank=3),
    ]
    articles = fuse_articles(candidates, FusionParams(fusion=fusion))  # type: ignore[arg-type]
    firsts = [group[0] for group in articles]
    assert [h.article_id for h in firsts] == ["refunds", "export", "billing"]
    assert (firsts[0].dense_rank, firsts[0].bm25_rank) == (1, 1)
    assert (firsts[0].dense_score, firsts[0].bm25_score) == (0.71, 9.0)
    assert score_evidence(QUESTION, firsts)[1].agreement


def test_evidence_reports_top_dense_and_hit_count() -> None:
    _, evidence = score_evidence(QUESTION, agreeing())
    assert evidence.top_dense == pytest.approx(0.62)
    assert evidence.hits == 3


def test_raw_bm25_scores_do_not_move_confidence() -> None:
    """Raw BM25 grows with query length; only its rank is used."""
    low = [h.model_copy(update={"bm25_score": 1.0}) for h in agreeing()]
    high = [h.model_copy(update={"bm25_score": 900.0}) for h in agreeing()]
    assert score_evidence(QUESTION, low)[0] == score_evidence(QUESTION, high)[0]


def test_coverage_ignores_stopwords_and_stems() -> None:
    covered = hit("refunds", "Refunds are requested for duplicated charges.")
    assert coverage("how do I request a refund for the duplicate charge", [covered]) == 1.0
    assert content_terms("How do I do it?") == set()


def test_coverage_is_a_share_of_question_words() -> None:
    partial = hit("refunds", "Refund requests are reviewed.")
    # content words: refund, duplicate, charge -> only "refund" is covered
    assert coverage("refund for a duplicate charge", [partial]) == pytest.approx(1 / 3, abs=1e-3)


def test_coverage_counts_titles_and_headings() -> None:
    titled = SearchHit(chunk_id="a:0", article_id="a", title="Duplicate charge",
                       heading_path=["Refund"], text="Open the invoice.")
    assert coverage("refund duplicate charge", [titled]) == 1.0


def test_few_hits_scale_confidence_down() -> None:
    full = ConfidenceEvidence(top_dense=0.6, agreement=True, coverage=0.8, hits=3)
    thin = full.model_copy(update={"hits": 1})
    assert combine(thin) < combine(full)
    assert combine(full.model_copy(update={"hits": 10})) == combine(full)


GRID = {
    "top_dense": [-0.1, 0.2, 0.35, 0.5, 0.7, 0.95],
    "agreement": [False, True],
    "coverage": [0.0, 0.3, 0.6, 1.0],
    "hits": [0, 1, 2, 3, 5],
}


@pytest.mark.parametrize("field", list(GRID))
def test_confidence_never_drops_when_one_piece_of_evidence_improves(field: str) -> None:
    others = {k: v for k, v in GRID.items() if k != field}
    for combo in itertools.product(*others.values()):
        base = dict(zip(others, combo, strict=True))
        values = [combine(ConfidenceEvidence(**base, **{field: v})) for v in GRID[field]]
        assert values == sorted(values), (field, base, values)


def test_confidence_is_bounded() -> None:
    best = ConfidenceEvidence(top_dense=1.0, agreement=True, coverage=1.0, hits=50)
    worst = ConfidenceEvidence(top_dense=-1.0, agreement=False, coverage=0.0, hits=1)
    assert combine(best) == pytest.approx(1.0)
    assert combine(worst) == 0.0


def test_answerable_respects_a_custom_threshold() -> None:
    evidence = ConfidenceEvidence(top_dense=0.5, agreement=True, coverage=0.5, hits=3)
    assert answerable(evidence, threshold=combine(evidence))
    assert not answerable(evidence, threshold=combine(evidence) + 0.01)
