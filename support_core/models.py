"""Typed records shared by every stage.

A customer message becomes a :class:`Ticket`; each pipeline stage fills in one
field of it (``intake``, ``retrieved``, ``sentiment``, ``draft``, ``escalation``)
and appends to ``stage_errors`` when it fails, so whoever reads the ticket later
(the router, the human agent, the trace page) sees everything that happened.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from enum import Enum, StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

_CLOCK_OFFSET: ContextVar[timedelta] = ContextVar("clock_offset", default=timedelta(0))


def utcnow() -> datetime:
    """Now, in UTC. Every stage asks this function, so demo data can be dated in the past."""
    return datetime.now(timezone.utc) + _CLOCK_OFFSET.get()


@contextmanager
def shifted_clock(offset: timedelta) -> Iterator[None]:
    """Make ``utcnow`` run ``offset`` away from real time (demo data spread over past days)."""
    token = _CLOCK_OFFSET.set(offset)
    try:
        yield
    finally:
        _CLOCK_OFFSET.reset(token)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# ----------------------------------------------------------------------------- knowledge base
class Article(BaseModel):
    article_id: str
    title: str
    text: str
    category: str = "general"
    product: str = "general"
    last_updated: str = ""
    source_url: str = ""
    source_path: str = ""
    format: Literal["markdown", "text", "html", "pdf"] = "markdown"


class Chunk(BaseModel):
    chunk_id: str  # f"{article_id}:{position}"
    article_id: str
    text: str  # the chunk's own text (what the customer may be shown)
    heading_path: list[str] = Field(default_factory=list)
    position: int = 0
    title: str = ""
    category: str = "general"
    product: str = "general"
    last_updated: str = ""
    source_url: str = ""

    def embedding_text(self) -> str:
        """What is embedded and BM25-indexed: title and heading path give short chunks context."""
        head = " > ".join([self.title, *[h for h in self.heading_path if h != self.title]])
        return f"{head}\n{self.text}" if head else self.text


class SearchHit(BaseModel):
    chunk_id: str
    article_id: str
    title: str
    heading_path: list[str] = Field(default_factory=list)
    text: str
    category: str = "general"
    product: str = "general"
    source_url: str = ""
    # On the first hit of an article (KnowledgeBase.search lists each article's best chunk
    # first), the four retriever fields below describe the *article*: its best value over
    # all its candidate chunks, which may come from different chunks, and its rank among
    # articles. dense_rank == 1 therefore means "this article holds the dense top chunk".
    # Further hits of the same article carry their own chunk's scores and chunk ranks.
    dense_score: float | None = None  # cosine similarity, None if not retrieved densely
    bm25_score: float | None = None  # raw BM25, None if not retrieved by keywords
    dense_rank: int | None = None  # 1-based
    bm25_rank: int | None = None  # 1-based
    fused_score: float = 0.0  # article fusion (Settings.fusion): 0..1 for "score", RRF for "rrf"


class IngestStatus(str, Enum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


class IngestResult(BaseModel):
    source: str
    status: IngestStatus
    article_id: str | None = None
    title: str | None = None
    chunks: int = 0
    error: str | None = None
    flags: list[str] = Field(default_factory=list)  # "chunk_id: flag,flag" held for approval


class ArticleInfo(BaseModel):
    article_id: str
    title: str
    category: str
    product: str
    source_url: str = ""
    source_path: str = ""
    last_updated: str = ""
    chunks: int = 0
    ingested_at: str = ""


class Source(BaseModel):
    """A knowledge-base article a reply cites; a reply's ``[n]`` marker is its n-th source."""

    article_id: str
    title: str
    url: str = ""
    heading: str = ""


SOURCES_HEADING = "Sources:"
# How replies ended before body and sources were kept apart: "\n\nSources:\n[1] Title — url".
_STORED_SOURCES_BLOCK = re.compile(r"\n+Sources:\n(?:\[\d+\] [^\n]*(?:\n|\Z))+\Z")


def with_sources(body: str, sources: Sequence[Source]) -> str:
    """The body and its numbered source list as one plain text, for edges that print it
    (the CLI); everywhere else body and sources travel apart."""
    if not sources:
        return body
    lines = [f"[{i}] {s.title}" + (f" — {s.url}" if s.url else "")
             for i, s in enumerate(sources, start=1)]
    return "\n\n".join([body, "\n".join([SOURCES_HEADING, *lines])])


def without_sources_block(text: str) -> str:
    """``text`` without the plain-text source list replies carried when stored before
    sources were kept apart (the list is in the structured sources)."""
    return _STORED_SOURCES_BLOCK.sub("", text)


# ----------------------------------------------------------------------------- conversation
class Role(str, Enum):
    CUSTOMER = "customer"
    ASSISTANT = "assistant"  # the AI
    AGENT = "agent"  # a human agent
    SYSTEM = "system"


class MessageMetadata(BaseModel):
    """What the stages attach to a message. The keys written today are typed fields; other
    keys are allowed (``extra="allow"``), so a module can add its own without a migration.

    Stored JSON is the same as the plain dict it replaced: only keys that were set are
    written, and old rows load unchanged. Dict-style access (``get``, ``[]``, ``in``,
    ``update``) keeps working for callers written against the dict.
    """

    model_config = ConfigDict(extra="allow")

    ticket_id: str | None = None
    session_id: str | None = None
    category: str | None = None  # intake category of a customer message
    topic_articles: list[str] | None = None  # top KB articles it retrieved (same-issue test)
    sources: list[Source] | None = None  # cited articles of a reply ([n] = n-th source)
    confidence: float | None = None  # readout under a reply
    sentiment_level: str | None = None
    frustration: float | None = None
    holding: bool | None = None  # a holding reply while a human takes over
    agent: str | None = None  # the human agent who wrote it
    clarify_options: list[dict[str, str]] | None = None  # a clarifying question's topics

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.model_fields_set

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self else default

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return getattr(self, key)

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Message(BaseModel):
    role: Role
    content: str
    timestamp: datetime = Field(default_factory=utcnow)
    metadata: MessageMetadata = Field(default_factory=MessageMetadata)

    @field_serializer("metadata")
    def _only_set_keys(self, metadata: MessageMetadata) -> dict[str, Any]:
        return metadata.as_dict()

    def body(self) -> str:
        """The text to show beside the structured sources: a reply stored before they were
        kept apart still ends in a plain "Sources:" list, dropped here."""
        return without_sources_block(self.content) if self.metadata.sources else self.content


class CustomerSummary(BaseModel):
    customer_id: str
    total_interactions: int = 0  # customer messages in history
    recent_topics: list[str] = Field(default_factory=list)
    last_contact: datetime | None = None
    previous_escalations: int = 0


# ----------------------------------------------------------------------------- stages
class Priority(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


PRIORITY_ORDER = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


class IntakeResult(BaseModel):
    priority: Priority = Priority.MEDIUM
    category: str | None = None
    product: str | None = None
    entities: dict[str, list[str]] = Field(default_factory=dict)  # kind -> values
    reasons: list[str] = Field(default_factory=list)
    backend: str = "rules"


class SentimentLevel(str, Enum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    FRUSTRATED = "frustrated"
    ANGRY = "angry"
    URGENT = "urgent"


class Signal(StrEnum):
    """The named escalation signals. A ``StrEnum``, so ``Signal.LEGAL_THREAT == "legal_threat"``
    and stored results (plain strings) still load."""

    REPEATED_ISSUE = "repeated_issue"
    LONG_WAIT = "long_wait"
    THREATENING_CHURN = "threatening_churn"
    PROFANITY = "profanity"
    ALL_CAPS = "all_caps"
    MULTIPLE_EXCLAMATIONS = "multiple_exclamations"
    LEGAL_THREAT = "legal_threat"
    BILLING_DISPUTE = "billing_dispute"
    TIME_PRESSURE = "time_pressure"
    PREVIOUS_ESCALATION = "previous_escalation"
    ASKED_FOR_HUMAN = "asked_for_human"


SIGNALS: tuple[Signal, ...] = tuple(Signal)


class SignalEvidence(BaseModel):
    """One signal and the words (or record) that triggered it, for the router and the agent."""

    signal: Signal
    phrases: list[str] = Field(default_factory=list)  # verbatim from the message, may be empty
    source: str = "message"  # "message", "history" or "conversation"


class SentimentResult(BaseModel):
    level: SentimentLevel
    confidence: float = Field(ge=0.0, le=1.0)
    frustration_score: float = Field(ge=0.0, le=1.0)
    signals: list[Signal] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)  # why, for the agent and the trace
    backend: str = "rules"
    evidence: list[SignalEvidence] = Field(default_factory=list)  # structured, per signal
    message_score: float | None = None  # this message alone, before the session's mood

    def phrases(self, signal: Signal | str) -> list[str]:
        """The matched phrases recorded for one signal (empty when none or not present)."""
        return [p for e in self.evidence if e.signal == signal for p in e.phrases]


class ConfidenceEvidence(BaseModel):
    """What the confidence number is made of, so nobody has to trust a model's word."""

    top_dense: float = 0.0
    agreement: bool = False  # dense and BM25 top-1 article are the same
    coverage: float = 0.0  # share of the question's content words found in the used chunks
    hits: int = 0
    # With Settings.confidence_model == "calibrated" (support_core.calibrated_confidence):
    # the calibrated confidence that ``answerable`` compares, and the features it came from.
    calibrated: float | None = None
    features: dict[str, float] = Field(default_factory=dict)


class SearchPlan(BaseModel):
    """How the knowledge base was searched for a customer message, and why
    (``support_core.kb.conversation_query``): shown on the ticket trace."""

    strategy: Literal["plan", "last", "joined"] = "plan"  # Settings.conversation_search
    query: str  # the latest message, always searched on its own
    context_query: str | None = None  # earlier turns (+ topic title) with it, when searched
    continuation: bool = False  # the message continues the current topic
    reason: str = ""
    current_article: str | None = None  # cited by the last answer (or the last turn's top)
    previous_turns: int = 0  # earlier customer turns taken into account
    similarity: float | None = None  # cosine of the message to the earlier turns
    rewritten: bool = False  # context_query was written by the LLM (kb.query_rewrite)


class Draft(BaseModel):
    """A reply: ``text`` is the body with compact ``[n]`` markers, ``sources`` the list they
    number; :meth:`text_with_sources` joins them where plain text is needed."""

    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    answered: bool  # False when the KB holds no answer and the draft says so
    sources: list[Source] = Field(default_factory=list)
    evidence: ConfidenceEvidence = Field(default_factory=ConfidenceEvidence)
    generator: str = "grounded-composer"
    tokens_used: int = 0
    fallback_reason: str | None = None  # set when the LLM failed and the composer answered
    # output guard (support_core/output_guard.py): send, or hold as an agent's draft
    autonomy: Literal["send", "draft_only", "escalate"] = "send"
    guard_failures: list[str] = Field(default_factory=list)

    @field_validator("text")
    @classmethod
    def _body_only(cls, text: str) -> str:
        return without_sources_block(text)  # a draft stored with its list appended

    def text_with_sources(self) -> str:
        return with_sources(self.text, self.sources)


class Queue(str, Enum):
    AUTO = "auto"
    TIER1 = "tier1"
    TIER2 = "tier2"
    MANAGER = "manager"


class EscalationDecision(BaseModel):
    should_escalate: bool
    queue: Queue
    priority: Priority
    reason: str
    rule: str  # e.g. "angry_or_urgent", "legal_threat", "frustrated_low_confidence", ...
    inputs: dict[str, Any] = Field(default_factory=dict)


# ----------------------------------------------------------------------------- lifecycle
class TicketStatus(str, Enum):
    CREATED = "created"
    PROCESSING = "processing"
    AWAITING_CUSTOMER = "awaiting_customer"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class Transition(BaseModel):
    from_status: TicketStatus | None
    to_status: TicketStatus
    at: datetime = Field(default_factory=utcnow)
    actor: str = "system"
    reason: str = ""


class StageError(BaseModel):
    stage: str
    error: str
    at: datetime = Field(default_factory=utcnow)


class Ticket(BaseModel):
    ticket_id: str = Field(default_factory=lambda: new_id("tkt"))
    customer_id: str
    session_id: str
    subject: str = ""
    status: TicketStatus = TicketStatus.CREATED
    priority: Priority = Priority.MEDIUM
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    messages: list[Message] = Field(default_factory=list)
    intake: IntakeResult | None = None
    retrieved: list[SearchHit] = Field(default_factory=list)
    search_plan: SearchPlan | None = None  # how the latest message was searched
    sentiment: SentimentResult | None = None
    sentiment_trail: list[SentimentResult] = Field(default_factory=list)
    draft: Draft | None = None
    escalation: EscalationDecision | None = None
    stage_errors: list[StageError] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)
    contact_count: int = 1  # contacts about this issue, counting this one
    is_demo: bool = False
    version: int = 0  # bumped by every save; a save from a stale copy is refused (see store)
    linked_ticket_id: str | None = None  # an earlier ticket of this customer on another issue


# ----------------------------------------------------------------------------- handoff
class HandoffStatus(str, Enum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    RESOLVED = "resolved"


class InternalNote(BaseModel):
    """A private note between staff on a handoff."""

    author: str
    at: datetime
    text: str


class HandoffPackage(BaseModel):
    handoff_id: str = Field(default_factory=lambda: new_id("hof"))
    ticket_id: str
    customer_id: str
    session_id: str
    created_at: datetime = Field(default_factory=utcnow)
    queue: Queue
    priority: Priority
    reason: str
    rule: str
    suggested_action: str
    customer: CustomerSummary
    conversation: list[Message]
    sentiment_trail: list[SentimentResult]
    draft: Draft | None  # for the agent: never sent as is (see draft_note)
    retrieved: list[SearchHit]
    stage_errors: list[StageError] = Field(default_factory=list)
    is_demo: bool = False
    draft_note: str = ""  # what the draft is: the AI's answer, retrieved passages, or nothing
    status: HandoffStatus = HandoffStatus.QUEUED
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    first_reply_at: datetime | None = None
    resolved_at: datetime | None = None
    # filled by AgentDesk.package from the desk's audit log; never shown to the customer
    notes: list[InternalNote] = Field(default_factory=list)


# ----------------------------------------------------------------------------- results
class PipelineResult(BaseModel):
    """What the caller (CLI, Streamlit) needs; the full story is on ``ticket``."""

    ticket: Ticket
    action: Literal["auto_reply", "escalated", "clarify"]
    message: str
    handoff_id: str | None = None

    def text_with_sources(self) -> str:
        """The reply as plain text with the list of the sources it cites (auto-replies)."""
        draft = self.ticket.draft
        if self.action == "auto_reply" and draft is not None:
            return with_sources(self.message, draft.sources)
        return self.message

    def to_public_json(self) -> dict[str, Any]:
        t = self.ticket
        s = t.sentiment
        e = t.escalation
        return {
            "ticket_id": t.ticket_id,
            "action": self.action,
            "message": self.message,
            "confidence": t.draft.confidence if t.draft else 0.0,
            "sources": [src.model_dump() for src in (t.draft.sources if t.draft else [])],
            "sentiment": {
                "level": s.level.value if s else None,
                "frustration_score": s.frustration_score if s else None,
                "signals": list(s.signals) if s else [],
            },
            "escalation": {
                "should_escalate": e.should_escalate if e else True,
                "queue": e.queue.value if e else None,
                "priority": e.priority.value if e else None,
                "reason": e.reason if e else None,
                "rule": e.rule if e else None,
            },
        }
