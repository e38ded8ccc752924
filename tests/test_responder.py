"""The response stage: quoted, cited replies; honest "not covered"; the LLM path and its fallback.

LLM tests drive the real ``OpenAIChat`` adapter against a local server speaking
the OpenAI wire format; only the model's words are scripted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from support_core.adapters.openai_llm import OpenAIChat
from support_core.answer_select import answer_first
from support_core.confidence import ANSWERABLE_THRESHOLD, score_evidence
from support_core.models import (
    SOURCES_HEADING,
    CustomerSummary,
    Message,
    Role,
    SearchHit,
    SentimentLevel,
    SentimentResult,
)
from support_core.responder import (
    ACK_DEFAULT,
    ACK_FRUSTRATED,
    GREETING_ANONYMOUS,
    INTRO_PASSAGES,
    INTRO_STEPS,
    NO_ANSWER_PENALTY,
    NOT_COVERED,
    UNCITED_PENALTY,
    GroundedComposer,
    LLMResponder,
    numbered_steps,
    ordinal,
)
from support_core.testing.fake_openai import (
    Fail,
    FakeOpenAIServer,
    Slow,
    last_user_message,
    passages,
)
from support_core.tone import after_comma

STEPS_TEXT = """## Steps

1. Sign in and go to **Settings → Billing → Invoices**.
2. Find the invoice you want refunded.
3. Click the **⋯** menu next to the invoice and select **Request refund**.
   - *Duplicate charge*
   - *Other*
4. Click **Submit request**.

You receive a confirmation email with a request number."""

POLICY_TEXT = (
    "Annual plans can be refunded in full within 14 days of the charge. "
    "After that, unused time becomes a pro-rated credit. "
    "Monthly charges are not refundable except for duplicate charges."
)
TIMING_TEXT = (
    "Refunds appear on your statement 5 to 10 business days after they are issued. "
    "The billing team reviews each request within 2 business days."
)
PLANS = "Are annual plans refundable?"  # the refund policy answers it: passage [1] for a model
UNRELATED_TEXT = "Webhooks are retried with exponential back-off for up to 24 hours."


def hit(article: str, title: str, text: str, *, dense_rank: int, bm25_rank: int | None,
        dense: float = 0.6, fused: float = 0.0, url: str = "") -> SearchHit:
    return SearchHit(chunk_id=f"{article}:0", article_id=article, title=title, text=text,
                     heading_path=[title, "Details"], source_url=url, dense_score=dense,
                     bm25_score=5.0, dense_rank=dense_rank, bm25_rank=bm25_rank,
                     fused_score=fused)


def policy_hits() -> list[SearchHit]:
    """Dense and BM25 agree on the refund policy; two more articles follow."""
    return [
        hit("refund-policy", "Refund policy", POLICY_TEXT, dense_rank=1, bm25_rank=1,
            fused=0.033, url="https://help.example/refund-policy"),
        hit("refund-timing", "When refunds arrive", TIMING_TEXT, dense_rank=2, bm25_rank=2,
            dense=0.45, fused=0.032, url="https://help.example/refund-timing"),
        hit("webhooks", "Webhook retries", UNRELATED_TEXT, dense_rank=3, bm25_rank=None,
            dense=0.2, fused=0.016),
    ]


def steps_hits() -> list[SearchHit]:
    return [hit("request-refund", "How to request a refund", STEPS_TEXT, dense_rank=1,
                bm25_rank=1, fused=0.033, url="https://help.example/request-refund"),
            *policy_hits()[1:]]


def weak_hits() -> list[SearchHit]:
    """Retrievers disagree and similarity is low: the KB does not cover the question."""
    hits = policy_hits()
    return [hits[0].model_copy(update={"dense_score": 0.31, "bm25_rank": 2}),
            hits[1].model_copy(update={"dense_score": 0.2, "bm25_rank": 1}), hits[2]]


def sentiment(level: SentimentLevel, frustration: float = 0.5) -> SentimentResult:
    return SentimentResult(level=level, confidence=0.9, frustration_score=frustration)


def normalise(text: str) -> str:
    return " ".join(text.split())


def quoted_part(text: str, intro: str) -> str:
    """The quote: everything after the reply's one opening line, which ends with ``intro``."""
    line, quote = text.split("\n", 1)
    assert line.lower().endswith(intro.lower()), line
    return quote.strip()


# ----------------------------------------------------------------------------- composer
def test_no_hits_says_not_covered_and_invents_nothing() -> None:
    draft = GroundedComposer().compose("Can I pay with cryptocurrency?", [])
    assert draft.answered is False
    assert draft.confidence == 0.0
    assert draft.sources == []
    # nothing but the fixed sentences: the greeting with its thanks, and "not covered"
    assert draft.text == f"{GREETING_ANONYMOUS} {after_comma(ACK_DEFAULT)}\n\n{NOT_COVERED}"


def test_weak_evidence_says_not_covered_instead_of_guessing() -> None:
    hits = weak_hits()
    draft = GroundedComposer().compose("Can I pay with cryptocurrency?", hits)
    assert draft.answered is False
    assert NOT_COVERED in draft.text
    assert draft.confidence < ANSWERABLE_THRESHOLD
    for h in hits:
        for sentence in re.split(r"(?<=\.)\s+", h.text):
            assert sentence not in draft.text


def test_numbered_steps_are_reproduced_verbatim() -> None:
    draft = GroundedComposer().compose("How do I request a refund?", steps_hits())
    block = STEPS_TEXT[STEPS_TEXT.index("1. Sign in"):STEPS_TEXT.index("\n\nYou receive")]
    assert block in draft.text
    assert "   - *Duplicate charge*" in draft.text
    assert "confirmation email" not in draft.text  # prose after the list is not a step
    assert draft.answered is True
    assert [s.article_id for s in draft.sources] == ["request-refund"]
    assert "[1]" in draft.text and "[2]" not in draft.text


def test_numbered_steps_need_at_least_two_steps() -> None:
    assert numbered_steps("1. Only one thing to do.") == ""
    assert numbered_steps("No steps here.\n- a bullet\n- another") == ""


def test_best_covering_sentence_is_quoted_with_its_citation() -> None:
    draft = GroundedComposer().compose(
        "How many business days until the refund is on my statement?", policy_hits())
    body = quoted_part(draft.text, INTRO_PASSAGES)
    assert "5 to 10 business days" in body
    assert "Webhooks" not in body
    timing = [i for i, s in enumerate(draft.sources, 1) if s.article_id == "refund-timing"]
    # one contiguous passage, its marker after it (the on-topic next sentence may follow)
    assert timing == [1] and "statement 5 to 10 business days after they are issued." in body
    assert body.endswith("[1]") and body.count("[") == 1


def test_every_quoted_sentence_comes_from_the_hits() -> None:
    hits = policy_hits()
    draft = GroundedComposer().compose(
        "Are monthly charges refundable, and how long does a refund take?", hits)
    body = quoted_part(draft.text, INTRO_PASSAGES)
    pieces = [p for p in re.split(r"\s*\[\d+\]\s*", body) if p]
    assert 1 <= len(pieces) <= 3
    corpus = normalise(" ".join(h.text for h in hits))
    for piece in pieces:
        assert normalise(piece) in corpus


def test_draft_text_is_the_body_and_sources_are_structured() -> None:
    """The body keeps its [n] markers only; the list lives in ``sources`` and is assembled
    as plain text by ``text_with_sources`` alone."""
    draft = GroundedComposer().compose(
        "Are monthly charges refundable, and how long does a refund take?", policy_hits())
    assert SOURCES_HEADING not in draft.text and draft.sources
    assert re.search(r"\[1\]", draft.text)
    assert all(s.title not in draft.text for s in draft.sources)
    assert draft.text_with_sources().startswith(draft.text + "\n\n" + SOURCES_HEADING)


def test_citations_match_the_sources_list() -> None:
    draft = GroundedComposer().compose(
        "Are monthly charges refundable, and how long does a refund take?", policy_hits())
    body, sources_block = draft.text_with_sources().split(SOURCES_HEADING)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    assert cited == set(range(1, len(draft.sources) + 1))
    listed = sources_block.strip().splitlines()
    assert len(listed) == len(draft.sources)
    for i, (line, source) in enumerate(zip(listed, draft.sources, strict=True), start=1):
        assert line.startswith(f"[{i}] {source.title}")
        assert source.url in line
    assert len({s.article_id for s in draft.sources}) == len(draft.sources)


def test_composer_answers_only_above_the_configured_floor() -> None:
    question = "Are monthly charges refundable, and how long does a refund take?"
    confidence, _ = score_evidence(question, policy_hits())
    assert GroundedComposer(answerable_threshold=confidence).compose(
        question, policy_hits()).answered
    strict = GroundedComposer(answerable_threshold=min(1.0, confidence + 0.01))
    assert not strict.compose(question, policy_hits()).answered


def test_sources_carry_title_link_and_heading() -> None:
    draft = GroundedComposer().compose("How do I request a refund?", steps_hits())
    source = draft.sources[0]
    assert (source.title, source.url, source.heading) == (
        "How to request a refund", "https://help.example/request-refund", "Details")


def test_draft_confidence_and_evidence_come_from_score_evidence() -> None:
    question = "How do I request a refund?"
    draft = GroundedComposer().compose(question, steps_hits())
    assert (draft.confidence, draft.evidence) == score_evidence(question, steps_hits())
    assert draft.generator == "grounded-composer"


@pytest.mark.parametrize("count, nth", [(2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th")])
def test_repeat_contact_is_acknowledged(count: int, nth: str) -> None:
    draft = GroundedComposer().compose("How do I request a refund?", steps_hits(),
                                       contact_count=count)
    assert f"I can see this is your {nth} contact about this — I'm sorry it's taken this long." \
        in draft.text


def test_first_contact_is_not_called_a_repeat() -> None:
    draft = GroundedComposer().compose("How do I request a refund?", steps_hits())
    assert "contact about this" not in draft.text
    assert draft.text.startswith(f"{GREETING_ANONYMOUS} {after_comma(INTRO_STEPS.format(n=1))}\n")


def test_an_answer_is_one_opening_line_then_the_quote_and_no_closing_line() -> None:
    """The issue's "one short opening line at most": greeting, acknowledgements and lead-in
    share one line; "did this solve it?" is the chat's button, not words in the reply."""
    hits = policy_hits()
    question = "How many business days until the refund is on my statement?"
    first = GroundedComposer().compose(question, hits, contact_count=3,
                                       sentiment=sentiment(SentimentLevel.ANGRY))
    line, quote = first.text.split("\n", 1)
    assert line.startswith(GREETING_ANONYMOUS) and "3rd contact" in line
    assert ACK_FRUSTRATED in line and line.endswith(f". {INTRO_PASSAGES}")
    corpus = normalise(" ".join(h.text for h in hits))
    assert quote.endswith("[1]") and normalise(quote[:-3]) in corpus  # nothing after it
    earlier = [Message(role=Role.CUSTOMER, content="hi"),
               Message(role=Role.ASSISTANT, content=first.text)]
    calm = GroundedComposer().compose(question, hits, conversation=earlier)
    assert calm.text.split("\n", 1)[0] == INTRO_PASSAGES  # greeted already: the lead-in only


@pytest.mark.parametrize("sentence, expected", [
    ("Thanks for reaching out.", "thanks for reaching out."),
    ("I understand this is urgent.", "I understand this is urgent."),
    ("I'm here.", "I'm here."), ("", ""),
])
def test_a_sentence_after_the_greeting_keeps_only_i_capitalised(sentence: str,
                                                               expected: str) -> None:
    assert after_comma(sentence) == expected


@pytest.mark.parametrize("level, acknowledged", [
    (SentimentLevel.FRUSTRATED, True), (SentimentLevel.ANGRY, True),
    (SentimentLevel.NEUTRAL, False), (SentimentLevel.POSITIVE, False),
])
def test_frustration_is_acknowledged(level: SentimentLevel, acknowledged: bool) -> None:
    draft = GroundedComposer().compose("How do I request a refund?", steps_hits(),
                                       sentiment=sentiment(level))
    assert (ACK_FRUSTRATED in draft.text) is acknowledged


def test_not_covered_reply_still_acknowledges_and_greets_by_name() -> None:
    draft = GroundedComposer().compose("Crypto?", [], contact_count=3, customer_name="Dana",
                                       sentiment=sentiment(SentimentLevel.ANGRY))
    assert draft.text.startswith("Hi Dana,")
    assert "3rd contact" in draft.text and ACK_FRUSTRATED in draft.text


@pytest.mark.parametrize("n, expected", [(1, "1st"), (12, "12th"), (21, "21st"), (113, "113th")])
def test_ordinal(n: int, expected: str) -> None:
    assert ordinal(n) == expected


# ----------------------------------------------------------------------------- LLM responder
Script = Callable[[dict[str, Any]], Any]


def run_llm(script: Script, hits: list[SearchHit], question: str = "How do I request a refund?",
            timeout: float = 5.0, **kwargs: Any) -> tuple[Any, FakeOpenAIServer]:
    with FakeOpenAIServer(script) as server:
        llm = OpenAIChat("fake-model", base_url=server.base_url, api_key="k", timeout=timeout,
                         max_retries=0)
        draft = LLMResponder(llm, GroundedComposer()).compose(question, hits, **kwargs)
    return draft, server


def test_prompt_holds_only_the_retrieved_passages_numbered_with_titles() -> None:
    hits = policy_hits()
    history = [Message(role=Role.CUSTOMER, content=f"turn {i}") for i in range(12)]
    summary = CustomerSummary(customer_id="c1", total_interactions=7, recent_topics=["billing"])
    _, server = run_llm(lambda req: "Annual plans can be refunded [1]. Anything else?", hits,
                        conversation=history, summary=summary, contact_count=2)
    system, user = server.chat_requests()[0]["messages"]
    assert "ONLY" in system["content"] and "NO_ANSWER" in system["content"]
    prompt = user["content"]
    ordered = answer_first("How do I request a refund?", hits)  # the composer's choice first
    assert sorted(h.chunk_id for h in ordered) == sorted(h.chunk_id for h in hits)
    for i, h in enumerate(ordered, start=1):
        assert f"[{i}] {h.title} > Details\n{h.text}" in prompt
    assert "[4]" not in prompt and prompt.count("\n---\n") == len(hits) - 1
    assert "turn 11" in prompt and "turn 3" not in prompt  # only the recent conversation
    assert "contact number 2" in prompt and "billing" in prompt
    assert last_user_message(server.chat_requests()[0]).endswith("How do I request a refund?")


def test_the_model_reads_first_the_passage_the_offline_reply_would_quote() -> None:
    """Same retrieval and same selection on both paths: the chunk the composer quotes is
    passage [1] for the model, even when the search ranked another article first."""
    question = "How many business days until the refund is on my statement?"
    offline = GroundedComposer().compose(question, policy_hits())
    assert [s.article_id for s in offline.sources] == ["refund-timing"]
    _, server = run_llm(lambda req: "5 to 10 business days [1].", policy_hits(),
                        question=question)
    assert passages(server.chat_requests()[0]) == [TIMING_TEXT, POLICY_TEXT, UNRELATED_TEXT]


def test_llm_answer_is_cited_renumbered_and_recorded() -> None:
    reply = "Sorry for the trouble. Refunds take 5 to 10 business days [2]. Does that help?"
    draft, server = run_llm(lambda req: reply, policy_hits(), question=PLANS)
    assert passages(server.chat_requests()[0])[1] == TIMING_TEXT  # what [2] names
    assert draft.answered is True
    assert [s.article_id for s in draft.sources] == ["refund-timing"]
    assert "business days [1]." in draft.text and "[2]" not in draft.text
    assert draft.text_with_sources().endswith(
            "[1] When refunds arrive — https://help.example/refund-timing")
    assert draft.generator == "llm:fake-model"
    assert draft.tokens_used > 0
    assert draft.fallback_reason is None


def test_llm_citations_outside_the_passages_are_dropped() -> None:
    draft, _ = run_llm(lambda req: "Annual plans are refundable [1]. Also see [9].",
                       policy_hits(), question=PLANS)
    assert "[9]" not in draft.text
    assert [s.article_id for s in draft.sources] == ["refund-policy"]


@pytest.mark.parametrize("claim", ["CONFIDENCE: 0.99", "CONFIDENCE: 0.01", "Confidence = 1"])
def test_model_claims_do_not_change_confidence(claim: str) -> None:
    question = "Are annual plans refundable?"
    draft, _ = run_llm(lambda req: f"Yes, within 14 days [1].\n{claim}", policy_hits(),
                       question=question)
    expected, evidence = score_evidence(question, policy_hits())
    assert draft.confidence == expected
    assert draft.evidence == evidence
    assert "onfidence" not in draft.text


def test_model_written_source_list_is_replaced_by_ours() -> None:
    reply = "Yes, within 14 days [1].\n\nSources:\n[1] Something the model made up"
    draft, _ = run_llm(lambda req: reply, policy_hits(), question=PLANS)
    assert "made up" not in draft.text_with_sources()
    assert SOURCES_HEADING not in draft.text and draft.text.endswith("[1].")
    assert [s.article_id for s in draft.sources] == ["refund-policy"]


def test_no_answer_sentinel_becomes_the_honest_not_covered_draft() -> None:
    question = "Can I pay with cryptocurrency?"
    draft, _ = run_llm(lambda req: "NO_ANSWER", policy_hits(), question=question,
                       contact_count=2)
    expected, _ = score_evidence(question, policy_hits())
    assert draft.answered is False
    assert NOT_COVERED in draft.text and "2nd contact" in draft.text
    assert draft.sources == []
    assert draft.confidence == pytest.approx(expected * NO_ANSWER_PENALTY, abs=1e-4)
    assert draft.confidence < ANSWERABLE_THRESHOLD
    assert draft.generator == "llm:fake-model"


def test_uncited_answer_is_kept_with_lower_confidence_and_top_sources() -> None:
    question = "Are annual plans refundable?"
    draft, _ = run_llm(lambda req: "Yes, annual plans are refundable.", policy_hits(),
                       question=question)
    expected, _ = score_evidence(question, policy_hits())
    assert draft.confidence == pytest.approx(expected * UNCITED_PENALTY, abs=1e-4)
    assert [s.article_id for s in draft.sources] == ["refund-policy", "refund-timing",
                                                      "webhooks"]


@pytest.mark.parametrize("script_reply, timeout", [(Fail(500, "boom"), 5.0), (Slow(2.0), 0.3)])
def test_llm_failure_falls_back_to_the_composer(script_reply: Any, timeout: float) -> None:
    question = "How do I request a refund?"
    draft, server = run_llm(lambda req: script_reply, steps_hits(), question=question,
                            timeout=timeout)
    composed = GroundedComposer().compose(question, steps_hits())
    assert server.chat_requests()  # the model was asked
    assert draft.fallback_reason and "language model" in draft.fallback_reason
    assert draft.model_copy(update={"fallback_reason": None}) == composed
    assert draft.generator == "grounded-composer"


def test_weak_evidence_skips_the_model_entirely() -> None:
    draft, server = run_llm(lambda req: "A confident guess [1].", weak_hits(),
                            question="Can I pay with cryptocurrency?")
    assert server.chat_requests() == []
    assert draft.answered is False and NOT_COVERED in draft.text
