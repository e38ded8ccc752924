"""Typed records of the learning loop."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from support_core.models import utcnow


class DraftUse(str, Enum):
    """What the agent did with the AI's draft (their first reply compared with it)."""

    AS_IS = "as_is"
    EDITED = "edited"
    DISCARDED = "discarded"
    NO_DRAFT = "no_draft"  # the AI had no draft, or the agent resolved without replying


class Resolution(BaseModel):
    """One human resolution of an escalated ticket: what was asked, what the person answered,
    what they cited, and what they did with the AI's draft."""

    ticket_id: str
    handoff_id: str
    customer_id: str
    agent: str
    questions: list[str]  # the customer's messages, oldest first
    agent_reply: str = ""  # the agent's final reply
    cited_articles: list[str] = Field(default_factory=list)
    draft_text: str = ""
    draft_answered: bool = False  # False: the AI said the KB holds no answer (or had no draft)
    draft_confidence: float | None = None
    draft_sources: list[str] = Field(default_factory=list)
    draft_use: DraftUse = DraftUse.NO_DRAFT
    edit_distance: int | None = None  # Levenshtein, draft -> first agent reply
    edit_similarity: float | None = None  # 0..1 (1 = unchanged)
    escalation_reason: str | None = None
    escalation_rule: str | None = None
    queue: str | None = None
    category: str | None = None
    resolved_at: datetime = Field(default_factory=utcnow)
    is_demo: bool = False
    csat: int | None = None  # filled on read from the rating that followed, if any

    @property
    def first_question(self) -> str:
        return self.questions[0] if self.questions else ""


class GapStatus(str, Enum):
    OPEN = "open"
    PUBLISHED = "published"
    DISMISSED = "dismissed"


class Gap(BaseModel):
    """Resolutions about one topic the AI could not answer well."""

    gap_id: str
    questions: list[str]
    count: int
    agent_answers: list[str]
    suggested_title: str
    status: GapStatus = GapStatus.OPEN
    ticket_ids: list[str] = Field(default_factory=list)
    cited_articles: list[str] = Field(default_factory=list)
    category: str | None = None
    article_id: str | None = None  # set once published

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class FeedbackPair(BaseModel):
    """A human-verified positive: for this question, this article is the right one."""

    question: str
    article_id: str
    source: str  # "agent_citation" or "published_gap"; never the AI's own replies
    ticket_id: str | None = None
    agent: str | None = None
    rank_before: int | None = None  # the article's rank for the question when it was cited
    at: datetime = Field(default_factory=utcnow)
