"""KnowledgeBase with the real local model, real Chroma and real SQLite in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support_core.adapters.chroma_store import ChromaStore
from support_core.adapters.embedding_cache import CachedEmbedder
from support_core.adapters.embeddings_local import LocalEmbedder
from support_core.errors import BackendUnavailable, IngestError, NotFound
from support_core.kb.knowledge_base import KnowledgeBase, expand_paths
from support_core.models import Article, IngestStatus
from support_core.wiring import build_knowledge_base
from tests.conftest import SAMPLE_KB, make_settings
from tests.embedders import CountingEmbedder

pytestmark = pytest.mark.slow


@pytest.fixture
def counting(local_embedder: LocalEmbedder) -> CountingEmbedder:
    return CountingEmbedder(local_embedder)


@pytest.fixture
def kb(tmp_path: Path, counting: CountingEmbedder) -> KnowledgeBase:
    settings = make_settings(tmp_path, chunk_size=300, chunk_overlap=40)
    embedder = CachedEmbedder(counting, settings.embedding_cache_path)
    return KnowledgeBase(settings, embedder, ChromaStore.from_settings(settings))


def art(
    article_id: str, title: str, text: str, category: str = "billing", product: str = "app"
) -> Article:
    return Article(
        article_id=article_id, title=title, text=text, category=category, product=product
    )


def sections(n: int, topic: str) -> str:
    body = f"This section explains one part of {topic} in enough detail to stand on its own. " * 3
    return "\n\n".join(f"## Part {i}\n\n{body}" for i in range(n))


def stored_ids(kb: KnowledgeBase, article_id: str) -> set[str]:
    return {row[0] for row in kb.store.get(where={"article_id": article_id})}


REFUND = art(
    "refund", "Request a refund", "Open Billing, choose the invoice and click Request refund."
)
RESET = art(
    "reset",
    "Reset your password",
    "Click Forgot password on the sign-in page; we email a reset link valid for 30 minutes.",
    category="account",
    product="web",
)


def test_ingest_adds_chunks_and_registry_row(kb: KnowledgeBase) -> None:
    result = kb.ingest_article(art("guide", "Billing guide", sections(4, "billing")))
    assert result.status is IngestStatus.ADDED and result.chunks >= 3
    assert stored_ids(kb, "guide") == {f"guide:{i}" for i in range(result.chunks)}
    [info] = kb.list_articles()
    assert (info.article_id, info.title, info.chunks) == ("guide", "Billing guide", result.chunks)
    assert info.ingested_at
    chunks = kb.get_chunks("guide")
    assert [c.position for c in chunks] == list(range(result.chunks))
    assert chunks[0].heading_path == ["Part 0"] and chunks[0].title == "Billing guide"


def test_unchanged_reingest_embeds_nothing(kb: KnowledgeBase, counting: CountingEmbedder) -> None:
    kb.ingest_article(art("guide", "Billing guide", sections(3, "billing")))
    before = counting.texts
    again = kb.ingest_article(art("guide", "Billing guide", sections(3, "billing")))
    assert again.status is IngestStatus.UNCHANGED
    assert counting.texts == before
    assert again.chunks == len(stored_ids(kb, "guide"))


def test_shrunk_article_leaves_no_stale_chunks(kb: KnowledgeBase) -> None:
    first = kb.ingest_article(art("guide", "Billing guide", sections(6, "billing")))
    second = kb.ingest_article(art("guide", "Billing guide", sections(2, "refunds")))
    assert second.status is IngestStatus.UPDATED
    assert second.chunks < first.chunks
    assert stored_ids(kb, "guide") == {f"guide:{i}" for i in range(second.chunks)}
    assert kb.store.count() == second.chunks
    assert all("refunds" in c.text for c in kb.get_chunks("guide"))
    assert kb.list_articles()[0].chunks == second.chunks


def test_metadata_change_counts_as_update(kb: KnowledgeBase) -> None:
    kb.ingest_article(REFUND)
    moved = kb.ingest_article(REFUND.model_copy(update={"category": "Account"}))
    assert moved.status is IngestStatus.UPDATED
    assert kb.categories() == ["account"]
    assert kb.search("request refund", category="account")[0].article_id == "refund"


def test_cache_makes_reingest_after_delete_free(
    kb: KnowledgeBase, counting: CountingEmbedder
) -> None:
    kb.ingest_article(REFUND)
    kb.delete_article("refund")
    before = counting.texts
    assert kb.ingest_article(REFUND).status is IngestStatus.ADDED
    assert counting.texts == before


def test_delete_removes_chunks_and_registry(kb: KnowledgeBase) -> None:
    kb.ingest_articles([REFUND, RESET])
    kb.delete_article("refund")
    assert stored_ids(kb, "refund") == set()
    assert [a.article_id for a in kb.list_articles()] == ["reset"]
    assert all(h.article_id == "reset" for h in kb.search("refund invoice", k=5))
    with pytest.raises(NotFound):
        kb.delete_article("refund")


def test_empty_article_is_refused(kb: KnowledgeBase) -> None:
    with pytest.raises(IngestError):
        kb.ingest_article(art("empty", "Empty", "   "))


def test_search_hit_fields(kb: KnowledgeBase) -> None:
    kb.ingest_articles([REFUND, RESET])
    hit = kb.search("how do I reset my password", k=1)[0]
    assert (hit.article_id, hit.title, hit.category, hit.product) == (
        "reset",
        "Reset your password",
        "account",
        "web",
    )
    assert hit.dense_rank == 1 and hit.bm25_rank == 1
    assert 0.3 < (hit.dense_score or 0) <= 1.0 and (hit.bm25_score or 0) > 0
    assert hit.fused_score == pytest.approx(1.0)  # the best article on both retrievers
    kb.settings.fusion = "rrf"
    hit = kb.search("how do I reset my password", k=1)[0]
    assert hit.fused_score == pytest.approx(2 * 1.0 / (kb.settings.rrf_k + 1))


PRINTER = art(
    "printer",
    "Printer help",
    "## Paper stuck in the printer\n\nWhen a sheet gets stuck halfway through printing, open "
    "the rear tray, pull the crumpled page out gently and close the tray before you print "
    "again.\n\n## Panel codes\n\nCode 7731 on the panel means the firmware is outdated. "
    "Code 7731 goes away after installing the latest firmware from the downloads page; 7731 "
    "never affects paper handling.",
)
WIFI = art("wifi", "Wi-Fi setup", "Join the printer to Wi-Fi from its settings menu.")
SPLIT_QUERY = "A sheet of paper is stuck halfway inside and the panel says 7731"


def test_article_hit_carries_best_ranks_of_all_its_chunks(kb: KnowledgeBase) -> None:
    """Dense and BM25 put different chunks of one article first: its hit shows both rank 1."""
    kb.ingest_articles([PRINTER, WIFI])
    assert len(kb.get_chunks("printer")) == 2
    dense_top = kb.search(SPLIT_QUERY, mode="dense", k=1)[0]
    keyword_top = kb.search(SPLIT_QUERY, mode="bm25", k=1)[0]
    assert dense_top.article_id == keyword_top.article_id == "printer"
    assert dense_top.chunk_id != keyword_top.chunk_id  # the situation under test
    hit = kb.search(SPLIT_QUERY, k=1)[0]
    assert (hit.article_id, hit.dense_rank, hit.bm25_rank) == ("printer", 1, 1)
    assert hit.dense_score == pytest.approx(dense_top.dense_score)
    assert hit.bm25_score == pytest.approx(keyword_top.bm25_score)


def test_search_and_search_articles_share_one_ranking(kb: KnowledgeBase) -> None:
    kb.ingest_articles([PRINTER, WIFI, REFUND, RESET, art("long", "Handbook", sections(3, "tray"))])
    for query in (SPLIT_QUERY, "refund my invoice", "tray"):
        ranked = kb.search_articles(query, k=5)
        hits = kb.search(query, k=5)
        assert [a for a, _ in ranked] == [h.article_id for h in hits[: len(ranked)]]
        assert [s for _, s in ranked] == [h.fused_score for h in hits[: len(ranked)]]


def test_each_article_first_then_more_of_the_same(kb: KnowledgeBase) -> None:
    kb.ingest_articles([art("long", "Refund handbook", sections(5, "refunds")), REFUND, RESET])
    hits = kb.search("refunds", k=6)
    assert len({h.article_id for h in hits[:3]}) == 3
    assert [h.article_id for h in hits[3:]] == ["long"] * 3
    fused = [h.fused_score for h in hits[:3]]
    assert hits == kb.search("refunds", k=6)  # deterministic
    assert fused[0] >= max(fused[1:])


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_filters_apply_to_every_retriever(kb: KnowledgeBase, mode: str) -> None:
    noise = [
        art(f"bill{i}", f"Refund case {i}", f"Refund refund refund invoice number {i}.")
        for i in range(8)
    ]
    kb.ingest_articles([*noise, RESET.model_copy(update={"text": RESET.text + " No refund."})])
    kb.settings.retrieval_candidates = 5  # fewer candidates than billing articles
    hits = kb.search("refund", category="account", k=3, mode=mode)  # type: ignore[arg-type]
    assert [h.article_id for h in hits] == ["reset"]
    assert kb.search("refund", product="web", k=3, mode=mode)[0].article_id == "reset"  # type: ignore[arg-type]
    assert kb.search("refund", category="account", product="app", mode=mode) == []  # type: ignore[arg-type]
    for hit in kb.search("refund", category="billing", k=5, mode=mode):  # type: ignore[arg-type]
        assert hit.category == "billing"


def test_modes_fill_only_their_own_scores(kb: KnowledgeBase) -> None:
    kb.ingest_articles([REFUND, RESET])
    dense = kb.search("password", mode="dense")[0]
    keyword = kb.search("password", mode="bm25")[0]
    assert dense.bm25_rank is None and dense.dense_rank == 1
    assert keyword.dense_rank is None and keyword.bm25_rank == 1
    assert kb.search("   ") == []
    assert kb.search("zzzqqq", mode="bm25") == []


def test_search_articles_ranks_articles_by_best_chunk(kb: KnowledgeBase) -> None:
    kb.ingest_articles([REFUND, RESET, art("long", "Refund handbook", sections(4, "refunds"))])
    ranked = kb.search_articles("refunds", k=3)
    assert len(ranked) == 3 and len({a for a, _ in ranked}) == 3
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_ingest_paths_survives_bad_files_and_reports_progress(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "good.md").write_text("---\ncategory: billing\n---\n# Refunds\n\nAsk for a refund.")
    (folder / "empty.txt").write_text("")
    (folder / "README.md").write_text("# About this folder")
    (folder / "image.png").write_bytes(b"\x89PNG")
    calls: list[tuple[int, int, str]] = []
    results = kb.ingest_paths(
        [folder, tmp_path / "missing.md"], product="App", progress=lambda *a: calls.append(a)
    )
    statuses = [(Path(r.source).name, r.status) for r in results]
    assert statuses == [
        ("empty.txt", IngestStatus.FAILED),
        ("good.md", IngestStatus.ADDED),
        ("missing.md", IngestStatus.FAILED),
    ]
    assert "empty.txt" in (results[0].error or "")
    assert calls[0][:2] == (0, 3) and calls[-1][:2] == (3, 3)
    assert kb.products() == ["app"] and kb.categories() == ["billing"]


def test_upload_over_the_limit_is_refused(kb: KnowledgeBase) -> None:
    kb.settings.max_upload_mb = 1
    result = kb.ingest_upload("big.txt", b"a" * (1024 * 1024 + 1))
    assert result.status is IngestStatus.FAILED and "1 MB" in (result.error or "")
    ok = kb.ingest_upload("faq.md", b"# Refunds\n\nAsk for a refund.", category="billing")
    assert ok.status is IngestStatus.ADDED and kb.categories() == ["billing"]


def test_expand_paths_is_sorted_and_skips_hidden_files(tmp_path: Path) -> None:
    for name in ("b.md", "a.txt", ".hidden.md", "sub/c.html", "notes.docx"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    names = [p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path])]
    assert names == ["a.txt", "b.md", "sub/c.html"]


def test_chroma_store_returns_similarity(tmp_path: Path, local_embedder: LocalEmbedder) -> None:
    store = ChromaStore.from_settings(make_settings(tmp_path))
    vectors = local_embedder.embed(["refund my invoice", "reset my password"])
    store.upsert(["a", "b"], vectors, ["refund", "reset"], [{"k": 1}, {"k": 2}])
    top = store.query(vectors[0], 2)
    assert top[0][0] == "a" and top[0][1] == pytest.approx(1.0, abs=1e-4)
    assert top[1][1] < top[0][1]
    assert store.query(vectors[0], 2, where={"k": 2})[0][0] == "b"


def test_chroma_store_filters_on_every_key_of_where(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    """The port's ``where`` is plain equality on each key; the adapter speaks Chroma's ``$and``."""
    store = ChromaStore.from_settings(make_settings(tmp_path))
    vectors = local_embedder.embed(["refund my invoice", "refund my order", "reset my password"])
    metas = [{"category": "billing", "product": "web"}, {"category": "billing", "product": "app"},
             {"category": "account", "product": "web"}]
    store.upsert(["a", "b", "c"], vectors, ["x", "y", "z"], metas)
    both = {"category": "billing", "product": "app"}
    assert [i for i, _ in store.query(vectors[0], 3, where=both)] == ["b"]
    assert sorted(i for i, _, _ in store.get(where={"product": "web"})) == ["a", "c"]
    store.delete(where=both)
    assert sorted(i for i, _, _ in store.get()) == ["a", "c"]


def test_local_embedder_vectors_are_normalised(local_embedder: LocalEmbedder) -> None:
    vectors = local_embedder.embed(["one", "two words", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local_embedder.embed([]).shape == (0, 384)


def test_unknown_model_name_is_refused_without_download() -> None:
    with pytest.raises(BackendUnavailable, match="not available offline"):
        LocalEmbedder("some-org/some-model-that-is-not-here")


def test_build_knowledge_base_uses_settings(tmp_path: Path) -> None:
    kb = build_knowledge_base(make_settings(tmp_path))
    assert kb.embedder.name == "local:all-minilm-l6-v2"
    kb.ingest_article(REFUND)
    assert (tmp_path / "chroma").is_dir() and (tmp_path / "embedding_cache.db").is_file()


@pytest.mark.skipif(not SAMPLE_KB.is_dir(), reason="sample KB not present")
def test_sample_kb_answers_its_own_questions(sample_kb: KnowledgeBase) -> None:
    top = sample_kb.search("How do I get my money back for an annual plan?", k=3)
    assert any("refund" in h.title.lower() for h in top)
    assert sample_kb.search("reset password", category="account")[0].category == "account"
    assert {a.category for a in sample_kb.list_articles()} >= {"billing", "api", "account"}


class FakeEmbeddingsAPI:
    """Stands in for the network: answers like the OpenAI API, out of order on purpose."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.batches: list[list[str]] = []
        self.embeddings = self

    def create(self, *, model: str, input: list[str]):  # type: ignore[no-untyped-def]  # noqa: A002
        from types import SimpleNamespace

        import openai

        if self.fail:
            raise openai.APIConnectionError(request=None)  # type: ignore[arg-type]
        self.batches.append(list(input))
        rows = [SimpleNamespace(index=i, embedding=[len(t), 1.0, 0.0]) for i, t in enumerate(input)]
        return SimpleNamespace(data=list(reversed(rows)))


def test_openai_embedder_batches_orders_and_normalises(tmp_path: Path) -> None:
    from support_core.adapters.embeddings_openai import OpenAIEmbedder

    api = FakeEmbeddingsAPI()
    settings = make_settings(tmp_path, embedding_backend="openai", embedding_batch_size=2)
    embedder = OpenAIEmbedder(settings, client=api)
    vectors = embedder.embed(["a", "bbb", "", "cc", "d"])
    assert [len(b) for b in api.batches] == [2, 2, 1]
    assert api.batches[1][0] == " "  # empty strings are not sent as such
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[1][0] > vectors[0][0]  # row order follows input order, not the reply's


def test_openai_failure_is_backend_unavailable(tmp_path: Path) -> None:
    from support_core.adapters.embeddings_openai import OpenAIEmbedder

    settings = make_settings(tmp_path, embedding_backend="openai")
    embedder = OpenAIEmbedder(settings, client=FakeEmbeddingsAPI(fail=True))
    with pytest.raises(BackendUnavailable, match="embedding service failed"):
        embedder.embed_query("hello")


def test_query_vectors_stay_in_memory_not_on_disk(tmp_path) -> None:
    """Customer messages must not pile up in the on-disk embedding cache."""
    import sqlite3

    import numpy as np

    from support_core.adapters.embedding_cache import CachedEmbedder

    class Counting:
        name = "counting"
        calls = 0

        def embed(self, texts):  # type: ignore[no-untyped-def]
            return np.ones((len(texts), 3), dtype=np.float32)

        def embed_query(self, text):  # type: ignore[no-untyped-def]
            Counting.calls += 1
            return np.ones(3, dtype=np.float32)

    cache = CachedEmbedder(Counting(), tmp_path / "cache.db")
    cache.embed_query("my card was charged twice")
    cache.embed_query("my card was charged twice")
    assert Counting.calls == 1
    rows = sqlite3.connect(tmp_path / "cache.db").execute("SELECT count(*) FROM vectors").fetchone()
    assert rows == (0,)
