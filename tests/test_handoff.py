"""Handoff: a specific first move for the agent, and a complete, independent package."""

from __future__ import annotations

from typing import Any

import pytest

from support_core import handoff
from support_core.config import Settings
from support_core.errors import InputError
from support_core.handoff import (
    BILLING,
    LEGAL,
    MAX_HINTS,
    NO_DRAFT,
    latest_question,
)
from support_core.models import (
    ConfidenceEvidence,
    CustomerSummary,
    Draft,
    EscalationDecision,
    HandoffPackage,
    Message,
    Priority,
    Queue,
    Role,
    SearchHit,
    SentimentLevel,
    SentimentResult,
    Source,
    StageError,
    Ticket,
)

QUESTION = "Why was I charged twice for the March invoice?"
CONFIGURED = Settings(_env_file=None).frustration_threshold  # type: ignore[call-arg]


def suggest_action(*args: Any, frustration_threshold: float = CONFIGURED, **kwargs: Any) -> str:
    """The handoff's suggestion on a desk configured with the default settings."""
    return handoff.suggest_action(*args, frustration_threshold=frustration_threshold, **kwargs)


def build_handoff_package(ticket: Ticket, summary: CustomerSummary, conversation: list[Message],
                          frustration_threshold: float = CONFIGURED) -> HandoffPackage:
    return handoff.build_handoff_package(ticket, summary, conversation,
                                         frustration_threshold=frustration_threshold)


def decision(rule: str = "low_confidence", queue: Queue = Queue.TIER1,
             priority: Priority = Priority.MEDIUM) -> EscalationDecision:
    return EscalationDecision(should_escalate=True, queue=queue, priority=priority,
                              reason=f"because of {rule}", rule=rule)


def mood(level: SentimentLevel = SentimentLevel.NEUTRAL, frustration: float = 0.1,
         signals: tuple[str, ...] = ()) -> SentimentResult:
    return SentimentResult(level=level, confidence=0.9, frustration_score=frustration,
                           signals=list(signals))


def answered_draft(**update: object) -> Draft:
    draft = Draft(text="Here are the steps [1]", confidence=0.82, answered=True,
                  sources=[Source(article_id="refunds", title="How to request a refund")],
                  evidence=ConfidenceEvidence(top_dense=0.6, agreement=True, coverage=0.8,
                                              hits=3))
    return draft.model_copy(update=update)


def unanswered_draft() -> Draft:
    return Draft(text="Not covered.", confidence=0.1, answered=False)


# ----------------------------------------------------------------------------- suggest_action
def test_legal_threat_comes_first_and_forbids_admitting_liability() -> None:
    action = suggest_action(decision(), mood(SentimentLevel.ANGRY, 0.95, ("legal_threat",)),
                            answered_draft())
    assert action.startswith(LEGAL)
    assert "do not admit liability" in action


def test_legal_rule_alone_is_enough() -> None:
    assert suggest_action(decision("legal_threat"), mood(), answered_draft()).startswith(LEGAL)


def test_high_frustration_asks_for_empathy_and_a_timeline() -> None:
    action = suggest_action(decision(), mood(SentimentLevel.FRUSTRATED, 0.85,
                                             ("repeated_issue", "long_wait")), answered_draft())
    assert "empathy" in action and "timeline" in action
    assert "0.85" in action and "repeated_issue" in action


def test_angry_counts_as_high_frustration_below_the_threshold() -> None:
    action = suggest_action(decision(), mood(SentimentLevel.ANGRY, 0.4), answered_draft())
    assert "empathy" in action


def test_mild_frustration_gets_no_empathy_hint() -> None:
    action = suggest_action(decision(), mood(SentimentLevel.FRUSTRATED, 0.5), answered_draft())
    assert "empathy" not in action


def test_no_kb_answer_names_the_question_as_a_gap() -> None:
    action = suggest_action(decision(), mood(), unanswered_draft(), question=QUESTION)
    assert "custom answer" in action and "knowledge-base gap" in action
    assert QUESTION in action


def test_long_questions_are_shortened_in_the_gap_hint() -> None:
    action = suggest_action(decision(), mood(), unanswered_draft(), question="word " * 200)
    assert len(action) < 300 and action.endswith('…".')


def test_billing_dispute_points_at_the_charge_history() -> None:
    action = suggest_action(decision(), mood(signals=("billing_dispute",)), answered_draft())
    assert action == BILLING


def test_stage_failure_says_what_failed() -> None:
    errors = [StageError(stage="kb.search", error="Chroma is unreachable at localhost:8000")]
    action = suggest_action(decision("stage_failure"), mood(), None, stage_errors=errors)
    assert "kb.search" in action and "Chroma is unreachable" in action


def test_llm_fallback_is_mentioned_but_not_called_a_failure() -> None:
    errors = [StageError(stage="response.llm", error="timeout")]
    action = suggest_action(decision(), mood(), answered_draft(fallback_reason="timeout"),
                            stage_errors=errors)
    assert "language model failed" in action
    assert "response.llm stage" not in action


def test_plain_escalation_suggests_reviewing_the_draft_with_its_evidence() -> None:
    action = suggest_action(decision("repeat_contact"), mood(), answered_draft())
    assert "0.82" in action and '"How to request a refund"' in action


def test_missing_draft_is_not_mistaken_for_a_kb_gap() -> None:
    action = suggest_action(decision(), None, None, question=QUESTION)
    assert action == NO_DRAFT
    assert "knowledge-base gap" not in action


def test_suggestion_stays_short() -> None:
    action = suggest_action(
        decision("legal_threat"),
        mood(SentimentLevel.ANGRY, 0.99, ("legal_threat", "billing_dispute")),
        unanswered_draft(), stage_errors=[StageError(stage="intake", error="bad")],
        question=QUESTION)
    assert action.startswith(LEGAL) and "intake" in action  # the two most important hints
    for dropped in (BILLING, "empathy", "knowledge-base gap"):
        assert dropped not in action
    assert MAX_HINTS == 2


# ----------------------------------------------------------------------------- package
def ticket(**update: object) -> Ticket:
    hits = [SearchHit(chunk_id="refunds:0", article_id="refunds", title="Refunds", text="...",
                      dense_score=0.61, bm25_score=7.5, dense_rank=1, bm25_rank=1,
                      fused_score=0.0328)]
    trail = [mood(SentimentLevel.NEUTRAL, 0.2), mood(SentimentLevel.FRUSTRATED, 0.8)]
    base = Ticket(
        customer_id="c1", session_id="s1",
        messages=[Message(role=Role.CUSTOMER, content="first question"),
                  Message(role=Role.ASSISTANT, content="an answer"),
                  Message(role=Role.CUSTOMER, content=QUESTION)],
        retrieved=hits, sentiment=trail[-1], sentiment_trail=trail, draft=unanswered_draft(),
        escalation=decision("frustrated_low_confidence", Queue.TIER2, Priority.HIGH),
        stage_errors=[StageError(stage="intake.classify", error="model unavailable")],
        contact_count=2,
    )
    return base.model_copy(update=update)


SUMMARY = CustomerSummary(customer_id="c1", total_interactions=4, recent_topics=["billing"],
                          previous_escalations=1)


def test_package_copies_routing_and_context() -> None:
    t = ticket()
    package = build_handoff_package(t, SUMMARY, t.messages)
    assert (package.ticket_id, package.customer_id, package.session_id) == (
        t.ticket_id, "c1", "s1")
    assert (package.queue, package.priority, package.rule) == (
        Queue.TIER2, Priority.HIGH, "frustrated_low_confidence")
    assert package.reason == "because of frustrated_low_confidence"
    assert package.customer == SUMMARY
    assert package.conversation == t.messages
    assert [s.frustration_score for s in package.sentiment_trail] == [0.2, 0.8]
    # The AI said "not covered" but retrieval found a relevant article: the agent gets it.
    assert package.draft is not None and package.draft != t.draft
    assert [src.article_id for src in package.draft.sources] == ["refunds"]
    assert "not sent" in package.draft_note
    assert package.stage_errors == t.stage_errors


def test_package_keeps_retrieval_scores() -> None:
    retrieved = build_handoff_package(ticket(), SUMMARY, []).retrieved[0]
    assert (retrieved.dense_score, retrieved.bm25_score, retrieved.fused_score) == (
        0.61, 7.5, 0.0328)
    assert (retrieved.dense_rank, retrieved.bm25_rank) == (1, 1)


def test_package_suggestion_reflects_sentiment_and_stage_errors() -> None:
    package = build_handoff_package(ticket(), SUMMARY, [])
    assert "empathy" in package.suggested_action
    assert "intake.classify" in package.suggested_action


def test_package_gap_hint_names_the_question() -> None:
    calm = ticket(sentiment=mood(), sentiment_trail=[mood()], stage_errors=[], retrieved=[])
    package = build_handoff_package(calm, SUMMARY, calm.messages)
    assert QUESTION in package.suggested_action
    assert package.draft == calm.draft and "does not cover" in package.draft_note


def _hit(article: str, dense: float, text: str, fused: float) -> SearchHit:
    return SearchHit(chunk_id=f"{article}:0", article_id=article, title=article.title(),
                     text=text, dense_score=dense, dense_rank=1, fused_score=fused,
                     source_url=f"https://help.example/{article}")


def test_agent_draft_quotes_the_best_relevant_passages_with_sources() -> None:
    hits = [_hit("refunds", 0.58, "Refunds go back to the original card. They take 5 days.", 0.9),
            _hit("invoices", 0.41, "Download invoices from Billing > History.", 0.5),
            _hit("themes", 0.12, "Pick a theme in Settings.", 0.1)]
    t = ticket(retrieved=hits, sentiment=mood(), sentiment_trail=[mood()], stage_errors=[])
    package = build_handoff_package(t, SUMMARY, t.messages)
    draft = package.draft
    assert draft is not None and draft.generator == "retrieved-passages"
    assert [s.article_id for s in draft.sources] == ["refunds", "invoices"]  # themes: irrelevant
    assert "Refunds go back to the original card. They take 5 days. [1]" in draft.text
    assert "Invoices" not in draft.text and draft.text.endswith("History. [2]")
    assert "[2] Invoices — https://help.example/invoices" in draft.text_with_sources()
    assert "I checked our knowledge base" not in draft.text
    assert "flag a knowledge-base gap" not in package.suggested_action
    assert '"Refunds"' in package.suggested_action


def test_agent_draft_is_the_answer_when_the_ai_had_one() -> None:
    t = ticket(draft=answered_draft())
    package = build_handoff_package(t, SUMMARY, t.messages)
    assert package.draft == t.draft and "would have given" in package.draft_note


def test_frustration_threshold_setting_changes_the_suggested_action() -> None:
    t = ticket(sentiment=mood(SentimentLevel.FRUSTRATED, 0.6), stage_errors=[],
               draft=answered_draft())
    default = build_handoff_package(t, SUMMARY, t.messages)
    lowered = build_handoff_package(t, SUMMARY, t.messages, frustration_threshold=0.5)
    assert "empathy" not in default.suggested_action
    assert "empathy" in lowered.suggested_action


def test_package_is_independent_of_later_ticket_changes() -> None:
    t = ticket()
    conversation = list(t.messages)
    package = build_handoff_package(t, SUMMARY, conversation)
    t.retrieved[0].text = "changed"
    t.sentiment_trail.append(mood(SentimentLevel.ANGRY, 1.0))
    conversation[0].content = "edited"
    assert package.retrieved[0].text == "..."
    assert len(package.sentiment_trail) == 2
    assert package.conversation[0].content == "first question"


def test_empty_conversation_falls_back_to_ticket_messages() -> None:
    t = ticket()
    assert build_handoff_package(t, SUMMARY, []).conversation == t.messages


def test_single_sentiment_without_trail_is_kept() -> None:
    package = build_handoff_package(ticket(sentiment_trail=[]), SUMMARY, [])
    assert [s.level for s in package.sentiment_trail] == [SentimentLevel.FRUSTRATED]


def test_unrouted_ticket_cannot_be_handed_off() -> None:
    with pytest.raises(InputError, match="not been routed"):
        build_handoff_package(ticket(escalation=None), SUMMARY, [])


def test_latest_question_prefers_the_conversation_then_the_subject() -> None:
    t = ticket()
    assert latest_question([Message(role=Role.CUSTOMER, content="from session")], t) == \
        "from session"
    assert latest_question([], t) == QUESTION
    assert latest_question([], ticket(messages=[], subject="Subject line")) == "Subject line"


@pytest.mark.parametrize("demo", [True, False])
def test_demo_flag_travels_with_the_package(demo: bool) -> None:
    assert build_handoff_package(ticket(is_demo=demo), SUMMARY, []).is_demo is demo


def test_a_request_for_a_person_is_never_called_a_kb_gap() -> None:
    t = ticket(retrieved=[], stage_errors=[], sentiment=mood(), sentiment_trail=[mood()],
               escalation=decision("asked_for_human"))
    package = build_handoff_package(t, SUMMARY, t.messages)
    assert "knowledge-base gap" not in package.suggested_action
    assert "asked for a person" in package.suggested_action
