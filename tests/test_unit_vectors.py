"""Passage-unit vectors stored at ingest: replaced with their article, deleted with it, and
interchangeable with query-time embedding. Real local model, real Chroma and SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support_core.adapters.chroma_store import ChromaStore
from support_core.adapters.embeddings_local import LocalEmbedder
from support_core.answer_select import select_passage, unit_texts, units_key
from support_core.kb.knowledge_base import KnowledgeBase
from support_core.models import Article, SearchHit
from tests.conftest import make_settings
from tests.embedders import CountingEmbedder

pytestmark = pytest.mark.slow


def make_kb(tmp_path: Path, embedder: object, **kwargs: object) -> KnowledgeBase:
    settings = make_settings(tmp_path, chunk_size=300, chunk_overlap=40)
    return KnowledgeBase(settings, embedder, ChromaStore.from_settings(settings),  # type: ignore[arg-type]
                         **kwargs)  # type: ignore[arg-type]


def sections(n: int, topic: str) -> str:
    body = (f"This section explains one part of {topic} in enough detail to stand alone. "
            f"Open the {topic} page and follow the prompts to finish. ") * 2
    return "\n\n".join(f"## Part {i}\n\n{body}" for i in range(n))


def guide(n: int, topic: str) -> Article:
    return Article(article_id="guide", title="Billing guide", text=sections(n, topic))


def assert_units_match_chunks(kb: KnowledgeBase, article_id: str) -> None:
    """Every stored chunk has units keyed to its current text, and no other chunk has any."""
    chunks = kb.get_chunks(article_id)
    assert kb.units.article_chunks(article_id) == sorted(c.chunk_id for c in chunks)
    stored = kb.unit_vectors([c.chunk_id for c in chunks])
    for chunk in chunks:
        texts = unit_texts(chunk.title, chunk.heading_path, chunk.text)
        key, matrix = stored[chunk.chunk_id]
        assert key == units_key(texts) and matrix.shape[0] == len(texts)


def test_reingest_replaces_units_and_a_shrunk_article_leaves_none_stale(
    tmp_path: Path, local_embedder: LocalEmbedder
) -> None:
    kb = make_kb(tmp_path, local_embedder)
    first = kb.ingest_article(guide(6, "billing"))
    assert_units_match_chunks(kb, "guide")
    second = kb.ingest_article(guide(2, "refunds"))
    assert second.chunks < first.chunks
    assert_units_match_chunks(kb, "guide")
    assert kb.units.count() == second.chunks
    # the stored vectors are the refunds text's, not the billing text's
    chunk = kb.get_chunks("guide")[0]
    texts = unit_texts(chunk.title, chunk.heading_path, chunk.text)
    _, matrix = kb.unit_vectors([chunk.chunk_id])[chunk.chunk_id]
    assert np.allclose(matrix, local_embedder.embed(texts), atol=1e-4)


def test_delete_article_deletes_its_units(tmp_path: Path, local_embedder: LocalEmbedder) -> None:
    kb = make_kb(tmp_path, local_embedder)
    kb.ingest_articles([guide(3, "billing"),
                        Article(article_id="reset", title="Reset your password",
                                text="Click Forgot password on the sign-in page. We email a "
                                     "reset link that is valid for 30 minutes.")])
    kb.delete_article("guide")
    assert kb.units.article_chunks("guide") == []
    assert kb.units.article_chunks("reset") == ["reset:0"]


QUESTIONS = [
    "How do I rotate my API key?",
    "How long does a refund take?",
    "How do I reset my password?",
    "How do I set up SSO with SAML?",
    "My webhooks fail with WH-104, what should I do?",
    "Can I import my Trello boards?",
]


def test_stored_units_pick_the_same_passage_as_query_time_embedding(
    sample_kb: KnowledgeBase, local_embedder: LocalEmbedder
) -> None:
    counting = CountingEmbedder(local_embedder)
    for question in QUESTIONS:
        hits = sample_kb.search(question, k=5)
        stored = select_passage(question, hits, counting, sample_kb.unit_vectors)
        assert counting.texts == 0  # only the question was embedded
        fresh = select_passage(question, hits, local_embedder, None, embed_units=None)
        assert stored is not None and fresh is not None
        assert (stored.hit.chunk_id, stored.text) == (fresh.hit.chunk_id, fresh.text), question


def test_changed_text_or_old_kb_falls_back_to_query_time_embedding(
    tmp_path: Path, sample_kb: KnowledgeBase, local_embedder: LocalEmbedder
) -> None:
    question = "How do I reset my password?"
    hits = sample_kb.search(question, k=5)
    edited = [h.model_copy(update={"text": h.text + "\n\nContact support if it fails."})
              for h in hits]
    counting = CountingEmbedder(local_embedder)
    passage = select_passage(question, edited, counting, sample_kb.unit_vectors)
    assert passage is not None and counting.texts > 0  # keys differ: nothing stale is used

    old = make_kb(tmp_path, local_embedder, units=None)  # built before units were stored
    old.ingest_article(guide(2, "refunds"))
    assert old.units.count() == 0
    hits = old.search("How do I finish the refunds?", k=3)
    assert select_passage("How do I finish the refunds?", hits, local_embedder,
                          old.unit_vectors) is not None


def test_next_chunk_text_continues_a_section_only(tmp_path: Path,
                                                  local_embedder: LocalEmbedder) -> None:
    """The real chunker splits a long step list; a passage quoting it from the first chunk
    gets every step once, and the lookup never crosses into another section."""
    kb = make_kb(tmp_path, local_embedder)
    steps = "\n".join(f"{i}. Open step {i} of the export wizard and confirm the screen."
                      for i in range(1, 10))
    text = f"## Export\n\n{steps}\n\n## Delete\n\nDeleting a workspace is final after 30 days."
    kb.ingest_article(Article(article_id="wiz", title="Export wizard", text=text))
    chunks = kb.get_chunks("wiz")
    export = [c for c in chunks if c.heading_path[-1] == "Export"]
    assert len(export) >= 2  # the list really was split
    for before, after in zip(export, export[1:], strict=False):
        assert kb.next_chunk(before.chunk_id) == (after.chunk_id, after.text)
    assert kb.next_chunk(export[-1].chunk_id) is None  # "Delete" is another section
    hit = SearchHit(chunk_id=export[0].chunk_id, article_id="wiz", title="Export wizard",
                    text=export[0].text, heading_path=export[0].heading_path,
                    fused_score=0.03)
    passage = select_passage("How do I use the export wizard?", [hit], local_embedder,
                             kb.unit_vectors, following=kb.next_chunk)
    assert passage is not None and passage.steps
    numbers = [int(line.split(".")[0]) for line in passage.text.splitlines()]
    assert numbers == list(range(1, 10))  # every step once, across all the chunks
