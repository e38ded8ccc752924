"""From two chunk rankings (dense and BM25) to one ranking of articles.

Fusion happens per *article*, not per chunk: an article's dense evidence is its best
chunk's cosine, its keyword evidence its best chunk's BM25 score, even when those are two
different chunks. Fusing chunks first and keeping each article's best fused chunk (what
this replaced) let an article that held both retrievers' top chunk in different places
look like a disagreement, and wasted the signal ``support_core.confidence`` relies on.

Two fusions, chosen by ``Settings.fusion``:

``score`` (default)  each retriever's article scores are min-max normalised over its
                     candidates and combined as a weighted mean (``dense_weight``,
                     ``bm25_weight``). Unlike ranks, normalised scores keep *how much*
                     better the first article is, which is what a clear winner looks like.
``rrf``              weighted reciprocal rank of the article ranks, ``w / (rrf_k + rank)``.

Measured on both public sets (docs/benchmarks.md): score fusion beat rank fusion on both
for every dense share from 0.5 to 0.8 of the weight, so the equal-weight default is not a
value picked to fit one corpus. A chunk's fused score uses its own scores on its article's
scale, so it never outranks its own article's first hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from support_core.models import SearchHit

Fusion = Literal["score", "rrf"]
RETRIEVERS = ("dense", "bm25")


@dataclass(frozen=True)
class FusionParams:
    fusion: Fusion = "score"
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    rrf_k: int = 60

    def weight(self, retriever: str) -> float:
        return self.dense_weight if retriever == "dense" else self.bm25_weight


@dataclass
class _View:
    """One retriever's evidence per article: best score, rank, and min/max for normalising."""

    best: dict[str, float]
    rank: dict[str, int]
    low: float
    high: float

    def normalised(self, score: float | None) -> float:
        if score is None:
            return 0.0
        if self.high <= self.low:
            return 1.0
        return min(1.0, max(0.0, (score - self.low) / (self.high - self.low)))


def fuse_articles(hits: Sequence[SearchHit], params: FusionParams) -> list[list[SearchHit]]:
    """Articles best first, each as its chunk hits best first.

    Each article's first hit is its best chunk, carrying the *article's* evidence: the
    best dense rank and score and the best BM25 rank and score among its chunks, and the
    article's fused score. Further hits carry their own chunk's values."""
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault(hit.article_id, []).append(hit)
    views = {r: _view(groups, r) for r in RETRIEVERS}
    active = [r for r in RETRIEVERS if views[r].best and params.weight(r) > 0]
    ranked = []
    for chunks in groups.values():
        for chunk in chunks:
            chunk.fused_score = _combine(chunk, views, active, params)  # <= article's
        chunks.sort(key=_hit_order)
        ranked.append([_representative(chunks[0], views, active, params), *chunks[1:]])
    return sorted(ranked, key=lambda group: _hit_order(group[0]))


def _view(groups: dict[str, list[SearchHit]], retriever: str) -> _View:
    best: dict[str, float] = {}
    for article_id, chunks in groups.items():
        scores = [s for c in chunks if (s := getattr(c, f"{retriever}_score")) is not None]
        if scores:
            best[article_id] = max(scores)
    order = sorted(best, key=lambda a: (-best[a], a))
    values = best.values()
    return _View(best, {a: i for i, a in enumerate(order, 1)}, min(values, default=0.0),
                 max(values, default=0.0))


def _representative(
    hit: SearchHit, views: dict[str, _View], active: list[str], params: FusionParams
) -> SearchHit:
    update: dict[str, float | int | None] = {}
    for retriever in RETRIEVERS:
        view = views[retriever]
        update[f"{retriever}_score"] = view.best.get(hit.article_id)
        update[f"{retriever}_rank"] = view.rank.get(hit.article_id)
    article = hit.model_copy(update=update)
    article.fused_score = _combine(article, views, active, params)
    return article


def _combine(
    hit: SearchHit, views: dict[str, _View], active: list[str], params: FusionParams
) -> float:
    if not active:
        return 0.0
    if params.fusion == "rrf":
        ranks = {r: getattr(hit, f"{r}_rank") for r in active}
        return sum(params.weight(r) / (params.rrf_k + ranks[r]) for r in active if ranks[r])
    total = sum(params.weight(r) for r in active)
    parts = (params.weight(r) * views[r].normalised(getattr(hit, f"{r}_score")) for r in active)
    return sum(parts) / total


def _hit_order(hit: SearchHit) -> tuple[float, int, float, str]:
    """Fused score, then the better single rank, then cosine, then id: results never flicker."""
    ranks = [r for r in (hit.dense_rank, hit.bm25_rank) if r is not None]
    return (-hit.fused_score, min(ranks, default=10**9), -(hit.dense_score or 0.0), hit.chunk_id)


def fuse_rankings(
    rankings: Sequence[tuple[Sequence[str], float]], k: int = 60
) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion of several rankings of ids, ``sum(w / (k + rank))``,
    best first; ties keep the order in which the ids first appear (the first ranking
    given wins them), so the result never flickers."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(dict.fromkeys(ids), start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    first = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], first[pair[0]]))
