"""Capture a human resolution when an agent resolves a handoff.

Called from :meth:`AgentDesk.resolve` (through its ``on_resolve`` hooks), so only tickets a
person owned and closed produce a record; auto-replied tickets a customer confirmed never
do. The draft comparison is between the AI's draft and the agent's *first* reply (what
they did with the draft), measured with rapidfuzz's Levenshtein distance.
"""

from __future__ import annotations

import logging
from typing import Protocol

from rapidfuzz.distance import Levenshtein

from support_core.learning.feedback import RetrievalFeedback
from support_core.learning.records import DraftUse, Resolution
from support_core.learning.store import LearningStore
from support_core.models import HandoffPackage, Role, Ticket, TicketStatus

log = logging.getLogger(__name__)

EDITED_MIN_SIMILARITY = 0.5  # below this the agent wrote their own answer: "discarded"
HEAVY_EDIT_SIMILARITY = 0.7  # below this an edited draft counts as a knowledge gap


class ArticleRanker(Protocol):
    def search_articles(self, query: str, k: int = ...) -> list[tuple[str, float]]: ...


def _normalise(text: str) -> str:
    return " ".join(text.split())


def draft_use(draft: str, first_reply: str | None) -> tuple[DraftUse, int | None, float | None]:
    """As-is / edited / discarded, with the edit distance and normalised similarity."""
    if not draft or first_reply is None:
        return DraftUse.NO_DRAFT, None, None
    a, b = _normalise(draft), _normalise(first_reply)
    distance = Levenshtein.distance(a, b)
    similarity = Levenshtein.normalized_similarity(a, b)
    if distance == 0:
        return DraftUse.AS_IS, 0, 1.0
    use = DraftUse.EDITED if similarity >= EDITED_MIN_SIMILARITY else DraftUse.DISCARDED
    return use, distance, round(similarity, 4)


def build_resolution(ticket: Ticket, handoff: HandoffPackage, agent: str) -> Resolution:
    """The typed record of a resolved ticket (no CSAT yet: it follows later)."""
    if ticket.status is not TicketStatus.RESOLVED:
        raise ValueError(f"Ticket {ticket.ticket_id} is not resolved.")
    questions = [m.content for m in ticket.messages if m.role is Role.CUSTOMER]
    replies = [m for m in ticket.messages if m.role is Role.AGENT]
    cited = [a for m in replies for a in m.metadata.get("cited_articles") or []]
    draft = ticket.draft
    use, distance, similarity = draft_use(
        draft.text if draft else "", replies[0].content if replies else None
    )
    esc = ticket.escalation
    return Resolution(
        ticket_id=ticket.ticket_id, handoff_id=handoff.handoff_id,
        customer_id=ticket.customer_id, agent=agent, questions=questions,
        agent_reply=replies[-1].content if replies else "",
        cited_articles=list(dict.fromkeys(cited)),
        draft_text=draft.text if draft else "", draft_answered=bool(draft and draft.answered),
        draft_confidence=draft.confidence if draft else None,
        draft_sources=[s.article_id for s in draft.sources] if draft else [],
        draft_use=use, edit_distance=distance, edit_similarity=similarity,
        escalation_reason=esc.reason if esc else handoff.reason,
        escalation_rule=esc.rule if esc else handoff.rule, queue=handoff.queue.value,
        category=ticket.intake.category if ticket.intake else None,
        is_demo=ticket.is_demo,
    )


def is_gap(res: Resolution) -> bool:
    """The AI could not answer, or the person discarded or heavily edited its draft, and the
    person did answer (there is something to write an article from)."""
    if not res.agent_reply.strip():
        return False
    if not res.draft_answered or res.draft_use in (DraftUse.DISCARDED, DraftUse.NO_DRAFT):
        return True
    return res.draft_use is DraftUse.EDITED and (res.edit_similarity or 0) < HEAVY_EDIT_SIMILARITY


class ResolutionRecorder:
    """The ``AgentDesk.on_resolve`` hook: store the record and the agent's citations."""

    def __init__(
        self, store: LearningStore, feedback: RetrievalFeedback | None, ranker: ArticleRanker
    ) -> None:
        self.store = store
        self.feedback = feedback
        self.ranker = ranker

    def __call__(self, ticket: Ticket, handoff: HandoffPackage, agent: str) -> Resolution:
        res = build_resolution(ticket, handoff, agent)
        self.store.save_resolution(res)
        if self.feedback is not None and res.cited_articles and res.first_question:
            # the KB's own ranking (without feedback): what search got wrong on its own
            ranking = [a for a, _ in self.ranker.search_articles(res.first_question, k=50)]
            self.feedback.record_citations(
                res.first_question, res.cited_articles, ranking,
                ticket_id=res.ticket_id, agent=agent,
            )
        return res
