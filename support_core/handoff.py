"""Hand a ticket to a human with everything they need, so the customer never repeats themselves.

The package copies what every stage produced: the conversation, the sentiment
trail, the AI draft with its evidence, the retrieved passages with their scores,
any stage failures, and the router's reason. ``suggest_action`` adds a short,
specific first move for the agent; it is a nudge, not a directive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from support_core.confidence import DENSE_FLOOR, best_hits
from support_core.errors import InputError
from support_core.models import (
    ConfidenceEvidence,
    CustomerSummary,
    Draft,
    EscalationDecision,
    HandoffPackage,
    Message,
    Role,
    SearchHit,
    SentimentLevel,
    SentimentResult,
    Signal,
    Source,
    StageError,
    Ticket,
)

MAX_HINTS = 2  # more than two suggestions stop being a starting point
LLM_STAGE = "response.llm"  # the pipeline's stage name for "LLM failed, composer answered"
_QUOTE_CHARS = 140

LEGAL = "Loop in legal before replying; do not admit liability."
EMPATHY = "Lead with empathy and give a concrete timeline for the fix{detail}."
BILLING = "Check the invoice and charge history for duplicate or unexpected charges first."
KB_GAP = 'Write a custom answer and flag a knowledge-base gap: "{question}".'
STAGE_FAILED = "{stages} failed ({error}); check that part by hand before replying."
LLM_FALLBACK = (
    "The language model failed, so the draft was quoted from the knowledge base; "
    "check that it reads well."
)
REVIEW_DRAFT = "Review the AI draft (confidence {confidence:.2f}, from {titles}); send or edit it."
NO_DRAFT = "No AI draft was produced; read the conversation and reply directly."
PERSON = "The customer asked for a person: reply yourself, picking up where the conversation is."
PASSAGE_DRAFT = (
    "The AI did not answer on its own; the draft below quotes the closest passages "
    "({titles}): check they fit before sending."
)
DRAFT_NOTE_ANSWER = "AI draft, not sent to the customer: the answer the AI would have given."
DRAFT_NOTE_PASSAGES = (
    "AI draft, not sent to the customer: the best retrieved passages, for you to adapt."
)
DRAFT_NOTE_NONE = "Nothing relevant was retrieved: the knowledge base does not cover this."
DRAFT_PASSAGES = 2  # passages quoted in a draft built from retrieval
_PASSAGE_CHARS = 500
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def suggest_action(
    decision: EscalationDecision,
    sentiment: SentimentResult | None,
    draft: Draft | None,
    *,
    stage_errors: Sequence[StageError] = (),
    question: str = "",
    frustration_threshold: float,
) -> str:
    """The agent's first move, most important first, at most ``MAX_HINTS`` sentences.
    ``frustration_threshold`` is the configured ``Settings.frustration_threshold``."""
    signals: set[str] = set(sentiment.signals) if sentiment else set()
    failures = [e for e in stage_errors if e.stage != LLM_STAGE]
    hints = [
        LEGAL if "legal_threat" in signals or decision.rule == "legal_threat" else "",
        _stage_hint(failures),
        _empathy_hint(sentiment, frustration_threshold),
        BILLING if "billing_dispute" in signals else "",
        PERSON if decision.rule == "asked_for_human" else _draft_hint(draft, question),
        LLM_FALLBACK if _llm_failed(draft, stage_errors) else "",
    ]
    chosen = [h for h in hints if h][:MAX_HINTS]
    return " ".join(chosen) if chosen else _review_hint(draft)


def _llm_failed(draft: Draft | None, stage_errors: Sequence[StageError]) -> bool:
    return bool(draft and draft.fallback_reason) or any(e.stage == LLM_STAGE for e in stage_errors)


def _stage_hint(failures: Sequence[StageError]) -> str:
    if not failures:
        return ""
    stages = " and ".join(dict.fromkeys(f"the {e.stage} stage" for e in failures))
    stages = stages[0].upper() + stages[1:]
    return STAGE_FAILED.format(stages=stages, error=_shorten(failures[0].error))


def _empathy_hint(sentiment: SentimentResult | None, threshold: float) -> str:
    if sentiment is None:
        return ""
    if sentiment.frustration_score < threshold and sentiment.level != SentimentLevel.ANGRY:
        return ""
    shown = [s for s in sentiment.signals
             if s not in (Signal.LEGAL_THREAT, Signal.BILLING_DISPUTE, Signal.ASKED_FOR_HUMAN)]
    detail = f" (frustration {sentiment.frustration_score:.2f}"
    detail += f"; {', '.join(shown)})" if shown else ")"
    return EMPATHY.format(detail=detail)


def _draft_hint(draft: Draft | None, question: str) -> str:
    """No draft: reply directly. A draft built from passages: check it. A draft saying
    "not covered" (nothing relevant retrieved): a KB gap to write up."""
    if draft is None:
        return NO_DRAFT
    if draft.answered:
        return ""
    if draft.generator == PASSAGE_GENERATOR and draft.sources:
        titles = ", ".join(dict.fromkeys(f'"{s.title}"' for s in draft.sources))
        return PASSAGE_DRAFT.format(titles=titles)
    return KB_GAP.format(question=_shorten(question) or "see the conversation")


# ----------------------------------------------------------------------------- the agent's draft
PASSAGE_GENERATOR = "retrieved-passages"


def relevant_hits(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """Hits whose dense similarity is above the level confidence treats as no evidence,
    or that keyword search also found: what retrieval really found."""
    return [h for h in hits
            if (h.dense_score or 0.0) > DENSE_FLOOR or (h.bm25_rank is not None
                                                         and h.dense_rank is not None)]


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= _PASSAGE_CHARS:
        return flat
    cut, out = flat[:_PASSAGE_CHARS], ""
    for sentence in _SENTENCE_END.split(cut):
        if len(out) + len(sentence) + 1 > _PASSAGE_CHARS - 1:
            break
        out = f"{out} {sentence}".strip()
    return out or cut.rstrip() + "…"


def draft_for_agent(draft: Draft | None, hits: Sequence[SearchHit]) -> tuple[Draft | None, str]:
    """The draft an agent starts from, and a note saying what it is (never sent as is).

    The AI's answer when it had one; otherwise the best relevant passages, numbered and
    cited; the "not covered" draft only when retrieval found nothing relevant."""
    if draft is not None and draft.answered:
        return draft, DRAFT_NOTE_ANSWER
    relevant = relevant_hits(hits)
    if not relevant:
        return draft, DRAFT_NOTE_NONE
    chosen, seen = [], set()
    for hit in best_hits(relevant, len(relevant)):
        if hit.article_id not in seen:
            chosen.append(hit)
            seen.add(hit.article_id)
        if len(chosen) == DRAFT_PASSAGES:
            break
    sources = [Source(article_id=h.article_id, title=h.title, url=h.source_url,
                      heading=" > ".join(h.heading_path)) for h in chosen]
    body = "\n\n".join(f"{_excerpt(h.text)} [{i}]" for i, h in enumerate(chosen, 1))
    return Draft(
        text=f"Hi there,\n\n{body}", confidence=draft.confidence if draft else 0.0, answered=False,
        sources=sources, evidence=draft.evidence if draft else ConfidenceEvidence(),
        generator=PASSAGE_GENERATOR,
    ), DRAFT_NOTE_PASSAGES


def _review_hint(draft: Draft | None) -> str:
    if draft is None:
        return NO_DRAFT
    titles = ", ".join(dict.fromkeys(f'"{s.title}"' for s in draft.sources)) or "no sources"
    return REVIEW_DRAFT.format(confidence=draft.confidence, titles=titles)


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _QUOTE_CHARS else flat[: _QUOTE_CHARS - 1].rstrip() + "…"


def build_handoff_package(
    ticket: Ticket, summary: CustomerSummary, conversation: list[Message],
    *, frustration_threshold: float,
) -> HandoffPackage:
    """Everything a human needs, copied so later changes to the ticket cannot alter it.
    ``frustration_threshold`` is the configured ``Settings.frustration_threshold``."""
    decision = ticket.escalation
    if decision is None:
        raise InputError(
            f"Ticket {ticket.ticket_id} has not been routed yet, so it cannot be handed off."
        )
    t = ticket.model_copy(deep=True)
    messages = [m.model_copy(deep=True) for m in conversation] or t.messages
    trail = t.sentiment_trail or ([t.sentiment] if t.sentiment else [])
    draft, note = draft_for_agent(t.draft, t.retrieved)
    action = suggest_action(decision, t.sentiment, draft, stage_errors=t.stage_errors,
                            question=latest_question(messages, t),
                            frustration_threshold=frustration_threshold)
    return HandoffPackage(
        ticket_id=t.ticket_id, customer_id=t.customer_id, session_id=t.session_id,
        is_demo=t.is_demo,
        queue=decision.queue, priority=decision.priority, reason=decision.reason,
        rule=decision.rule, suggested_action=action, customer=summary.model_copy(deep=True),
        conversation=messages, sentiment_trail=trail, draft=draft, draft_note=note,
        retrieved=t.retrieved, stage_errors=t.stage_errors,
    )


def latest_question(conversation: Sequence[Message], ticket: Ticket) -> str:
    """The customer's most recent message: the question a KB gap is named after."""
    for messages in (conversation, ticket.messages):
        for message in reversed(messages):
            if message.role == Role.CUSTOMER:
                return message.content
    return ticket.subject
