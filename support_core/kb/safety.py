"""Knowledge-base content that reads as instructions to a model.

A help article is data, but text such as "ignore previous instructions", "you are now ...",
chat-template role markup, text hidden from human readers (``display:none``, the ``hidden``
attribute) or zero-width characters is aimed at the model that reads it. Such passages are
flagged at ingest and kept out of retrieval until an admin approves them; the output guard
does not count them as support for a reply.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from support_core.models import Article, Chunk

ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad]")
_INSTRUCTIONS = [
    ("ignore-instructions", r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+)?"
     r"(?:previous|prior|above|earlier|preceding|your|system)\s+(?:instructions?|prompts?|rules?|"
     r"directions?|guidelines?)"),
    ("role-change", r"\byou\s+are\s+now\s+(?:an?\s+|the\s+|in\s+)?(?:[\w-]+\s+){0,2}"
     r"(?:assistant|ai|bot|manager|agent|operator|model|admin|administrator|developer|dan|unrestricted|jailbroken|persona|mode)\b|"
     r"\byou\s+are\s+no\s+longer\b|\bfrom\s+now\s+on,?\s+you\b|\bact\s+as\s+(?:an?\s+)?"
     r"(?:admin|administrator|developer|unrestricted|dan)\b|\bpretend\s+(?:to\s+be|you\s+are)\b"),
    ("prompt-markup", r"<\|?(?:im_start|im_end|system|assistant|user)\|?>|\[/?INST\]|"
     r"<<\s*/?SYS\s*>>|^\s*(?:system|assistant)\s*:|\bsystem\s+prompt\b|"
     r"### ?(?:instruction|system)"),
    ("model-directive", r"\b(?:tell|inform)\s+the\s+(?:customer|user)\s+(?:that\s+)?"
     r"(?:their|your|the)\b|\b(?:do\s+not|don't)\s+(?:tell|mention\s+to)\s+the\s+(?:customer|user)\b|"
     r"\bnew\s+instructions?\s*:|\bAI\s+(?:assistant|model)s?,?\s+(?:must|should)\b"),
]
_PATTERNS = [(name, re.compile(p, re.IGNORECASE | re.MULTILINE)) for name, p in _INSTRUCTIONS]
_HIDDEN_HTML = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px)?\b|<[^>]+\shidden[\s>=]|"
    r"aria-hidden\s*=\s*[\"']true|opacity\s*:\s*0(?:\.0+)?\s*[;\"']",
    re.IGNORECASE,
)


def injection_flags(text: str) -> list[str]:
    """Names of the instruction-like signals in ``text`` (empty when it reads as plain help)."""
    flags: list[str] = []
    if ZERO_WIDTH.search(text):
        flags.append("zero-width-characters")
    folded = unicodedata.normalize("NFKC", ZERO_WIDTH.sub("", text))
    flags += [name for name, pattern in _PATTERNS if pattern.search(folded)]
    return flags


def hidden_html_flags(raw_html: str) -> list[str]:
    """Signals that an HTML file hides text from human readers."""
    return ["hidden-html-text"] if _HIDDEN_HTML.search(raw_html) else []


# ----------------------------------------------------------------------------- quarantine
class PassageFlags:
    """Flagged passages in the KB registry database: kept out of retrieval until approved."""

    def __init__(self, db: Any) -> None:  # a sqlite_utils.Database
        self._db = db
        self._table.create(
            {"chunk_id": str, "article_id": str, "title": str, "flags": str, "excerpt": str,
             "approved_by": str, "approved_at": str},
            pk="chunk_id", if_not_exists=True,
        )

    @property
    def _table(self) -> Any:
        import sqlite_utils

        return sqlite_utils.db.Table(self._db, "passage_flags")

    def replace_article(self, article_id: str, rows: list[dict[str, str]]) -> None:
        """An article was (re)written: its old flags go, the new ones start unapproved."""
        self._table.delete_where("article_id = ?", [article_id])
        if rows:
            self._table.insert_all(rows, pk="chunk_id", replace=True)

    def quarantined(self) -> set[str]:
        rows = self._db.query("SELECT chunk_id FROM passage_flags WHERE approved_by IS NULL "
                              "OR approved_by = ''")
        return {r["chunk_id"] for r in rows}

    def list(self, *, include_approved: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM passage_flags"
        if not include_approved:
            sql += " WHERE approved_by IS NULL OR approved_by = ''"
        return list(self._db.query(sql + " ORDER BY article_id, chunk_id"))

    def approve(self, target: str, by: str) -> int:
        """Approve one passage (chunk id) or every flagged passage of an article; returns count."""
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        ids = [r["chunk_id"] for r in self._db.query(
            "SELECT chunk_id FROM passage_flags WHERE chunk_id = ? OR article_id = ?",
            [target, target])]
        for chunk_id in ids:
            self._table.update(chunk_id, {"approved_by": by, "approved_at": now})
        return len(ids)

    def delete_article(self, article_id: str) -> None:
        self._table.delete_where("article_id = ?", [article_id])


def flag_rows(chunks: Sequence[Chunk], extra: Sequence[str] = ()) -> list[dict[str, str]]:
    """One row per chunk that reads as instructions (``extra``: flags of the whole file)."""
    rows = []
    for c in chunks:
        flags = list(dict.fromkeys([*extra, *injection_flags(c.text)]))
        if flags:
            rows.append({"chunk_id": c.chunk_id, "article_id": c.article_id, "title": c.title,
                         "flags": ",".join(flags), "excerpt": ZERO_WIDTH.sub("", c.text)[:300],
                         "approved_by": "", "approved_at": ""})
    return rows


def identity_conflict(article: Article, others: Sequence[Mapping[str, Any]]) -> str | None:
    """Why ``article`` may not be ingested: its source_url or title belongs to another article."""
    for row in others:
        if row["article_id"] == article.article_id:
            continue
        if article.source_url and row.get("source_url") == article.source_url:
            return (f"its source_url {article.source_url} belongs to the article "
                    f"'{row['title']}' ({row['article_id']}); refused")
        title = article.title.strip().lower()
        if title and title == str(row.get("title") or "").strip().lower():
            return (f"its title '{article.title}' belongs to another article "
                    f"({row['article_id']}); refused")
    return None


def text_diff(old: str, new: str, *, context: int = 2, limit: int = 200) -> str:
    """A unified diff of an article's text (what a replace would change)."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "current", "upload",
                                      n=context, lineterm=""))
    return "\n".join(lines[:limit]) + ("\n…" if len(lines) > limit else "")
