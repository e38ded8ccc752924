"""Passage selection for the composer: whole step blocks, the answering unit over a lexical
look-alike, one article per reply, no source list in the body. Real local embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest

from support_core.answer_select import select_passage, units_of
from support_core.models import SOURCES_HEADING, SearchHit
from support_core.ports import Embedder
from support_core.responder import GroundedComposer

STEPS = """## Export your data

Exports include every project and comment.

1. Open **Settings → Data**.
2. Click **Export** and choose CSV or JSON.
   - Large workspaces are split into several files.
3. Download the archive from the email we send you.

Exports are kept for 7 days."""

# Both paragraphs share "password", "reset", "email" with the question; only one answers it.
PASSWORD = (
    "Password reset emails are sent from no-reply@example.com and can be found by searching "
    "your inbox for the word password. "
    "Admins can force a password reset for every member of the workspace from the security page. "
    "If the reset email never arrives, check your spam folder and add our address to your "
    "contacts, then request the reset email again."
)
BILLING = (
    "Invoices are emailed to the billing contact on the first day of each month. "
    "You can change the billing contact under Settings, Billing."
)


def make_hit(article: str, title: str, text: str, fused: float, rank: int) -> SearchHit:
    return SearchHit(chunk_id=f"{article}:0", article_id=article, title=title, text=text,
                     heading_path=[title], dense_score=0.6, bm25_score=5.0, dense_rank=rank,
                     bm25_rank=rank, fused_score=fused)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    from support_core.config import Settings
    from support_core.wiring import build_embedder

    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("emb"))  # type: ignore[call-arg]
    return build_embedder(settings, cached=False)


def test_numbered_steps_stay_one_unit_with_their_nested_lines() -> None:
    units = units_of(STEPS)
    steps = [u for u in units if u.steps]
    assert len(steps) == 1
    assert steps[0].text.startswith("1. Open") and steps[0].text.endswith("you.")
    assert "   - Large workspaces are split into several files." in steps[0].text
    assert not any("Large workspaces" in u.text for u in units if not u.steps)


def test_steps_block_is_quoted_whole(embedder: Embedder) -> None:
    hits = [make_hit("export", "Export your data", STEPS, 0.03, 1),
            make_hit("billing", "Invoices", BILLING, 0.02, 2),
            make_hit("password", "Reset your password", PASSWORD, 0.01, 3)]
    passage = select_passage("How do I export my data as CSV?", hits, embedder)
    assert passage is not None and passage.steps
    draft = GroundedComposer(embedder=embedder).compose("How do I export my data as CSV?", hits)
    block = STEPS[STEPS.index("1. Open"):STEPS.index("\n\nExports are kept")]
    assert block in draft.text


def test_answering_unit_beats_lexically_similar_distractor(embedder: Embedder) -> None:
    question = "I never got the password reset email, what should I do?"
    hits = [make_hit("password", "Reset your password", PASSWORD, 0.03, 1)]
    passage = select_passage(question, hits, embedder)
    assert passage is not None
    assert passage.anchor.startswith("If the reset email never arrives")
    assert passage.anchor in passage.text


def test_no_text_from_a_second_article_is_spliced_in(embedder: Embedder) -> None:
    question = "When is the invoice emailed and how do I reset my password?"
    hits = [make_hit("password", "Reset your password", PASSWORD, 0.03, 1),
            make_hit("billing", "Invoices", BILLING, 0.029, 2)]
    for composer in (GroundedComposer(embedder=embedder), GroundedComposer()):
        draft = composer.compose(question, hits)
        assert draft.answered and len(draft.sources) == 1
        other = BILLING if draft.sources[0].article_id == "password" else PASSWORD
        for sentence in other.split(". "):
            assert sentence.rstrip(".") not in draft.text


def test_reply_has_no_sources_list(embedder: Embedder) -> None:
    hits = [make_hit("password", "Reset your password", PASSWORD, 0.03, 1),
            make_hit("billing", "Invoices", BILLING, 0.029, 2)]
    draft = GroundedComposer(embedder=embedder).compose(
        "The password reset email never arrives", hits)
    assert draft.answered
    assert SOURCES_HEADING not in draft.text and "Sources:" not in draft.text
    assert draft.text.count("[1]") == 1 and "[2]" not in draft.text
    assert "Reset your password" not in draft.text  # the title is in draft.sources, not the body


def test_lexical_fallback_without_embedder_still_quotes(tmp_path: Path) -> None:
    hits = [make_hit("password", "Reset your password", PASSWORD, 0.03, 1)]
    passage = select_passage("Can admins force a password reset for members?", hits, None)
    assert passage is not None and passage.anchor.startswith("Admins can force")
