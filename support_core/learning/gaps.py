"""Knowledge-base gaps: questions people had to answer because the AI could not.

Gap resolutions (see :func:`resolutions.is_gap`) are grouped by the similarity of their
first customer question, embedded with the knowledge base's own embedder. Grouping is
greedy in resolution order: a question joins the first group whose centroid is within
``GROUP_SIMILARITY`` (cosine), else starts a new one. A group's id comes from its first
ticket, so ids stay stable as later resolutions join. A published or dismissed gap keeps
the tickets it had; later resolutions on the same topic still show under it.

Publishing writes a markdown article (front matter marks it as written from resolutions,
with the ticket ids) under ``<data_dir>/kb_from_resolutions/``, ingests it, marks the gap
published and records the gap's questions as verified positives for the new article.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from support_core.errors import InputError, NotFound
from support_core.learning.feedback import RetrievalFeedback
from support_core.learning.records import Gap, GapStatus, Resolution
from support_core.learning.resolutions import is_gap
from support_core.learning.store import LearningStore
from support_core.models import IngestStatus, utcnow
from support_core.ports import Embedder

GROUP_SIMILARITY = 0.7
MAX_TITLE_CHARS = 90
MAX_EXAMPLES = 5



def gap_id_for(ticket_id: str) -> str:
    return "gap-" + hashlib.sha256(ticket_id.encode()).hexdigest()[:10]


def suggested_title(questions: Sequence[str], vectors: np.ndarray | None = None) -> str:
    """The most central question (closest to the others), as a short title."""
    best = 0
    if vectors is not None and len(questions) > 1:
        best = int(np.argmax((vectors @ vectors.T).sum(axis=1)))
    text = " ".join(questions[best].split())
    first = re.split(r"(?<=[?.!])\s", text)
    sentence = next((s for s in first if s.endswith("?")), first[0])
    if len(sentence) > MAX_TITLE_CHARS:
        sentence = sentence[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    return sentence[:1].upper() + sentence[1:]


def find_gaps(store: LearningStore, embedder: Embedder) -> list[Gap]:
    """Every gap group, open ones first, then by size (largest first)."""
    candidates = [r for r in store.resolutions() if is_gap(r)]
    states = store.gap_states()
    if not candidates:
        return []
    vectors = np.asarray(embedder.embed([r.first_question for r in candidates]), dtype=np.float32)
    pinned = {t: gid for gid, st in states.items() for t in st["ticket_ids"]}
    groups: list[list[int]] = []
    ids: list[str] = []
    centroids: list[np.ndarray] = []
    for i, res in enumerate(candidates):
        target = None
        if res.ticket_id in pinned and pinned[res.ticket_id] in ids:
            target = ids.index(pinned[res.ticket_id])
        elif centroids:
            sims = np.stack(centroids) @ vectors[i]
            j = int(np.argmax(sims))
            if sims[j] >= GROUP_SIMILARITY:
                target = j
        if target is None:
            groups.append([i])
            ids.append(pinned.get(res.ticket_id, gap_id_for(res.ticket_id)))
            centroids.append(vectors[i])
        else:
            groups[target].append(i)
            mean = vectors[groups[target]].mean(axis=0)
            centroids[target] = mean / (np.linalg.norm(mean) or 1.0)
    gaps = [_gap(gid, [candidates[i] for i in members], vectors[members], states.get(gid))
            for gid, members in zip(ids, groups, strict=True)]
    rank = {GapStatus.OPEN: 0, GapStatus.PUBLISHED: 1, GapStatus.DISMISSED: 2}
    return sorted(gaps, key=lambda g: (rank[g.status], -g.count, g.gap_id))


def _gap(gap_id: str, members: list[Resolution], vectors: np.ndarray, state: dict | None) -> Gap:
    questions = [r.first_question for r in members]
    answers = list(dict.fromkeys(r.agent_reply.strip() for r in members if r.agent_reply.strip()))
    categories = [r.category for r in members if r.category]
    return Gap(
        gap_id=gap_id, questions=questions[:MAX_EXAMPLES], count=len(members),
        agent_answers=answers[:MAX_EXAMPLES],
        suggested_title=(state or {}).get("title") or suggested_title(questions, vectors),
        status=GapStatus((state or {}).get("status", GapStatus.OPEN.value)),
        ticket_ids=[r.ticket_id for r in members],
        cited_articles=list(dict.fromkeys(a for r in members for a in r.cited_articles)),
        category=max(set(categories), key=categories.count) if categories else None,
        article_id=(state or {}).get("article_id"),
    )


def get_gap(store: LearningStore, embedder: Embedder, gap_id: str) -> Gap:
    for gap in find_gaps(store, embedder):
        if gap.gap_id == gap_id:
            return gap
    raise NotFound(f"There is no knowledge gap {gap_id} (list them with: deskpilot gaps).")


def article_markdown(gap: Gap, title: str, body: str | None = None) -> str:
    """The article: front matter saying where it came from, the questions customers asked,
    and the agents' answer (the most recent one, unless an edited ``body`` is given)."""
    answer = (body if body is not None else (gap.agent_answers[-1] if gap.agent_answers else ""))
    meta = {
        "title": title,
        "category": gap.category or "general",
        "source": "written from resolved tickets",
        "resolved_tickets": gap.ticket_ids,
        "gap_id": gap.gap_id,
        "last_updated": utcnow().date().isoformat(),
    }
    asked = "\n".join(f"- {q}" for q in dict.fromkeys(gap.questions))
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
    return (f"---\n{front}\n---\n# {title}\n\n## Customers ask\n\n{asked}\n\n"
            f"## Answer\n\n{answer.strip()}\n")


def publish_gap(
    store: LearningStore,
    kb: object,
    feedback: RetrievalFeedback | None,
    gap_id: str,
    *,
    data_dir: Path,
    title: str | None = None,
    body: str | None = None,
    actor: str = "manager",
) -> tuple[Gap, str]:
    """Write, ingest and mark published; returns the gap and the new article id."""
    embedder: Embedder = kb.embedder  # type: ignore[attr-defined]
    gap = get_gap(store, embedder, gap_id)
    if gap.status is not GapStatus.OPEN:
        raise InputError(f"Gap {gap_id} is already {gap.status.value}.")
    if not gap.agent_answers and not (body or "").strip():
        raise InputError(f"Gap {gap_id} has no agent answer to publish.")
    title = " ".join((title or gap.suggested_title).split())
    if not title:
        raise InputError("An article needs a title.")
    folder = data_dir / "kb_from_resolutions"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{gap_id}.md"
    path.write_text(article_markdown(gap, title, body), encoding="utf-8")
    result = kb.ingest_paths([path])[0]  # type: ignore[attr-defined]
    if result.status is IngestStatus.FAILED or not result.article_id:
        raise InputError(f"The article could not be ingested: {result.error}")
    store.set_gap_state(gap_id, GapStatus.PUBLISHED, ticket_ids=gap.ticket_ids, title=title,
                        article_id=result.article_id, actor=actor, at=utcnow())
    if feedback is not None:
        feedback.record_published(gap.questions, result.article_id, gap.ticket_ids, actor)
    return gap.model_copy(update={"status": GapStatus.PUBLISHED,
                                  "article_id": result.article_id,
                                  "suggested_title": title}), result.article_id


def dismiss_gap(store: LearningStore, embedder: Embedder, gap_id: str, actor: str = "manager"
                ) -> Gap:
    gap = get_gap(store, embedder, gap_id)
    if gap.status is not GapStatus.OPEN:
        raise InputError(f"Gap {gap_id} is already {gap.status.value}.")
    store.set_gap_state(gap_id, GapStatus.DISMISSED, ticket_ids=gap.ticket_ids,
                        title=gap.suggested_title, actor=actor, at=utcnow())
    return gap.model_copy(update={"status": GapStatus.DISMISSED})
