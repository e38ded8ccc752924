"""Loaders: every supported format, and a clear IngestError for every broken file."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF

from support_core.errors import IngestError
from support_core.kb.loaders import article_id_for, load_bytes, load_file
from tests.conftest import SAMPLE_KB

MARKDOWN = """---
title: How to request a refund
category: Billing
product: orbitly-billing
last_updated: 2026-09-14
source_url: https://help.orbitly.example/billing/request-refund
---
# Request a refund

Open **Settings → Billing**.
"""

HTML = """<!DOCTYPE html><html><head>
<title>Connect Google Drive</title>
<meta name="category" content="integrations"><meta name="product" content="orbitly-app">
<script>var secret = "tracking-code";</script><style>body { color: red; }</style>
</head><body>
<nav><a href="/">Help center home</a></nav>
<header>Site banner</header>
<main><h1>Connect Google Drive</h1><p>Link your <b>Drive</b> account.</p>
<h2>Steps</h2><ol><li>Open Integrations.</li><li>Click Connect.</li></ol></main>
<footer>Copyright Orbitly</footer>
</body></html>"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def pdf_bytes(pages: list[str], title: str | None = None) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def test_markdown_front_matter_fields(tmp_path: Path) -> None:
    article = load_file(write(tmp_path, "refund.md", MARKDOWN))
    assert article.title == "How to request a refund"
    assert (article.category, article.product) == ("billing", "orbitly-billing")
    assert article.last_updated == "2026-09-14"
    assert article.source_url == "https://help.orbitly.example/billing/request-refund"
    assert article.format == "markdown"
    assert article.text.startswith("# Request a refund") and "---" not in article.text
    assert article.article_id == article_id_for(
        "https://help.orbitly.example/billing/request-refund"
    )


def test_caller_category_and_product_override_front_matter(tmp_path: Path) -> None:
    article = load_file(write(tmp_path, "r.md", MARKDOWN), category="Account", product="api")
    assert (article.category, article.product) == ("account", "api")


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# First heading\n\nBody text.", "First heading"),
        ("Just a body without heading.", "faq-page"),
    ],
)
def test_markdown_title_falls_back_to_heading_then_file_stem(
    tmp_path: Path, text: str, title: str
) -> None:
    article = load_file(write(tmp_path, "faq-page.md", text))
    assert article.title == title
    assert (article.category, article.product) == ("general", "general")


def test_article_id_is_stable_and_derived_from_the_file_name_without_url(tmp_path: Path) -> None:
    first = load_file(write(tmp_path, "notes.md", "# A\n\nOne."))
    second = load_file(write(tmp_path, "notes.md", "# B\n\nTwo, edited."))
    other = load_file(write(tmp_path, "other.md", "# A\n\nOne."))
    assert first.article_id == second.article_id == article_id_for("notes.md")
    assert other.article_id != first.article_id
    assert len(first.article_id) == 16


def test_text_file_first_non_empty_line_is_the_title(tmp_path: Path) -> None:
    article = load_file(write(tmp_path, "email.txt", "\n\n  Changing your email  \n\nBody here.\n"))
    assert article.title == "Changing your email"
    assert article.format == "text"
    assert "Body here." in article.text


def test_html_drops_page_chrome_and_keeps_headings(tmp_path: Path) -> None:
    article = load_file(write(tmp_path, "drive.html", HTML))
    assert article.title == "Connect Google Drive"
    assert (article.category, article.product) == ("integrations", "orbitly-app")
    assert article.format == "html"
    for chrome in ("tracking-code", "color: red", "Help center home", "Site banner", "Copyright"):
        assert chrome not in article.text
    assert "# Connect Google Drive" in article.text
    assert "## Steps" in article.text
    assert "Link your Drive account." in article.text
    assert "1. Open Integrations.\n2. Click Connect." in article.text


def test_pdf_text_from_every_page(tmp_path: Path) -> None:
    data = pdf_bytes(["Refund policy overview.", "Second page about credits."], "Refund policy")
    article = load_file(write(tmp_path, "policy.pdf", data))
    assert article.title == "Refund policy"
    assert article.format == "pdf"
    assert (
        "Refund policy overview." in article.text and "Second page about credits." in article.text
    )


def test_pdf_without_metadata_title_uses_first_line(tmp_path: Path) -> None:
    article = load_bytes("guide.pdf", pdf_bytes(["Setup guide\nInstall the app first."]))
    assert article.title == "Setup guide"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf \n%%EOF", "not a readable PDF"),
        ("blank.pdf", None, "no extractable text"),
        ("empty.md", b"", "empty"),
        ("spaces.txt", b"   \n\n  ", "empty"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not UTF-8"),
        ("binary.txt", b"abc\x00\x00def", "binary"),
        ("notes.docx", b"PK\x03\x04 zip", "unsupported file type '.docx'"),
        ("noext", b"hello", "unsupported file type"),
        ("only-front-matter.md", b"---\ntitle: X\n---\n", "no readable text"),
        ("bad-yaml.md", b"---\ntitle: [unclosed\n---\nbody", "front matter"),
    ],
)
def test_broken_files_raise_ingest_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    if content is None:
        pdf = FPDF()
        pdf.add_page()
        content = bytes(pdf.output())
    with pytest.raises(IngestError) as info:
        load_file(write(tmp_path, name, content))
    assert info.value.source == name
    assert problem in info.value.problem
    assert str(info.value).startswith(name)


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(write(tmp_path, "plain.pdf", pdf_bytes(["Secret text."]))))
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as handle:
        writer.write(handle)
    with pytest.raises(IngestError, match="encrypted"):
        load_file(locked)


def test_missing_file_is_an_ingest_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="cannot be read"):
        load_file(tmp_path / "nope.md")


def test_load_bytes_matches_load_file(tmp_path: Path) -> None:
    from_disk = load_file(write(tmp_path, "refund.md", MARKDOWN))
    uploaded = load_bytes("refund.md", MARKDOWN.encode())
    assert uploaded.model_dump(exclude={"source_path"}) == from_disk.model_dump(
        exclude={"source_path"}
    )


@pytest.mark.skipif(not SAMPLE_KB.is_dir(), reason="sample KB not present")
def test_every_sample_kb_article_loads_with_metadata() -> None:
    files = [p for p in sorted(SAMPLE_KB.iterdir()) if p.name.lower() != "readme.md"]
    articles = [load_file(p) for p in files]
    assert {a.format for a in articles} >= {"markdown", "text", "html"}
    assert len({a.article_id for a in articles}) == len(articles)
    for art in articles:
        assert art.title and art.text
        if art.format != "text":
            assert art.category != "general", art.source_path


def test_plain_text_header_lines_become_metadata_and_leave_the_body(tmp_path) -> None:
    from support_core.kb.loaders import load_file

    path = tmp_path / "note.txt"
    path.write_text("Changing plans\nCategory: Billing\nProduct: orbitly-billing\n"
                    "Last updated: 2026-01-02\n\nCategory: this line is body text.\n")
    article = load_file(path)
    assert (article.title, article.category, article.product, article.last_updated) == (
        "Changing plans", "billing", "orbitly-billing", "2026-01-02")
    assert "Product:" not in article.text and "this line is body text" in article.text
