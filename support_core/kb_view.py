"""The knowledge-base page's side of the core: a batch of uploads ingested file by file
(one bad file never costs the others), with progress, and the lines the page shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from support_core.access import Principal
from support_core.errors import DeskpilotError
from support_core.kb.knowledge_base import UploadPreview
from support_core.kb_admin import KnowledgeBaseAdmin
from support_core.models import ArticleInfo, Chunk, IngestResult, IngestStatus

log = logging.getLogger("deskpilot.kb")

UPLOAD_TYPES = ["md", "markdown", "txt", "html", "htm", "pdf"]  # the loaders' suffixes
UNEXPECTED = "unexpected error while reading it (details in the server log)"

Progress = Callable[[float, str], None]  # (share done, what is happening)


def ingest_one(
    admin: KnowledgeBaseAdmin, who: Principal | None, name: str, data: bytes,
    category: str | None, product: str | None, replace: bool = False,
) -> IngestResult:  # fmt: skip
    """One file; a failure becomes a ``failed`` result with a reason a person can act on."""
    try:
        return admin.ingest_upload(who, name, data, category, product, replace=replace)
    except DeskpilotError as exc:
        return IngestResult(source=name, status=IngestStatus.FAILED, error=exc.user_message)
    except Exception:  # noqa: BLE001 - one broken file must not stop the batch
        log.exception("Ingesting %s failed", name)
        return IngestResult(source=name, status=IngestStatus.FAILED, error=UNEXPECTED)


def ingest_batch(
    admin: KnowledgeBaseAdmin, who: Principal | None, files: list[tuple[str, bytes]],
    category: str | None, product: str | None, replace: bool = False,
    progress: Progress | None = None,
) -> list[IngestResult]:  # fmt: skip
    """Every file in order, reporting before each one and once at the end."""
    report = progress or (lambda share, text: None)
    results = []
    for i, (name, data) in enumerate(files):
        report(i / max(len(files), 1), f"Ingesting {name} ({i + 1}/{len(files)})")
        results.append(ingest_one(admin, who, name, data, category, product, replace))
    report(1.0, "Done")
    return results


def kb_summary(infos: list[ArticleInfo], categories: list[str], products: list[str]) -> str:
    return (f"{len(infos)} articles · {sum(a.chunks for a in infos)} chunks · "
            f"{len(categories)} categories · {len(products)} products")  # fmt: skip


def article_titles(infos: list[ArticleInfo]) -> dict[str, str]:
    return {a.article_id: a.title for a in infos}


def article_labels(infos: list[ArticleInfo]) -> dict[str, str]:
    """Article id -> what the picker shows."""
    return {a.article_id: f"{a.title} ({a.chunks} chunks)" for a in infos}


def chunk_heading(c: Chunk) -> str:
    return f"**{c.position + 1}. {' › '.join(c.heading_path) or c.title}**"


def preview_line(name: str, p: UploadPreview) -> str:
    return f"**{name}**: {p.action}" + (f" · {p.reason}" if p.reason else "")


def flagged_line(r: dict[str, Any]) -> str:
    return f"`{r['chunk_id']}` · {r['title']} · flags: {r['flags']}"
