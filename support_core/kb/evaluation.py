"""Measure retrieval on a public corpus: does the right article come back, and how high?

A corpus is ``corpus.jsonl`` rows ``{"id", "title", "text"}`` and queries are rows
``{"id", "query", "gold_ids": [...]}`` (queries with no gold article, i.e. unanswerable
ones, are skipped and counted). A row may carry the conversation before it, ``"history":
[{"role", "text"}, ...]`` oldest first: it is used exactly as the pipeline uses a session
(``support_core.kb.conversation_query``: the earlier customer turns are replayed in order,
each one's top article standing in for the article its answer cited), unless
``history=False`` (the CLI's ``--no-history``), which searches the last message alone.
Every run builds a fresh index in a temporary directory, never the app's data dir, and
ranks *articles* in the order of ``KnowledgeBase.search``'s hits (per-article fusion).

Metrics, averaged over queries: hit@1 = the first article is a gold one; recall@k = share
of a query's gold articles in the top k; mrr@10 = 1 / rank of the first gold article;
ndcg@10 with binary relevance.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from support_core.config import Settings
from support_core.kb.chunking import chunk_article
from support_core.kb.conversation_query import (
    Conversation,
    ConversationSearch,
    Rewriter,
    replay,
)
from support_core.kb.knowledge_base import KnowledgeBase, Mode
from support_core.models import Article, Chunk, SearchHit
from support_core.ports import Embedder

ChunkerName = Literal["structured", "fixed"]
CUTOFFS = (1, 5, 10)


def evaluate_retrieval(
    corpus_path: str | Path,
    queries_path: str | Path,
    *,
    k: int = 10,
    mode: Mode = "hybrid",
    chunker: ChunkerName = "structured",
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    history: bool = True,
    rewrite: Rewriter | None = None,
) -> dict[str, Any]:
    """Metrics for one retrieval mode and chunker (see the module docstring). ``rewrite``:
    the chat model's follow-up rewriter, as the pipeline uses it when an LLM is set."""
    results = evaluate_modes(
        corpus_path,
        queries_path,
        modes=[mode],
        k=k,
        chunker=chunker,
        settings=settings,
        embedder=embedder,
        history=history,
        rewrite=rewrite,
    )
    return results[mode]


def evaluate_modes(
    corpus_path: str | Path,
    queries_path: str | Path,
    *,
    modes: Sequence[Mode],
    k: int = 10,
    chunker: ChunkerName = "structured",
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    history: bool = True,
    rewrite: Rewriter | None = None,
) -> dict[str, dict[str, Any]]:
    """Several modes over one index (building it is the expensive part)."""
    settings = settings or Settings()  # type: ignore[call-arg]
    articles = load_corpus(corpus_path)
    queries = load_queries(queries_path)
    answerable = [q for q in queries if q["gold_ids"]]
    if embedder is None and set(modes) == {"bm25"}:
        embedder = _NoEmbedder()
    with tempfile.TemporaryDirectory(prefix="deskpilot-eval-") as tmp:
        kb = _fresh_kb(settings, embedder, Path(tmp), chunker)
        kb.ingest_articles(articles)
        facts = {
            "chunker": chunker,
            "skipped": len(queries) - len(answerable),
            "articles": len(articles),
            "chunks": kb.store.count(),
            "history": history,
            "with_history": sum(bool(_turns(q, history)) for q in answerable),
        }
        return {
            mode: _score_mode(kb, answerable, mode, k, history, rewrite) | facts | {"mode": mode}
            for mode in modes
        }


def _score_mode(
    kb: KnowledgeBase, queries: list[dict[str, Any]], mode: Mode, k: int, history: bool,
    rewrite: Rewriter | None = None,
) -> dict[str, Any]:
    depth = max(k, *CUTOFFS)
    embed = kb.embedder.embed_query if mode != "bm25" else None
    planner = ConversationSearch(_ModeSearcher(kb, mode), strategy=kb.settings.conversation_search,
                                 embed=embed, rrf_k=kb.settings.rrf_k, rewrite=rewrite)
    rankings = [conversation_ranking(planner, q["query"], _turns(q, history), depth)
                for q in queries]
    return score_rankings(rankings, [q["gold_ids"] for q in queries], k)


def conversation_ranking(
    planner: ConversationSearch, query: str, turns: Sequence[str], depth: int
) -> list[str]:
    """Articles best first for ``query`` after the customer's earlier ``turns``."""
    hits, _ = replay(planner, turns, query, k=depth)
    return list(dict.fromkeys(h.article_id for h in hits))


def _turns(query: dict[str, Any], history: bool) -> tuple[str, ...]:
    return Conversation.from_history(query["history"]).turns if history else ()


class _ModeSearcher:
    """The knowledge base's ``search`` in one retrieval mode."""

    def __init__(self, kb: KnowledgeBase, mode: Mode) -> None:
        self.kb, self.mode = kb, mode

    def search(
        self, query: str, *, category: str | None = None, product: str | None = None, k: int = 5
    ) -> list[SearchHit]:
        return self.kb.search(query, category=category, product=product, k=k, mode=self.mode)


def load_corpus(path: str | Path) -> list[Article]:
    return [
        Article(
            article_id=str(row["id"]),
            title=row.get("title") or "",
            text=row["text"],
            format="text",
            source_url=row.get("url") or "",
        )
        for row in _jsonl(path)
        if str(row.get("text") or "").strip()
    ]


def load_queries(path: str | Path) -> list[dict[str, Any]]:
    return [
        {
            "id": row.get("id"),
            "query": row["query"],
            "gold_ids": [str(g) for g in row.get("gold_ids") or []],
            "history": list(row.get("history") or []),
        }
        for row in _jsonl(path)
    ]


def _jsonl(path: str | Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


# ----------------------------------------------------------------------------- metrics
def score_rankings(
    rankings: Sequence[Sequence[str]], golds: Sequence[Sequence[str]], k: int = 10
) -> dict[str, Any]:
    """Mean hit@1, recall@1/5/10, mrr@10 and ndcg@10 over queries; ``queries`` is how many."""
    per_query = [_query_metrics(list(r), set(g)) for r, g in zip(rankings, golds, strict=True)]
    names = ["hit@1", *(f"recall@{c}" for c in CUTOFFS), "mrr@10", "ndcg@10"]
    means = {n: float(np.mean([m[n] for m in per_query])) if per_query else 0.0 for n in names}
    return means | {"queries": len(per_query), "k": k}


def _query_metrics(ranking: list[str], gold: set[str]) -> dict[str, float]:
    metrics = {f"recall@{c}": len(gold & set(ranking[:c])) / len(gold) for c in CUTOFFS}
    metrics["hit@1"] = float(bool(ranking) and ranking[0] in gold)
    first = next((i for i, a in enumerate(ranking[:10], start=1) if a in gold), None)
    metrics["mrr@10"] = 1.0 / first if first else 0.0
    dcg = sum(1.0 / math.log2(i + 1) for i, a in enumerate(ranking[:10], start=1) if a in gold)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(gold), 10) + 1))
    metrics["ndcg@10"] = dcg / ideal
    return metrics


# ----------------------------------------------------------------------------- index
def fixed_chunker(article: Article, chunk_size: int = 800, chunk_overlap: int = 120) -> list[Chunk]:
    """The seed's baseline: a recursive character splitter (800/120), plain text, no title."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=800, chunk_overlap=120, separators=["\n## ", "\n### ", "\n\n", "\n", ". ", " "]
    )
    return [
        Chunk(
            chunk_id=f"{article.article_id}:{i}",
            article_id=article.article_id,
            text=text,
            position=i,
            category=article.category,
            product=article.product,
        )
        for i, text in enumerate(splitter.split_text(article.text))
    ]


def _fresh_kb(
    settings: Settings, embedder: Embedder | None, tmp: Path, chunker: ChunkerName
) -> KnowledgeBase:
    """An index of its own in ``tmp`` (embedded, never the app's store or a shared server),
    with the configured embedder unless one is given; both come from the wiring."""
    from support_core.wiring import build_embedder, build_vector_store

    local = settings.model_copy(update={"data_dir": tmp, "chroma_url": None})
    store = build_vector_store(local)
    if embedder is None:
        embedder = build_embedder(local, cached=False)
    if chunker == "fixed":
        return KnowledgeBase(
            local,
            embedder,
            store,
            chunker=fixed_chunker,
            chunker_version="fixed",
            fit_to_model=False,
        )
    return KnowledgeBase(local, embedder, store, chunker=chunk_article)


class _NoEmbedder:
    """For BM25-only runs: a constant unit vector, so nothing is encoded."""

    name = "none"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 8), dtype=np.float32)
        vectors[:, 0] = 1.0
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
