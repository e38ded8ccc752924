"""Retrieval evaluation: metric arithmetic, and an end-to-end run on a tiny corpus."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from support_core.kb.evaluation import (
    evaluate_modes,
    evaluate_retrieval,
    fixed_chunker,
    score_rankings,
)
from support_core.models import Article
from tests.conftest import make_settings

ARTICLES = {
    "refund": ("Request a refund", "Open Billing, pick the invoice and click Request refund."),
    "password": (
        "Reset your password",
        "Click Forgot password; the reset link is valid 30 minutes.",
    ),
    "invoice": ("Download invoices", "Invoices are PDF files under Settings, Billing, Invoices."),
    "sso": ("Set up SAML single sign-on", "Enterprise admins connect Okta or Azure AD with SAML."),
    "webhook": ("Webhook retries", "Failed webhook deliveries are retried 8 times over 24 hours."),
    "export": ("Export your data", "Owners can export all projects as JSON from Settings, Data."),
}
QUERIES = [
    ("q1", "I forgot my password, how do I reset it?", ["password"]),
    ("q2", "Where can I download a PDF invoice?", ["invoice"]),
    ("q3", "How do I get my money back?", ["refund"]),
    ("q4", "connect okta saml", ["sso"]),
    ("q5", "Is there a phone number for sales?", []),  # unanswerable: skipped
]


@pytest.mark.parametrize(
    ("ranking", "gold", "expected"),
    [
        (["a", "b", "c"], ["a"], {"recall@1": 1, "recall@5": 1, "mrr@10": 1, "ndcg@10": 1}),
        (
            ["x", "b", "c"],
            ["b"],
            {"recall@1": 0, "recall@5": 1, "mrr@10": 0.5, "ndcg@10": 1 / math.log2(3)},
        ),
        (
            ["a", "x", "b"],
            ["a", "b"],
            {
                "recall@1": 0.5,
                "recall@5": 1,
                "mrr@10": 1,
                "ndcg@10": (1 + 0.5) / (1 + 1 / math.log2(3)),
            },
        ),
        ([f"x{i}" for i in range(10)] + ["a"], ["a"], {"recall@10": 0, "mrr@10": 0, "ndcg@10": 0}),
        ([], ["a"], {"recall@1": 0, "mrr@10": 0}),
    ],
)
def test_metric_arithmetic(ranking: list[str], gold: list[str], expected: dict[str, float]) -> None:
    scores = score_rankings([ranking], [gold])
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value), name
    assert scores["queries"] == 1


def test_metrics_average_over_queries() -> None:
    scores = score_rankings([["a"], ["x", "b"]], [["a"], ["b"]])
    assert scores["mrr@10"] == pytest.approx(0.75)
    assert scores["recall@1"] == pytest.approx(0.5)


def test_fixed_chunker_is_the_plain_seed_baseline() -> None:
    text = "## Heading\n\n" + "word " * 400
    chunks = fixed_chunker(Article(article_id="a", title="Title", text=text))
    assert len(chunks) >= 3 and all(len(c.text) <= 800 for c in chunks)
    assert all(c.title == "" and c.heading_path == [] for c in chunks)
    assert chunks[0].embedding_text() == chunks[0].text


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> tuple[Path, Path]:
    corpus, queries = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl"
    rows = [{"id": k, "title": t, "text": f"{t}\n{body}"} for k, (t, body) in ARTICLES.items()]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    qrows = [{"id": i, "query": q, "gold_ids": g} for i, q, g in QUERIES]
    queries.write_text("\n".join(json.dumps(r) for r in qrows))
    return corpus, queries


def test_bm25_only_evaluation_needs_no_model(
    tiny_corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "app")
    result = evaluate_retrieval(*tiny_corpus, mode="bm25", settings=settings)
    assert (result["queries"], result["skipped"], result["articles"]) == (4, 1, 6)
    assert result["recall@10"] == pytest.approx(0.75)  # "money back" shares no word with refund
    assert not (tmp_path / "app").exists(), "evaluation must never touch the app's data dir"


@pytest.mark.slow
def test_dense_and_hybrid_find_every_answer(tiny_corpus: tuple[Path, Path], tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "app")
    results = evaluate_modes(*tiny_corpus, modes=["dense", "hybrid"], settings=settings)
    for mode in ("dense", "hybrid"):
        metrics = results[mode]
        assert metrics["mode"] == mode and metrics["queries"] == 4
        assert metrics["recall@5"] == 1.0
        assert 0.75 <= metrics["ndcg@10"] <= 1.0
        assert set(metrics) >= {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}
    fixed = evaluate_retrieval(*tiny_corpus, mode="dense", chunker="fixed", settings=settings)
    assert fixed["chunker"] == "fixed" and fixed["recall@5"] == 1.0
    assert not (tmp_path / "app").exists()


def test_the_evaluation_index_is_built_by_the_wiring_in_a_throwaway_dir(
    tiny_corpus: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one wiring point picks the store and the embedder; the evaluation only says where:
    its own temporary directory, embedded, never the app's Chroma server or cache."""
    from support_core import wiring
    from support_core.kb import evaluation

    stores, embedders = [], []
    real_store = wiring.build_vector_store

    def store(settings):  # type: ignore[no-untyped-def]
        stores.append(settings)
        return real_store(settings)

    def embedder(settings, *, cached=True):  # type: ignore[no-untyped-def]
        embedders.append((settings, cached))
        return evaluation._NoEmbedder()  # no model needed to check the wiring

    monkeypatch.setattr(wiring, "build_vector_store", store)
    monkeypatch.setattr(wiring, "build_embedder", embedder)
    settings = make_settings(tmp_path / "app", chroma_url="http://chroma.invalid:1",
                             embedding_model="configured-model")
    result = evaluate_retrieval(*tiny_corpus, mode="dense", settings=settings)
    assert result["queries"] == 4
    assert [s.chroma_url for s in stores] == [None]
    assert stores[0].data_dir != settings.data_dir and not stores[0].data_dir.exists()
    assert [(s.embedding_model, cached) for s, cached in embedders] == [("configured-model", False)]
    assert not (tmp_path / "app").exists()
