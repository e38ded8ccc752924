"""Turn a knowledge-base file (Markdown, text, HTML, PDF) into an :class:`Article`.

Every problem with one file becomes an :class:`IngestError` naming that file, so a
batch ingest can report it and carry on with the next one. Category and product given
by the caller (CLI flag, upload form) win over what the file says about itself.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import frontmatter
from bs4 import BeautifulSoup

from support_core.errors import IngestError
from support_core.models import Article

MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

_H1_RE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_LIST_ITEM_RE = re.compile(r"^(?:\d+\.|-) ")
_DROPPED_HTML = ("script", "style", "nav", "header", "footer", "noscript", "template", "svg")
_HTML_BLOCKS = (
    "p",
    "ol",
    "ul",
    "pre",
    "blockquote",
    "table",
    "div",
    "section",
    "article",
    "tr",
    "dd",
)


def article_id_for(source: str) -> str:
    """Stable id from where the article comes from, so re-ingesting it updates in place."""
    return hashlib.sha256(source.strip().encode("utf-8")).hexdigest()[:16]


def load_file(
    path: str | Path, *, category: str | None = None, product: str | None = None
) -> Article:
    """Read one file from disk into an Article (see :func:`load_bytes`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise IngestError(str(path), f"cannot be read ({err.strerror or err})") from err
    return load_bytes(path.name, data, category=category, product=product, source_path=str(path))


def load_bytes(
    name: str,
    data: bytes,
    *,
    category: str | None = None,
    product: str | None = None,
    source_path: str = "",
) -> Article:
    """Parse file content by its name's extension; used for Streamlit uploads too."""
    suffix = Path(name).suffix.lower()
    parser = _PARSERS.get(suffix)
    if parser is None:
        allowed = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise IngestError(name, f"unsupported file type '{suffix or 'none'}' (use {allowed})")
    if not data.strip():
        raise IngestError(name, "the file is empty")
    fields = parser(name, data)
    if not str(fields.get("text", "")).strip():
        raise IngestError(name, "no readable text was found in the file")
    return _build_article(name, fields, category, product, source_path)


def _build_article(
    name: str, fields: dict[str, Any], category: str | None, product: str | None, source_path: str
) -> Article:
    source_url = _clean(fields.get("source_url"))
    return Article(
        article_id=article_id_for(source_url or name),
        title=_clean(fields.get("title")) or Path(name).stem,
        text=str(fields["text"]).strip(),
        category=_label(category) or _label(fields.get("category")) or "general",
        product=_label(product) or _label(fields.get("product")) or "general",
        last_updated=_clean(fields.get("last_updated")),
        source_url=source_url,
        source_path=source_path or name,
        format=fields["format"],
    )


def _clean(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return " ".join(str(value).split()) if value is not None else ""


def _label(value: Any) -> str:
    """Categories and products are filter keys: trimmed and lower-case so 'Billing' == 'billing'."""
    return _clean(value).lower()


def _decode(name: str, data: bytes) -> str:
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise IngestError(name, "is not UTF-8 text (save it as UTF-8 and try again)") from err
    if "\x00" in text:
        raise IngestError(name, "looks like a binary file, not text")
    return text


# ----------------------------------------------------------------------------- formats
def _parse_markdown(name: str, data: bytes) -> dict[str, Any]:
    raw = _decode(name, data)
    try:
        post = frontmatter.loads(raw)
    except Exception as err:  # yaml raises several unrelated types
        raise IngestError(name, f"front matter is not valid YAML ({err})") from err
    meta = dict(post.metadata)
    heading = _H1_RE.search(post.content)
    meta.setdefault("title", heading.group(1) if heading else None)
    return {**meta, "text": post.content, "format": "markdown"}


_TEXT_HEADER_RE = re.compile(
    r"^(category|product|last[ _-]?updated|source[ _-]?url):\s*(\S.*?)\s*$", re.IGNORECASE
)


def _parse_text(name: str, data: bytes) -> dict[str, Any]:
    """First non-empty line is the title; ``Key: value`` lines right under it (category,
    product, last updated, source url), as in an e-mail header, are the metadata."""
    lines = _decode(name, data).splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip()), 0)
    meta: dict[str, Any] = {}
    end = start + 1
    while end < len(lines) and (match := _TEXT_HEADER_RE.match(lines[end].strip())):
        meta[re.sub(r"[ -]+", "_", match.group(1).lower())] = match.group(2)
        end += 1
    text = "\n".join([lines[start] if lines else "", *lines[end:]])
    return {"title": (lines[start].strip() if lines else "")[:200], "text": text,
            "format": "text", **meta}


def _parse_html(name: str, data: bytes) -> dict[str, Any]:
    soup = BeautifulSoup(data, "html.parser")
    meta = {
        str(m.get("name") or "").lower(): str(m.get("content") or "") for m in soup.find_all("meta")
    }
    title_tag, h1 = soup.find("title"), soup.find("h1")
    title = (title_tag.get_text(" ", strip=True) if title_tag else "") or (
        h1.get_text(" ", strip=True) if h1 else ""
    )
    for tag in soup.find_all(_DROPPED_HTML):
        tag.decompose()
    body = soup.body or soup
    return {
        "title": title,
        "text": _html_to_text(body),
        "category": meta.get("category"),
        "product": meta.get("product"),
        "last_updated": meta.get("last_updated") or meta.get("last-updated"),
        "source_url": meta.get("source_url") or _canonical(soup),
        "format": "html",
    }


def _canonical(soup: BeautifulSoup) -> str:
    link = soup.find("link", rel="canonical")
    return str(link.get("href", "")) if link else ""


def _html_to_text(root: Any) -> str:
    """Headings become markdown '#' lines (the chunker splits on them), blocks become paragraphs."""
    for level in range(1, 7):
        for tag in root.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for listing in root.find_all(["ol", "ul"]):
        for number, item in enumerate(listing.find_all("li", recursive=False), start=1):
            item.insert_before(f"\n{number}. " if listing.name == "ol" else "\n- ")
            item.insert_after("\n")
    for tag in root.find_all("br"):
        tag.replace_with("\n")
    for tag in root.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    lines = [" ".join(line.split()) for line in root.get_text("").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(_tighten_lists(lines))).strip()


def _tighten_lists(lines: list[str]) -> list[str]:
    """Drop blank lines between list items so a procedure reads as one list."""
    kept: list[str] = []
    for i, line in enumerate(lines):
        if not line and kept and _LIST_ITEM_RE.match(kept[-1]):
            following = next((n for n in lines[i + 1 :] if n), "")
            if _LIST_ITEM_RE.match(following):
                continue
        kept.append(line)
    return kept


def _parse_pdf(name: str, data: bytes) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise IngestError(name, "the PDF is encrypted; export an unprotected copy")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise IngestError(name, f"is not a readable PDF ({err})") from err
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise IngestError(name, "the PDF has no extractable text (scanned images need OCR first)")
    meta_title = _pdf_title(reader)
    return {
        "title": meta_title or text.strip().splitlines()[0][:200],
        "text": text,
        "format": "pdf",
    }


def _pdf_title(reader: Any) -> str:
    try:
        return _clean(reader.metadata.title) if reader.metadata else ""
    except Exception:  # broken info dictionaries are common and never fatal
        return ""


_PARSERS: dict[str, Callable[[str, bytes], dict[str, Any]]] = {
    **{s: _parse_markdown for s in MARKDOWN_SUFFIXES},
    **{s: _parse_text for s in TEXT_SUFFIXES},
    **{s: _parse_html for s in HTML_SUFFIXES},
    **{s: _parse_pdf for s in PDF_SUFFIXES},
}
