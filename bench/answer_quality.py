"""Does the reply a customer reads carry the answer? Scored against expert answers.

Every question of a corpus + queries set (default: the public WixQA expert sample,
``../shared/data/wixqa_expert_sample``) goes through the full pipeline as a new
customer (service built by ``support_core.wiring`` in a temporary data dir, corpus
ingested once). The reply body (``Draft.text``: one opening line, the quoted passage,
``[n]`` markers) is compared with the expert answer in content words, beside two
replies computed in the same run from the same retrieved hits:

* ``top chunk``: the text of the top retrieved chunk pasted as the reply;
* ``lexical composer``: ``GroundedComposer`` with no embedder (its fallback path);
* two ceilings chosen with hindsight (the reference answer in hand): the best contiguous run
  of passage units (``answer_select.units_of``) within one of the top three hits, and within
  one gold article, each at most ``WORD_BUDGET`` words: what a perfect choice of quote could
  score, against which the selection rows read.

Scoring: lowercase ``[a-z0-9]+`` tokens, the confidence module's stopwords removed,
Snowball-stemmed (``support_core.confidence.content_terms``), compared as *sets*;
markdown link targets, URLs and ``[n]`` markers are removed first. Recall = share of
the answer's terms the reply contains, precision = share of the reply's terms in
the answer, F1 per question, all three averaged over questions (macro).

    .venv/bin/python bench/answer_quality.py [--limit 160]

Writes the "answer-quality" section of docs/benchmarks.md (``--no-write`` to only print).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import (  # noqa: E402
    answer_terms,
    machine_line,
    replace_section,
    reply_prf,
    require_data,
    terms_prf,
)
from support_core.adapters.embedding_cache import CachedEmbedder  # noqa: E402
from support_core.answer_select import (  # noqa: E402
    PASSAGE_HITS,
    WORD_BUDGET,
    select_passage,
    units_of,
)
from support_core.confidence import best_hits  # noqa: E402
from support_core.config import Settings  # noqa: E402
from support_core.kb.evaluation import load_corpus  # noqa: E402
from support_core.responder import GroundedComposer  # noqa: E402
from support_core.wiring import build_service  # noqa: E402

DATA = "wixqa_expert_sample"
QUERIES = "queries_expertwritten_sample160.jsonl"
Scores = dict[str, list[tuple[float, float, float]]]
SPAN_HITS = "ceiling: best quote in the top 3 hits (hindsight)"
SPAN_GOLD = "ceiling: best quote in the gold article (hindsight)"


def best_span(texts: Sequence[str], reference: str, budget: int = WORD_BUDGET
              ) -> tuple[float, float, float]:
    """The best (F1) contiguous run of units, at most ``budget`` words (a longer single unit
    alone is allowed), scored as replies are: the upper bound of any quote of this text."""
    want = answer_terms(reference)
    terms = [answer_terms(t) for t in texts]
    words = [len(t.split()) for t in texts]
    best = (0.0, 0.0, 0.0)
    for i in range(len(texts)):
        got: set[str] = set()
        size = 0
        for j in range(i, len(texts)):
            size += words[j]
            if j > i and size > budget:
                break
            got |= terms[j]
            best = max(best, terms_prf(got, want), key=lambda prf: prf[2])
    return best


def best_quote(chunks: Sequence[str], reference: str) -> tuple[float, float, float]:
    """``best_span`` over each chunk's units, the best chunk's."""
    spans = [best_span([u.text for u in units_of(text)], reference) for text in chunks]
    return max(spans, key=lambda prf: prf[2], default=(0.0, 0.0, 0.0))


def run(limit: int | None, cache_dir: Path | None = None,
        units: bool = True) -> tuple[Scores, dict[str, float]]:
    data = require_data(DATA) / DATA
    rows = [json.loads(x) for x in (data / QUERIES).read_text(encoding="utf-8").splitlines()
            if x.strip()][:limit]
    scores: Scores = {
        "pipeline reply": [], "top chunk pasted": [], "lexical composer": [],
        "pipeline reply, answered questions only": [],
        "top chunk pasted, same answered questions": [],
        "passage selection on the top hits, ignoring abstention": [],
        SPAN_HITS: [], SPAN_GOLD: []}
    stats: dict[str, list[float]] = {"words": [], "ms": [], "answered": [], "hit1": []}
    with tempfile.TemporaryDirectory(prefix="deskpilot-answers-") as tmp:
        settings = Settings(data_dir=Path(tmp), chroma_url=None, redis_url=None,
                            database_url=None)
        svc = build_service(settings)
        if cache_dir is not None:  # re-runs embed nothing; the index time is then a warm cache
            inner = getattr(svc.kb.embedder, "inner", svc.kb.embedder)
            svc.kb.embedder = CachedEmbedder(inner, cache_dir / "embedding_cache.db")
        if not units:  # a KB built before passage units were stored: embedded per question
            svc.kb.unit_texts = None
        started = time.perf_counter()
        corpus = load_corpus(data / "corpus.jsonl")
        texts = {a.article_id: a.text for a in corpus}
        svc.kb.ingest_articles(corpus)
        index_s = time.perf_counter() - started
        pipeline = svc.pipeline
        lexical = GroundedComposer(answerable_threshold=settings.confidence_floor)
        stored = getattr(svc.kb, "unit_vectors", None)
        following = getattr(svc.kb, "next_chunk", None)
        for i, row in enumerate(rows):
            t0 = time.perf_counter()
            result = pipeline.process_message(f"answers-{i}", "s1", row["query"])
            stats["ms"].append((time.perf_counter() - t0) * 1000)
            ticket, answer = result.ticket, row["answer"]
            draft = ticket.draft
            reply = draft.text if draft is not None else result.message
            hits = ticket.retrieved
            scores["pipeline reply"].append(reply_prf(reply, answer))
            scores["top chunk pasted"].append(reply_prf(hits[0].text if hits else "", answer))
            scores["lexical composer"].append(
                reply_prf(lexical.compose(row["query"], hits).text, answer))
            if draft is not None and draft.answered:
                scores["pipeline reply, answered questions only"].append(scores[
                    "pipeline reply"][-1])
                scores["top chunk pasted, same answered questions"].append(scores[
                    "top chunk pasted"][-1])
            passage = select_passage(row["query"], hits, svc.kb.embedder, stored,
                                     following=following)
            scores["passage selection on the top hits, ignoring abstention"].append(
                reply_prf(passage.text if passage else "", answer))
            scores[SPAN_HITS].append(best_quote(
                [h.text for h in best_hits(hits, PASSAGE_HITS)], answer))
            scores[SPAN_GOLD].append(best_quote(
                [texts[g] for g in row.get("gold_ids") or [] if g in texts], answer))
            stats["words"].append(len(reply.split()))
            stats["answered"].append(float(bool(draft and draft.answered)))
            cited = draft.sources[0].article_id if draft and draft.sources else None
            stats["hit1"].append(float(cited in set(row.get("gold_ids") or [])))
    summary = {
        "index_s": index_s, "n": len(rows),
        "median_words": statistics.median(stats["words"]) if rows else 0.0,
        "p50_ms": statistics.median(stats["ms"]) if rows else 0.0,
        "answered": statistics.fmean(stats["answered"]) if rows else 0.0,
        "hit1": statistics.fmean(stats["hit1"]) if rows else 0.0,
    }
    return scores, summary


def report(scores: Scores, summary: dict[str, float], total_s: float) -> str:
    lines = [
        "## Answer quality (reply vs expert answer)", "",
        machine_line("bench/answer_quality.py"), "",
        f"Data: {DATA} ({summary['n']:.0f} expert-written questions, public WixQA), each "
        "through the full pipeline as a new customer; the other rows use the same retrieved "
        "hits. Content-word sets (lowercase, stopwords out, Snowball stems, links and [n] "
        "markers removed), macro-averaged.", "",
        "| reply | recall | precision | F1 |", "|---|---:|---:|---:|",
    ]
    for name, values in scores.items():
        if values:
            r, p, f = (statistics.fmean(v[k] for v in values) for k in range(3))
            lines.append(f"| {name} | {r:.3f} | {p:.3f} | {f:.3f} |")
    lines += [
        "",
        f"Pipeline replies: {summary['answered']:.0%} answered, median "
        f"{summary['median_words']:.0f} words, first cited source is a gold article in "
        f"{summary['hit1']:.0%}; median "
        f"{summary['p50_ms']:.0f} ms per message (all stages, incl. storage). Index build "
        f"{summary['index_s']:.0f} s; total run {total_s:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep the embedding cache here between runs (default: a fresh one)")
    parser.add_argument("--no-units", action="store_true",
                        help="store no passage units at ingest (the query-time fallback)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    scores, summary = run(args.limit, args.cache_dir, units=not args.no_units)
    text = report(scores, summary, time.perf_counter() - started)
    print(text)
    if not args.no_write:
        replace_section("answer-quality", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
