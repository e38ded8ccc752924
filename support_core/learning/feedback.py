"""Retrieval feedback from people, never from the AI itself.

When an agent cites an article that search ranked low (not first) for the customer's
question, the (question, article) pair is stored as a human-verified positive. Later
queries close to a verified question get a bonus for that article::

    bonus = WEIGHT * (sim - MIN_SIMILARITY) / (1 - MIN_SIMILARITY) * top_score

where ``sim`` is the cosine between the new query and the verified question (only pairs at
or above ``MIN_SIMILARITY`` count) and ``top_score`` is the best fused score of the query,
so the bonus is on the same scale under score fusion (0..1) and RRF (~0.03). A nearly
identical question lifts the verified article to the top; a merely related one only
nudges it. The bonus only re-orders articles search already found as candidates.

Guard against self-reinforcement: the only writers are :meth:`record_citations` (called
when an agent replies with ``cited_articles``) and :meth:`record_published` (a person
published a gap's article). Auto-replies, their sources and their CSAT never reach this
module, so the AI cannot vote for its own retrievals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from support_core.learning.records import FeedbackPair
from support_core.learning.store import LearningStore
from support_core.models import SearchHit
from support_core.ports import Embedder

MIN_SIMILARITY = 0.8  # cosine between a new query and a verified question
WEIGHT = 1.0
LOW_RANK = 2  # a cited article at this rank or worse (or not retrieved) teaches search
POOL = 20  # articles re-ranked per query


class RetrievalFeedback:
    """Verified pairs, their question vectors (cached), and the boost they give."""

    def __init__(self, store: LearningStore, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder
        self._cache: tuple[int, list[FeedbackPair], np.ndarray] | None = None

    # ------------------------------------------------------------------ writing (people only)
    def record_citations(
        self,
        question: str,
        cited: Sequence[str],
        ranking: Sequence[str],
        *,
        ticket_id: str | None = None,
        agent: str | None = None,
    ) -> list[FeedbackPair]:
        """Store a pair for each article the agent cited that ``ranking`` (search's article
        order for ``question``) put at ``LOW_RANK`` or worse, or missed. Returns new pairs."""
        added = []
        for article_id in dict.fromkeys(cited):
            rank = ranking.index(article_id) + 1 if article_id in ranking else None
            if rank is not None and rank < LOW_RANK:
                continue  # search already had it first: nothing to teach
            pair = FeedbackPair(question=question, article_id=article_id, source="agent_citation",
                                ticket_id=ticket_id, agent=agent, rank_before=rank)
            if self.store.add_pair(pair):
                added.append(pair)
        return added

    def record_published(
        self, questions: Sequence[str], article_id: str, ticket_ids: Sequence[str], actor: str
    ) -> int:
        """The questions a person turned into an article are verified positives for it."""
        new = 0
        for question, ticket_id in zip(questions, ticket_ids, strict=False):
            pair = FeedbackPair(question=question, article_id=article_id, source="published_gap",
                                ticket_id=ticket_id, agent=actor)
            new += self.store.add_pair(pair)
        return new

    # ------------------------------------------------------------------ reading
    def _pairs(self) -> tuple[list[FeedbackPair], np.ndarray]:
        """The pairs and their vectors, re-read when the stored count changed.

        No lock of its own: a search can run inside a store transaction, and a cache lock
        taken before the store deadlocked two threads of one process (the stress test
        hung). The cache is one tuple, swapped whole; two threads may both rebuild it, and
        either result is right."""
        count = self.store.pair_count()
        cached = self._cache
        if cached is not None and cached[0] == count:
            return cached[1], cached[2]
        pairs = self.store.pairs()
        vectors = (self.embedder.embed([p.question for p in pairs]) if pairs
                   else np.zeros((0, 1), dtype=np.float32))
        self._cache = cached = (count, pairs, np.asarray(vectors, dtype=np.float32))
        return cached[1], cached[2]

    def bonuses(self, query: str) -> dict[str, float]:
        """Per article, the best scaled similarity (0..1] of ``query`` to a verified question."""
        pairs, vectors = self._pairs()
        if not pairs or not query.strip():
            return {}
        q = np.asarray(self.embedder.embed_query(query), dtype=np.float32).reshape(-1)
        sims = vectors @ q
        out: dict[str, float] = {}
        for pair, sim in zip(pairs, sims, strict=True):
            if sim >= MIN_SIMILARITY:
                part = float((sim - MIN_SIMILARITY) / (1 - MIN_SIMILARITY))
                out[pair.article_id] = max(out.get(pair.article_id, 0.0), min(part, 1.0))
        return out

    def rerank(self, query: str, ranked: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
        """``(article_id, score)`` best first -> the same articles re-ordered with bonuses."""
        if not ranked:
            return list(ranked)
        bonus = self.bonuses(query)
        if not bonus:
            return list(ranked)
        top = max(score for _, score in ranked) or 1.0
        boosted = [(a, s + WEIGHT * bonus.get(a, 0.0) * top) for a, s in ranked]
        order = sorted(range(len(boosted)), key=lambda i: (-boosted[i][1], i))
        return [boosted[i] for i in order]


class FeedbackSearcher:
    """The knowledge base with verified feedback applied: the pipeline's search step.

    Same ``search`` / ``search_articles`` contract as :class:`KnowledgeBase`; anything else
    is passed through to it."""

    def __init__(self, kb: Any, feedback: RetrievalFeedback) -> None:
        self.kb = kb
        self.feedback = feedback

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kb, name)

    def categories(self) -> list[str]:
        return list(self.kb.categories())

    def products(self) -> list[str]:
        return list(self.kb.products())

    def search(
        self, query: str, *, category: str | None = None, product: str | None = None, k: int = 5
    ) -> list[SearchHit]:
        hits: list[SearchHit] = self.kb.search(
            query, category=category, product=product, k=max(k, POOL)
        )
        heads: dict[str, SearchHit] = {}
        rest: list[SearchHit] = []
        for hit in hits:
            if hit.article_id in heads:
                rest.append(hit)
            else:
                heads[hit.article_id] = hit
        order = self.feedback.rerank(query, [(a, h.fused_score) for a, h in heads.items()])
        if [a for a, _ in order] == list(heads):
            return hits[:k]
        ranked = [heads[a].model_copy(update={"fused_score": s}) for a, s in order]
        return (ranked + rest)[:k]

    def search_articles(self, query: str, k: int = 10, **kwargs: Any) -> list[tuple[str, float]]:
        ranked = self.kb.search_articles(query, k=max(k, POOL), **kwargs)
        return self.feedback.rerank(query, ranked)[:k]
