"""Fit the calibrated confidence model (``support_core/calibrated_confidence.py``).

Training data is synthetic and never TechQA (kept blind for ``bench/abstention.py``):
every answerable question of WixQA (expert sample) and MTRAG-UN (FiQA, ClapNQ; the turn's
own text) is scored twice, once against the full index (answerable) and once with its gold
articles deleted from the index (unanswerable). Gold articles are deleted fold by fold
(``--fold`` questions at a time, their golds together) and re-ingested afterwards.

The model is a logistic regression whose weights are constrained non-negative (each
feature should only raise confidence), fitted by L-BFGS-B with a small L2 penalty, classes
weighted equally. The operating threshold is the probability with the best balanced
accuracy on the training rows. Writes ``support_core/models_data/abstention.json``.

    .venv/bin/python bench/train_abstention.py --cache-dir /tmp/abstain-cache
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support_core.adapters.embedding_cache import CachedEmbedder  # noqa: E402
from support_core.calibrated_confidence import FEATURES, MODEL_PATH, features  # noqa: E402
from support_core.config import Settings  # noqa: E402
from support_core.kb.evaluation import load_corpus  # noqa: E402
from support_core.wiring import build_knowledge_base  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SETS = (  # (name, corpus, queries)
    ("wixqa", "wixqa_expert_sample/corpus.jsonl",
     "wixqa_expert_sample/queries_expertwritten_sample160.jsonl"),
    ("mtragun-fiqa", "mtragun_fiqa_clapnq/corpus_fiqa.jsonl",
     "mtragun_fiqa_clapnq/queries_fiqa.jsonl"),
    ("mtragun-clapnq", "mtragun_fiqa_clapnq/corpus_clapnq.jsonl",
     "mtragun_fiqa_clapnq/queries_clapnq.jsonl"),
)
L2 = 1e-3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help="embedding cache folder")
    parser.add_argument("--rows", type=Path, default=None,
                        help="feature rows (jsonl): reused if present, else written there")
    parser.add_argument("--fold", type=int, default=10, help="questions per gold deletion")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    if args.rows is not None and args.rows.exists():
        rows = [json.loads(x) for x in args.rows.read_text().splitlines() if x.strip()]
    else:
        rows = [r for name, corpus, queries in SETS
                for r in score_set(name, DATA / corpus, DATA / queries, args)]
        if args.rows is not None:
            args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = fit(rows)
    model["trained_on"] = {
        "script": "bench/train_abstention.py",
        "data": [f"../shared/data/{q}" for _, _, q in SETS],
        "rows": {"answerable": sum(r["label"] for r in rows),
                 "unanswerable (gold deleted)": sum(1 - r["label"] for r in rows)},
        "retrieval_k": Settings().retrieval_k, "embedding_model": Settings().embedding_model,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, indent=2) + "\n")
    print(json.dumps(model, indent=2))
    return 0


def score_set(name: str, corpus: Path, queries: Path, args: argparse.Namespace
              ) -> list[dict[str, Any]]:
    articles = load_corpus(corpus)
    by_id = {a.article_id: a for a in articles}
    rows = [json.loads(x) for x in queries.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if "UNANSWERABLE" not in (r.get("answerability") or [])
            and "UNDERSPECIFIED" not in (r.get("answerability") or [])
            and {str(g) for g in r.get("gold_ids") or []} & set(by_id)]
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="deskpilot-train-abstention-") as tmp:
        settings = Settings(data_dir=Path(tmp), chroma_url=None)
        kb = build_knowledge_base(settings)
        if args.cache_dir is not None:
            inner = getattr(kb.embedder, "inner", kb.embedder)
            kb.embedder = CachedEmbedder(inner, args.cache_dir / "embedding_cache.db")
        t0 = time.perf_counter()
        kb.ingest_articles(articles)
        print(f"{name}: {len(articles)} articles indexed in {time.perf_counter() - t0:.0f} s, "
              f"{len(rows)} answerable questions", file=sys.stderr)

        def row_features(query: str) -> dict[str, float]:
            hits = kb.search(query, k=settings.retrieval_k)
            return features(query, hits, embedder=kb.embedder, units=kb.unit_vectors,
                            idf=kb.term_idf())

        for r in rows:
            out.append({"set": name, "id": r["id"], "label": 1, **row_features(r["query"])})
        for start in range(0, len(rows), args.fold):
            fold = rows[start:start + args.fold]
            gold = sorted({str(g) for r in fold for g in r["gold_ids"]} & set(by_id))
            for article_id in gold:
                kb.delete_article(article_id)
            for r in fold:
                out.append({"set": name, "id": r["id"], "label": 0,
                            **row_features(r["query"])})
            kb.ingest_articles([by_id[a] for a in gold])
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def fit(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    x = np.array([[r[f] for f in FEATURES] for r in rows], dtype=np.float64)
    y = np.array([r["label"] for r in rows], dtype=np.float64)
    w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))  # classes weigh the same

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        p = 1 / (1 + np.exp(-z))
        eps = 1e-12
        value = -np.mean(w * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
        value += L2 * float(theta[:-1] @ theta[:-1])
        grad_z = w * (p - y) / len(y)
        grad = np.concatenate([x.T @ grad_z + 2 * L2 * theta[:-1], [grad_z.sum()]])
        return value, grad

    bounds = [(0.0, None)] * len(FEATURES) + [(None, None)]
    result = minimize(loss, np.zeros(len(FEATURES) + 1), jac=True, method="L-BFGS-B",
                      bounds=bounds)
    theta = result.x
    p = 1 / (1 + np.exp(-(x @ theta[:-1] + theta[-1])))
    threshold, best = 0.5, -1.0
    for t in np.unique(np.round(p, 4)):
        bal = (np.mean(p[y == 1] >= t) + np.mean(p[y == 0] < t)) / 2
        if bal > best:
            threshold, best = float(t), float(bal)
    pos, neg = p[y == 1], p[y == 0]
    train_auc = float(((pos[:, None] > neg[None, :]).sum()
                       + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))
    return {
        "features": list(FEATURES),
        "weights": {f: round(float(v), 6) for f, v in zip(FEATURES, theta[:-1], strict=True)},
        "bias": round(float(theta[-1]), 6),
        "threshold": round(threshold, 4),
        "training_fit": {"balanced_accuracy": round(best, 4), "auc": round(train_auc, 4),
                         "answerable_refused": round(float(np.mean(pos < threshold)), 4),
                         "unanswerable_caught": round(float(np.mean(neg < threshold)), 4)},
    }


if __name__ == "__main__":
    sys.exit(main())
