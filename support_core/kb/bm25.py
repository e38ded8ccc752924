"""Keyword retrieval (BM25 via ``bm25s``) over the same chunks the dense index holds.

Customers paste error codes, product names and invoice numbers that a small embedding
model blurs; BM25 catches them. Tokens are lower-cased words with English stop words
removed and a Snowball stem (PyStemmer), so 'refunds' finds 'refund'. Filters are
applied before ranking: a category filter ranks only that category's chunks, instead of
cutting a global top-k that might hold none of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np

from support_core.models import Chunk

_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    try:
        import Stemmer
    except ImportError:  # still works, only without stemming
        return None
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    words = [w for w in _TOKEN_RE.findall(text.lower()) if w not in _stopwords()]
    stemmer = _stemmer()
    return stemmer.stemWords(words) if stemmer is not None else words


class BM25Index:
    """An immutable BM25 index over chunks; rebuild it when the knowledge base changes."""

    def __init__(self, chunks: Sequence[Chunk], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.chunk_ids = [c.chunk_id for c in chunks]
        self._categories = np.array([c.category for c in chunks], dtype=object)
        self._products = np.array([c.product for c in chunks], dtype=object)
        self._retriever: bm25s.BM25 | None = None
        if chunks:
            self._retriever = bm25s.BM25(k1=k1, b=b)
            corpus = [tokenize(c.embedding_text()) for c in chunks]
            self._retriever.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def search(
        self, query: str, n: int, *, category: str | None = None, product: str | None = None
    ) -> list[tuple[str, float]]:
        """Top ``n`` (chunk_id, score) among chunks that pass the filters; score > 0 only."""
        tokens = tokenize(query)
        if self._retriever is None or not tokens or n <= 0:
            return []
        scores = np.asarray(self._retriever.get_scores(tokens), dtype=np.float64)
        scores[~self._mask(category, product)] = 0.0
        top = np.argsort(-scores, kind="stable")[:n]
        return [(self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _mask(self, category: str | None, product: str | None) -> np.ndarray:
        mask = np.ones(len(self.chunk_ids), dtype=bool)
        if category:
            mask &= self._categories == category
        if product:
            mask &= self._products == product
        return mask
