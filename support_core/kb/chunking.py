"""Structure-aware chunking: sections first, then whole blocks, then characters.

Why not a plain character splitter: it leaves headings as chunks of their own (they then
win the top rank and are usually wrong), cuts numbered procedures in half and separates
an FAQ question from its answer. Here an article is read as

    sections (markdown headings; the heading travels in ``heading_path``, never alone)
      -> blocks (paragraph, list/procedure, table, code fence, question + answer)
        -> pieces of at most ``chunk_size`` characters (blocks packed whole where they fit)

and only a block too large for one chunk is cut: tables by row groups that repeat the
header, lists by items, everything else by RecursiveCharacterTextSplitter with overlap.
Finally pieces under ``MIN_CHUNK_CHARS`` join a neighbour under the same parent heading.
The default ``chunk_size`` of 900 keeps a chunk plus its title inside all-MiniLM-L6-v2's
256-token window, which silently truncates anything longer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from langchain_text_splitters import RecursiveCharacterTextSplitter

from support_core.models import Article, Chunk

MIN_CHUNK_CHARS = 150

_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")
_ITEM_RE = re.compile(r"^ {0,3}(?:\d{1,3}[.)]|[-*+•])[ \t]+\S")
_TABLE_RE = re.compile(r"^ {0,3}\|.*\|[ \t]*$")
_TABLE_RULE_RE = re.compile(r"^ {0,3}\|?[ \t]*:?-{2,}")
_QUESTION_RE = re.compile(r"^(?:\*\*|__)?(?:Q(?:uestion)?\s*[:.]\s*)?.{3,200}\?(?:\*\*|__)?$", re.I)
_QUESTION_PREFIX_RE = re.compile(r"^(?:\*\*|__)?Q(?:uestion)?\s*[:.]", re.I)


@dataclass
class _Section:
    path: tuple[str, ...]
    lines: list[str] = field(default_factory=list)


@dataclass
class _Block:
    kind: str  # "para", "list", "table", "code", "faq"
    text: str


@dataclass
class _Piece:
    path: tuple[str, ...]
    text: str


def chunk_article(article: Article, chunk_size: int = 900, chunk_overlap: int = 120) -> list[Chunk]:
    """Split an article into retrieval chunks that follow its structure."""
    if chunk_overlap >= chunk_size:
        raise ValueError("chunk_overlap must be smaller than chunk_size")
    text = _strip_title_line(_normalise(article.text), article.title)
    if not _has_markdown_headings(text):
        text = _promote_plain_headings(text)
    if not text.strip():
        return []
    pieces: list[_Piece] = []
    for section in _sections(text, article.title):
        blocks = _blocks(section.lines)
        pieces.extend(_Piece(section.path, t) for t in _pack(blocks, chunk_size, chunk_overlap))
    return _to_chunks(article, _merge_small(pieces, chunk_size))


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")


def _strip_title_line(text: str, title: str) -> str:
    """Many exports repeat the title as the first line; the title is already in every chunk."""
    first, _, rest = text.lstrip().partition("\n")
    if title and _same_heading(first, title):
        return rest
    return text


def _same_heading(line: str, title: str) -> bool:
    return " ".join(line.lower().split()) == " ".join(title.lower().split())


# ----------------------------------------------------------------------------- plain text
_PLAIN_HEADING_MAX = 60


def _has_markdown_headings(text: str) -> bool:
    return any(_HEADING_RE.match(line) for line in text.split("\n"))


def _promote_plain_headings(text: str) -> str:
    """Plain text (``.txt``, PDF, exports) marks sections with short stand-alone lines such as
    'SYMPTOM' or 'Before you start'; turning them into '##' headings lets sections work."""
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        before = lines[i - 1] if i else ""
        after = next((n for n in lines[i + 1 : i + 3] if n.strip()), "")
        out.append(f"## {line.strip()}" if _looks_like_heading(line, before, after) else line)
    return "\n".join(out)


def _looks_like_heading(line: str, before: str, after: str) -> bool:
    s = line.strip()
    if not (3 <= len(s) <= _PLAIN_HEADING_MAX) or not after.strip() or len(s.split()) > 8:
        return False
    if s[-1] in ".,;:!?)]" or not s[0].isupper() or _ITEM_RE.match(s) or "://" in s:
        return False
    letters = [c for c in s if c.isalpha()]
    if len(letters) < 3:
        return False
    if all(c.isupper() for c in letters):
        return True
    return not before.strip() and len(after.strip()) > len(s)


# ----------------------------------------------------------------------------- sections
def _sections(text: str, title: str) -> Iterator[_Section]:
    """Split on markdown headings (outside code fences), tracking the path of enclosing ones."""
    stack: list[tuple[int, str]] = []
    section = _Section(())
    in_fence = False
    for line in text.split("\n"):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING_RE.match(line)
        if heading is None:
            section.lines.append(line)
            continue
        yield section
        level, name = len(heading.group(1)), _plain(heading.group(2))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, name))
        path = tuple(n for _, n in stack if not _same_heading(n, title))
        section = _Section(path)
    yield section


def _plain(heading: str) -> str:
    return re.sub(r"[*_`]+", "", heading).strip()


# ----------------------------------------------------------------------------- blocks
def _paragraphs(lines: list[str]) -> Iterator[str]:
    """Blank-line separated paragraphs; a code fence is one paragraph even with blank lines."""
    current: list[str] = []
    in_fence = False
    for line in lines:
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                yield "\n".join(current)
            current = []
        else:
            current.append(line.rstrip())
    if current:
        yield "\n".join(current)


def _kind(paragraph: str) -> str:
    lines = paragraph.split("\n")
    if _FENCE_RE.match(lines[0]):
        return "code"
    if len(lines) >= 2 and all(_TABLE_RE.match(line) for line in lines):
        return "table"
    if _ITEM_RE.match(lines[0]):
        return "list"
    if len(lines) == 1 and _is_question(lines[0]):
        return "question"
    return "para"


def _is_question(line: str) -> bool:
    line = line.strip()
    return bool(_QUESTION_RE.match(line)) or bool(_QUESTION_PREFIX_RE.match(line))


def _blocks(lines: list[str]) -> list[_Block]:
    """Group paragraphs into units that must stay together where they fit."""
    blocks: list[_Block] = []
    for paragraph in _paragraphs(lines):
        kind = _kind(paragraph)
        last = blocks[-1] if blocks else None
        if last is not None and _continues(last, kind, paragraph):
            last.text = f"{last.text}\n\n{paragraph}"
            last.kind = _joined_kind(last.kind, kind)
        else:
            blocks.append(_Block(kind, paragraph))
    for block in blocks:
        block.kind = "para" if block.kind == "question" else block.kind
    return blocks


def _continues(last: _Block, kind: str, paragraph: str) -> bool:
    """Does this paragraph belong to the block before it?"""
    if last.kind in ("question", "faq"):  # an answer runs until the next question
        return kind not in ("question", "table", "code") or last.kind == "question"
    if last.kind == "list":  # loose lists and indented continuations of an item
        return kind == "list" or paragraph.startswith(("  ", "\t"))
    if kind == "list" and last.kind == "para":  # "To cancel:" + the steps
        return last.text.rstrip().endswith(":")
    return False


def _joined_kind(previous: str, new: str) -> str:
    if previous in ("question", "faq"):
        return "faq"
    return "list" if "list" in (previous, new) else previous


# ----------------------------------------------------------------------------- packing
def _pack(blocks: list[_Block], size: int, overlap: int) -> list[str]:
    """Greedily fill pieces with whole blocks; cut only blocks larger than a piece."""
    pieces: list[str] = []
    current = ""
    for block in blocks:
        parts = [block.text] if len(block.text) <= size else _split_block(block, size, overlap)
        for part in parts:
            if current and len(current) + 2 + len(part) <= size:
                current = f"{current}\n\n{part}"
            else:
                if current:
                    pieces.append(current)
                current = part
    if current:
        pieces.append(current)
    return pieces


def _split_block(block: _Block, size: int, overlap: int) -> list[str]:
    if block.kind == "table":
        return _split_table(block.text, size, overlap)
    if block.kind == "list":
        return _group(_list_items(block.text), size, overlap)
    if block.kind == "faq":
        question, _, answer = block.text.partition("\n\n")
        if len(question) < size // 3:
            room = size - len(question) - 2
            return [
                f"{question}\n\n{p}" for p in _split_text(answer, room, min(overlap, room // 2))
            ]
    return _split_text(block.text, size, overlap)


def _split_table(text: str, size: int, overlap: int) -> list[str]:
    """Row groups, each repeating the header row (and its |---| rule) so it reads alone."""
    lines = text.split("\n")
    head_len = 2 if len(lines) > 2 and _TABLE_RULE_RE.match(lines[1]) else 1
    header = "\n".join(lines[:head_len])
    room = size - len(header) - 1
    if room < size // 4:  # a monstrous header: treat the table as prose
        return _split_text(text, size, overlap)
    groups = _group(lines[head_len:], room, overlap, joiner="\n")
    return [f"{header}\n{group}" for group in groups]


def _list_items(text: str) -> list[str]:
    """Top-level items with their continuation lines and sub-items."""
    items: list[str] = []
    for line in text.split("\n"):
        starts_item = bool(_ITEM_RE.match(line)) and not line.startswith(("    ", "\t"))
        if starts_item or not items:
            items.append(line)
        else:
            items[-1] = f"{items[-1]}\n{line}"
    return items


def _group(parts: list[str], size: int, overlap: int, joiner: str = "\n") -> list[str]:
    """Pack small parts into groups of at most ``size``; oversized parts are split by characters."""
    groups: list[str] = []
    current = ""
    for part in parts:
        pieces = [part] if len(part) <= size else _split_text(part, size, overlap)
        for piece in pieces:
            if current and len(current) + len(joiner) + len(piece) <= size:
                current = f"{current}{joiner}{piece}"
            else:
                if current:
                    groups.append(current)
                current = piece
    if current:
        groups.append(current)
    return groups


def _split_text(text: str, size: int, overlap: int) -> list[str]:
    """Character split with pieces of even length, so no tiny remainder is left at the end."""
    step = max(1, size - overlap)
    count = max(1, math.ceil((len(text) - overlap) / step))
    even = min(size, math.ceil((len(text) - overlap) / count) + overlap + 40)
    return _splitter(even, min(overlap, even // 2)).split_text(text)


@lru_cache(maxsize=256)
def _splitter(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=overlap,
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
    )


# ----------------------------------------------------------------------------- merging
def _merge_small(pieces: list[_Piece], size: int) -> list[_Piece]:
    """Let nothing under MIN_CHUNK_CHARS stand alone when a related neighbour has room."""
    merged: list[_Piece] = []
    for piece in pieces:
        last = merged[-1] if merged else None
        if last is not None and _small(last, piece) and _related(last.path, piece.path):
            joined = _join(last, piece)
            if len(joined.text) <= size:
                merged[-1] = joined
                continue
        merged.append(piece)
    return merged


def _small(a: _Piece, b: _Piece) -> bool:
    return min(len(a.text), len(b.text)) < MIN_CHUNK_CHARS


def _related(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Same section, parent and child, or siblings under one parent heading."""
    shorter, longer = sorted((a, b), key=len)
    return longer[: len(shorter)] == shorter or a[:-1] == b[:-1]


def _join(a: _Piece, b: _Piece) -> _Piece:
    """Merged pieces keep the common heading path; deeper headings move into the text."""
    common = _common_prefix(a.path, b.path)
    return _Piece(common, f"{_render(a, common)}\n\n{_render(b, common)}")


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _render(piece: _Piece, common: tuple[str, ...]) -> str:
    extra = piece.path[len(common) :]
    lines = [f"{'#' * (len(common) + i + 2)} {h}" for i, h in enumerate(extra)]
    return "\n".join([*lines, piece.text])


# ----------------------------------------------------------------------------- token limit
def fit_to_token_limit(
    chunks: list[Chunk], count_tokens: Callable[[list[str]], list[int]], max_tokens: int
) -> list[Chunk]:
    """Re-split chunks whose embedding text exceeds the model's window, which would otherwise
    be cut silently: 900 characters of dense technical text can be 300+ tokens."""
    for _ in range(2):  # a second pass catches the rare piece the estimate left too long
        counts = count_tokens([c.embedding_text() for c in chunks])
        if all(n <= max_tokens for n in counts):
            break
        chunks = [p for c, n in zip(chunks, counts, strict=True) for p in _shrink(c, n, max_tokens)]
    return [
        c.model_copy(update={"position": i, "chunk_id": f"{c.article_id}:{i}"})
        for i, c in enumerate(chunks)
    ]


def _shrink(chunk: Chunk, tokens: int, max_tokens: int) -> list[Chunk]:
    if tokens <= max_tokens:
        return [chunk]
    head = len(chunk.embedding_text()) - len(chunk.text)
    chars_per_token = len(chunk.embedding_text()) / tokens
    size = max(80, int(max_tokens * chars_per_token * 0.9) - head)
    pieces = _split_text(chunk.text, size, size // 8)
    return [chunk.model_copy(update={"text": piece}) for piece in pieces]


def _to_chunks(article: Article, pieces: list[_Piece]) -> list[Chunk]:
    chunks: list[Chunk] = []
    for piece in pieces:
        text = piece.text.strip()
        if not text:
            continue
        position = len(chunks)
        chunks.append(
            Chunk(
                chunk_id=f"{article.article_id}:{position}",
                article_id=article.article_id,
                text=text,
                heading_path=list(piece.path),
                position=position,
                title=article.title,
                category=article.category,
                product=article.product,
                last_updated=article.last_updated,
                source_url=article.source_url,
            )
        )
    return chunks
