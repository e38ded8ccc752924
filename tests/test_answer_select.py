"""Passage selection for the composer: whole step blocks, the answering unit over a lexical
look-alike, one article per reply, no source list in the body. Real local embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest

from support_core.answer_select import answer_first, carried_on, select_passage, units_of
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


# Two sentences of four words or more around one that is too short to be a unit.
CONNECT = (
    "Enter the email address of your PayPal business account. Click Connect. "
    "Sign in to PayPal and follow the on-screen instructions to finish."
)


def test_passage_is_verbatim_and_keeps_sentences_too_short_to_be_units() -> None:
    hits = [make_hit("paypal", "Connect PayPal", CONNECT, 0.03, 1)]
    passage = select_passage("Which email address do I enter to connect PayPal?", hits, None)
    assert passage is not None and passage.anchor.startswith("Enter the email address")
    assert passage.text == CONNECT  # "Click Connect." is not dropped from the middle


def test_passage_does_not_cross_a_heading_into_the_next_section() -> None:
    text = ("## Export\n\nExports include every project and every comment of the workspace.\n\n"
            "## Delete\n\nDeleting a workspace removes every project after thirty days.")
    hits = [make_hit("ws", "Workspaces", text, 0.03, 1)]
    passage = select_passage("What do exports include, every project?", hits, None)
    assert passage is not None and passage.anchor.startswith("Exports include")
    assert "Deleting" not in passage.text and "##" not in passage.text


def chunk_hit(chunk_id: str, text: str) -> SearchHit:
    return SearchHit(chunk_id=chunk_id, article_id=chunk_id.split(":")[0], title="Guide",
                     text=text, heading_path=["Guide"], dense_score=0.6, bm25_score=5.0,
                     dense_rank=1, bm25_rank=1, fused_score=0.03)


def test_prose_cut_by_the_chunker_continues_into_the_next_chunk_without_the_overlap() -> None:
    first = ("Domains bought elsewhere can be connected to your site. "
             "Connecting keeps the domain with its current registrar.")
    second = ("Connecting keeps the domain with its current registrar. "
              "Renewals are then paid to that registrar, not to us.")
    following = {"guide:0": ("guide:1", second)}.get
    hits = [chunk_hit("guide:0", first)]
    question = "Can I connect a domain bought elsewhere to my site?"
    passage = select_passage(question, hits, None, following=following)
    assert passage is not None
    assert passage.text == first + " Renewals are then paid to that registrar, not to us."
    assert select_passage(question, hits, None).text == first  # type: ignore[union-attr]


def test_numbered_step_list_split_over_two_chunks_is_quoted_to_its_last_step() -> None:
    steps = [f"{i}. Step number {i} of exporting the workspace archive." for i in range(1, 7)]
    first = "To export the workspace archive:\n\n" + "\n".join(steps[:4])
    second = "\n".join(steps[3:])  # the chunker repeats step 4 as its overlap
    hits = [chunk_hit("guide:0", first)]
    passage = select_passage("How do I export the workspace archive?", hits, None,
                             following={"guide:0": ("guide:1", second)}.get)
    assert passage is not None
    # every step, once, in order, whether the intro line or the list scored best
    assert passage.text.endswith("\n".join(steps))
    assert all(passage.text.count(step) == 1 for step in steps)
    only_steps = select_passage("Which step comes after step number 1 of exporting?", hits,
                                None, following={"guide:0": ("guide:1", second)}.get)
    assert only_steps is not None and only_steps.steps
    assert only_steps.text == "\n".join(steps)


def test_prose_continues_only_when_nothing_of_its_chunk_is_skipped() -> None:
    first = ("Domains bought elsewhere can be connected to your site. "
             "Connecting keeps the domain with its current registrar. Then click Save.")
    second = "Renewals are then paid to that registrar, not to us."
    passage = select_passage("Can I connect a domain bought elsewhere to my site?",
                             [chunk_hit("guide:0", first)], None,
                             following={"guide:0": ("guide:1", second)}.get)
    assert passage is not None
    assert passage.text == first + " " + second  # "Then click Save." is not skipped


# ------------------------------------------------- the same selection for the LLM path
def test_answer_first_puts_the_quoted_chunk_first_and_keeps_every_hit() -> None:
    hits = [make_hit("billing", "Billing contact", BILLING, 0.033, 1),
            make_hit("password", "Password reset", PASSWORD, 0.032, 2)]
    question = "The password reset email never arrives, what should I check?"
    chosen = select_passage(question, hits, None)
    assert chosen is not None and chosen.hit.article_id == "password"  # not the top hit
    ordered = answer_first(question, hits, None)
    assert [h.article_id for h in ordered] == ["password", "billing"]
    assert [h.text for h in ordered] == [PASSWORD, BILLING]  # whole chunks, verbatim


def test_answer_first_carries_a_cut_step_list_on_into_the_next_chunk() -> None:
    steps = [f"{i}. Step number {i} of exporting the workspace archive." for i in range(1, 7)]
    first = "To export the workspace archive:\n\n" + "\n".join(steps[:4])
    second = "\n".join(steps[3:])  # the chunker repeats step 4 as its overlap
    ordered = answer_first("How do I export the workspace archive?",
                           [chunk_hit("guide:0", first)], None,
                           following={"guide:0": ("guide:1", second)}.get)
    assert ordered[0].text == first + "\n" + "\n".join(steps[4:])  # steps 5-6 once, no repeat
    assert ordered[0].chunk_id == "guide:0"


def test_carried_on_leaves_a_chunk_alone_when_the_quote_ends_inside_it() -> None:
    chunk = "Exports include every project and comment. Exports are kept for 7 days."
    assert carried_on(chunk, "Exports are kept for 7 days.") == chunk
    assert carried_on(chunk, "Something that is not in the chunk at all, said elsewhere.") == chunk


def test_a_split_list_whose_next_chunk_opens_with_a_nested_line_is_still_followed() -> None:
    """The chunker may cut between a step and the lines nested under it: the next chunk then
    opens with an indented sub-item, and the steps after it still belong to the list."""
    first = ("To export the workspace archive:\n\n1. Open Settings and choose Data export.\n"
             "2. Pick the format of the archive you want to download:")
    second = ("   - CSV for spreadsheets and reporting tools.\n   - JSON for scripts and imports.\n"
              "3. Click Export and wait for the email with the download link.")
    passage = select_passage("How do I export the workspace archive?",
                             [chunk_hit("guide:0", first)], None,
                             following={"guide:0": ("guide:1", second)}.get)
    assert passage is not None
    assert passage.text.endswith(second)  # the nested lines and step 3, verbatim
    assert "1. Open Settings" in passage.text
