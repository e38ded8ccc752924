"""The structure-aware chunker: headings, procedures, FAQs, tables, size limits."""

from __future__ import annotations

import re

import pytest

from support_core.kb.chunking import MIN_CHUNK_CHARS, chunk_article
from support_core.models import Article


def article(text: str, title: str = "Refunds", **fields: str) -> Article:
    return Article(article_id="a1b2c3", title=title, text=text, **fields)


def filler(words: int, seed: str = "policy") -> str:
    return " ".join(f"{seed}{i % 7} applies here." for i in range(words // 3))


PROCEDURE = """# How to request a refund

Annual plans can be refunded within 14 days of the charge; after that, unused time becomes
a pro-rated credit. Monthly charges are refunded only for duplicate charges and billing errors.

## Steps

1. Sign in and open **Settings → Billing → Invoices**.
2. Find the invoice you want refunded.
3. Click the menu next to the invoice and select **Request refund**.
4. Choose a reason:
   - Duplicate charge
   - Charged after cancellation
5. Click **Submit request**.

## After you submit

We answer within two business days. The invoice shows *Refund requested* until then, and
you receive an email with the decision and, if approved, the date the money reaches you.
"""


def test_empty_or_blank_text_gives_no_chunks() -> None:
    assert chunk_article(article(""), 900, 120) == []
    assert chunk_article(article("  \n\n \t "), 900, 120) == []


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError):
        chunk_article(article("text"), 100, 100)


def test_chunk_ids_positions_and_metadata() -> None:
    meta = {"category": "billing", "product": "app", "source_url": "https://x.example/r"}
    chunks = chunk_article(article(PROCEDURE, **meta), 300, 40)
    assert [c.chunk_id for c in chunks] == [f"a1b2c3:{i}" for i in range(len(chunks))]
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert {(c.category, c.product, c.source_url, c.title) for c in chunks} == {
        ("billing", "app", "https://x.example/r", "Refunds")
    }


def test_numbered_procedure_stays_in_one_chunk() -> None:
    chunks = chunk_article(article(PROCEDURE, title="How to request a refund"), 400, 60)
    holding = [c for c in chunks if "1. Sign in" in c.text]
    assert len(holding) == 1
    assert "5. Click **Submit request**" in holding[0].text
    assert "Duplicate charge" in holding[0].text


def test_heading_travels_in_path_never_alone() -> None:
    chunks = chunk_article(article(PROCEDURE, title="How to request a refund"), 400, 60)
    steps = next(c for c in chunks if "1. Sign in" in c.text)
    assert steps.heading_path == ["Steps"]  # the H1 equal to the title is not repeated
    assert all(not c.text.lstrip().startswith("#") or "\n" in c.text.strip() for c in chunks)
    assert all(c.text.strip() not in {"Steps", "## Steps", "After you submit"} for c in chunks)
    assert "Steps" in steps.embedding_text().splitlines()[0]


def test_nested_headings_build_the_path() -> None:
    text = (
        "# Guide\n\n## Billing\n\n### Refunds\n\n"
        + filler(60)
        + "\n\n## API\n\n"
        + filler(60, "key")
    )
    chunks = chunk_article(article(text, title="Something else"), 900, 100)
    paths = [c.heading_path for c in chunks]
    assert ["Guide", "Billing", "Refunds"] in paths
    assert ["Guide", "API"] in paths


def test_heading_markers_inside_code_fences_are_not_headings() -> None:
    text = "## Setup\n\n```bash\n# install the tool\npip install orbitly\n```\n\n" + filler(60)
    chunks = chunk_article(article(text), 900, 100)
    assert all(c.heading_path == ["Setup"] for c in chunks)
    assert "# install the tool" in chunks[0].text


def test_faq_question_stays_with_its_answer() -> None:
    qa = [
        (
            "Can I get a refund after 14 days?",
            "No, but unused time becomes a pro-rated credit. " * 3,
        ),
        (
            "Who can request a refund?",
            "Only the workspace Owner or a Billing admin can do it. " * 3,
        ),
        (
            "How long does a refund take?",
            "Refunds reach your card within 5 to 10 business days. " * 3,
        ),
    ]
    text = "## Frequently asked questions\n\n" + "\n\n".join(f"{q}\n\n{a}" for q, a in qa)
    chunks = chunk_article(article(text), 260, 40)
    for question, answer in qa:
        owner = next(c for c in chunks if question in c.text)
        assert answer.split(".")[0] in owner.text


def test_long_faq_answer_repeats_the_question_in_each_piece() -> None:
    text = "How do I export my data?\n\n" + filler(300, "export")
    chunks = chunk_article(article(text), 300, 40)
    assert len(chunks) > 2
    assert all(c.text.startswith("How do I export my data?") for c in chunks)


def test_table_that_fits_stays_whole() -> None:
    rows = "\n".join(f"| ORB-{i:03d} | Error number {i} |" for i in range(8))
    text = f"## Error codes\n\n| Code | Meaning |\n|---|---|\n{rows}\n\nSee the log for details."
    chunks = chunk_article(article(text), 900, 100)
    table = next(c for c in chunks if "ORB-000" in c.text)
    assert "ORB-007" in table.text


def test_oversized_table_splits_by_rows_repeating_the_header() -> None:
    rows = [f"| ORB-{i:03d} | The request failed because of reason number {i} |" for i in range(40)]
    text = "| Code | Meaning |\n|------|---------|\n" + "\n".join(rows)
    chunks = chunk_article(article(text), 400, 50)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text.startswith("| Code | Meaning |\n|------|---------|")
        assert len(chunk.text) <= 400
    body = "\n".join(chunks_text.split("\n", 2)[2] for chunks_text in (c.text for c in chunks))
    assert all(row in body for row in rows)  # no row is lost, none cut in half


def test_tiny_intro_joins_the_next_section_which_keeps_its_heading_inline() -> None:
    text = (
        "Read this first.\n\n## Steps\n\n1. Open settings.\n2. Click save.\n\n## More\n\n"
        + filler(90)
    )
    chunks = chunk_article(article(text), 900, 100)
    first = chunks[0]
    assert first.heading_path == []
    assert first.text.startswith("Read this first.") and "## Steps\n1. Open settings." in first.text


def test_small_sections_join_a_neighbour_under_the_same_parent() -> None:
    text = (
        "## Plans\n\n### Free\n\nUp to 3 users.\n\n### Team\n\nUp to 50 users.\n\n"
        "### Business\n\n" + filler(120, "business")
    )
    chunks = chunk_article(article(text), 900, 100)
    assert all(len(c.text) >= MIN_CHUNK_CHARS for c in chunks)
    merged = next(c for c in chunks if "Up to 3 users." in c.text)
    assert "Up to 50 users." in merged.text
    assert merged.heading_path == ["Plans"]
    assert "### Free" in merged.text or "## Free" in merged.text


def test_oversized_paragraph_is_split_with_overlap_and_no_tiny_tail() -> None:
    sentences = [f"Sentence number {i} explains one more detail of the plan." for i in range(60)]
    chunks = chunk_article(article(" ".join(sentences)), 500, 100)
    assert len(chunks) >= 6
    assert all(len(c.text) <= 500 for c in chunks)
    assert min(len(c.text) for c in chunks) > MIN_CHUNK_CHARS
    numbers = [set(re.findall(r"Sentence number \d+ ", c.text)) for c in chunks]
    assert all(a & b for a, b in zip(numbers, numbers[1:], strict=False)), "pieces overlap"


@pytest.mark.parametrize("size", [200, 500, 900, 1500])
def test_no_chunk_exceeds_the_size_and_no_text_is_lost(size: int) -> None:
    text = PROCEDURE * 5 + "\n\n" + filler(900)
    chunks = chunk_article(article(text), size, size // 8)
    assert all(len(c.text) <= size for c in chunks)
    joined = " ".join(c.text for c in chunks)
    for word in ("Sign", "Duplicate", "business", "policy6"):
        assert word in joined


def test_plain_text_title_line_is_not_repeated_and_caps_lines_become_sections() -> None:
    text = (
        "Changing your email\n\nSYMPTOM\n"
        + filler(60, "symptom")
        + "\n\nRESOLVING THE PROBLEM\n"
        + filler(60, "fix")
    )
    chunks = chunk_article(article(text, title="Changing your email", format="text"), 900, 100)
    assert not chunks[0].text.startswith("Changing your email")
    assert ["SYMPTOM"] in [c.heading_path for c in chunks]
    assert ["RESOLVING THE PROBLEM"] in [c.heading_path for c in chunks]


def test_huge_input_is_chunked_completely() -> None:
    section = "## Section {i}\n\n" + filler(150) + "\n\n1. Step one.\n2. Step two.\n\n"
    text = "".join(section.format(i=i) for i in range(1200))
    assert len(text) > 1_000_000
    chunks = chunk_article(article(text), 900, 120)
    assert len(chunks) > 1000
    assert all(len(c.text) <= 900 for c in chunks)
    assert chunks[-1].heading_path == ["Section 1199"]


def test_huge_single_paragraph_without_breaks() -> None:
    text = "word " * 220_000
    chunks = chunk_article(article(text), 900, 120)
    assert all(len(c.text) <= 900 for c in chunks)
    assert sum(len(c.text) for c in chunks) >= len(text.strip())


def test_fit_to_token_limit_resplits_only_overlong_chunks() -> None:
    from support_core.kb.chunking import fit_to_token_limit

    text = "## Short\n\n" + filler(60, "short") + "\n\n## Dense\n\n" + "ORB-1234/x9 " * 70
    chunks = chunk_article(article(text), 900, 100)

    def count(texts: list[str]) -> list[int]:  # dense text: one token per 2 characters
        return [len(t) // 2 for t in texts]

    fitted = fit_to_token_limit(chunks, count, 256)
    assert len(fitted) > len(chunks)
    assert all(n <= 256 for n in count([c.embedding_text() for c in fitted]))
    assert fitted[0].text == chunks[0].text
    assert [c.chunk_id for c in fitted] == [f"a1b2c3:{i}" for i in range(len(fitted))]
    assert {tuple(c.heading_path) for c in fitted[1:]} == {("Dense",)}
