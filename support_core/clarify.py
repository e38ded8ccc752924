"""One short clarifying question instead of a guess, and reading the customer's answer to it.

A message such as "How do I change it?" or "billing" names too little to choose between
articles of different topics that the search scores almost the same: answering from the
first one is a coin toss. The pipeline then asks once, naming the two or three candidate
topics by their titles (nothing beyond the titles, so no fact is invented), and the
customer's answer ("the second one", "billing", or the button they press) picks the
article the next turn answers from.

Everything here is measured, not guessed from wording lists (thresholds in
:class:`~support_core.config.Settings`, ``SUPPORT_CLARIFY_*``):

* **vague**: a referring word ("it", "this", ``conversation_query.refers_back``) the
  search could not settle; or, with no article in view yet, at most ``clarify_max_terms``
  stemmed content words (``confidence.content_terms``) or a referring word at all;
* **candidates of different topics the search cannot choose between**: the best-scored
  article of another title is within ``clarify_margin`` (relative) of the top article, on
  the fused score and on the dense cosine; or, for a referring word, the router found no
  confident answer (``low_confidence``); each named topic has evidence of its own (a
  cosine of at least ``clarify_min_similarity`` or a keyword match), so an off-topic
  question still gets "not covered";
* **not fixed by the conversation**: a continuation whose top article is the article the
  conversation already has in view is never clarified;
* **never twice in a row**: the previous AI message was not a clarifying question;
* **escalation wins**: only a decision that would auto-reply or answer "not covered" may
  turn into a question; a request for a person, an angry or urgent customer, a failed
  stage or a legal threat is routed as before (:func:`may_replace`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from support_core.confidence import content_terms
from support_core.kb.conversation_query import refers_back
from support_core.models import (
    EscalationDecision,
    Message,
    Priority,
    Queue,
    Role,
    SearchHit,
    SearchPlan,
)

RULE = "clarify"
REPLACEABLE = frozenset({"auto_reply", "low_confidence"})  # what a question may stand in for
# Words that stand for a thing named elsewhere (English pronouns and demonstratives); the
# continuation adverbs ``refers_back`` also accepts ("again", "still") name no thing.
REFERENTS = frozenset("it its it's this these those they them their he she him her his "
                      "that".split())
LABEL_WORDS = 10  # an untitled article is named by the first words of its text
_ORDINALS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("first", "1st", "1", "former", "top")),
    (1, ("second", "2nd", "2", "middle")),
    (2, ("third", "3rd", "3")),
    (-1, ("last", "latter", "bottom")),
)
_WORDS = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Topic:
    """One candidate: an article and the label the customer sees."""

    article_id: str
    label: str

    def as_dict(self) -> dict[str, str]:
        return {"article_id": self.article_id, "label": self.label}


@dataclass(frozen=True)
class Clarification:
    question: str
    options: tuple[Topic, ...]
    reason: str
    terms: int
    margin: float


@dataclass(frozen=True)
class Thresholds:
    max_terms: int = 3
    margin: float = 0.1
    max_options: int = 3
    min_similarity: float = 0.25

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(settings.clarify_max_terms, settings.clarify_margin,
                   settings.clarify_max_options, settings.clarify_min_similarity)


def label_of(hit: SearchHit) -> str:
    """The topic's name: the article's title, else (untitled corpora) its top heading, else
    the first line of its text cut to :data:`LABEL_WORDS` words. A chunk's lower headings
    ("Frequently asked questions", "Steps") name a part of an article, not a topic."""
    label = hit.title.strip() or next((h.strip() for h in hit.heading_path if h.strip()), "")
    if not label:
        first = next((line for line in hit.text.splitlines() if line.strip()), "")
        words = first.split()
        label = " ".join(words[:LABEL_WORDS]) + (" …" if len(words) > LABEL_WORDS else "")
    return label.strip()


def candidates(hits: Sequence[SearchHit], thresholds: Thresholds, *, close: bool = True
               ) -> tuple[list[Topic], float]:
    """Articles of *different* topics (labels) with evidence of their own (a dense cosine of
    at least ``min_similarity`` or a keyword match), in rank order, and the relative gap
    between the top one and the best other topic (1.0 when there is none). With ``close``
    only topics within ``margin`` of the top one count, on the fused score *and* on the dense
    cosine: when keywords tie two articles but the meaning of the message clearly prefers
    one, the search can choose. None when the top article has no
    such evidence: that is an off-topic question, for "not covered", not a choice."""
    def evident(hit: SearchHit) -> bool:
        return (hit.dense_score or 0.0) >= thresholds.min_similarity or bool(hit.bm25_score)

    if not hits or hits[0].fused_score <= 0 or not evident(hits[0]):
        return [], 1.0
    top = hits[0].fused_score
    top_dense = hits[0].dense_score or 0.0
    seen: dict[str, Topic] = {}
    gap = 1.0
    for hit in hits:
        label = label_of(hit)
        key = label.lower()
        if key in seen or any(t.article_id == hit.article_id for t in seen.values()):
            continue
        relative = (top - hit.fused_score) / top
        if seen and gap == 1.0:
            gap = max(relative, 0.0)
        if close and relative > thresholds.margin:
            break
        if close and top_dense > 0 and (
                top_dense - (hit.dense_score or 0.0)) / top_dense > thresholds.margin:
            continue  # keywords tie but the meaning of the message prefers the top one
        if not evident(hit):
            continue
        seen[key] = Topic(hit.article_id, label)
        if len(seen) == thresholds.max_options:
            break
    return list(seen.values()), round(gap, 4)


def vague_reason(text: str, plan: SearchPlan | None, unsure: bool, thresholds: Thresholds
                 ) -> tuple[str, bool]:
    """Why the message cannot choose a topic by itself ("" when it can), and whether close
    scores are needed as well (True) or an unconfident search suffices (False).

    A referring word ("it", "this", "they") that the search could not settle (the router
    found no confident answer) is enough, with or without an article in view: the customer
    means something the knowledge base cannot pin down. With no article in view, few
    content words or a referring word also count, but then only when the top topics'
    scores are close. With an article in view the conversation supplies the topic of a
    short follow-up (the search plan's context query), so nothing else counts."""
    cue = refers_back(text)
    pronoun = cue.strip("'") in REFERENTS  # not an opener, shortness or "again"/"still"
    if pronoun and unsure:
        return f"refers to {cue}, which the search could not settle", False
    if plan is not None and plan.current_article:
        return "", True
    terms = len(content_terms(text))
    if terms <= thresholds.max_terms:
        return f"{terms} content word(s)", True
    return (f"refers to nothing named yet ({cue})", True) if pronoun else ("", True)


def pending_options(session: Sequence[Message]) -> list[Topic]:
    """The options of the last AI message when it was a clarifying question, else []."""
    for message in reversed(session):
        if message.role == Role.CUSTOMER:
            continue
        raw = message.metadata.get("clarify_options") or []
        return [Topic(str(o["article_id"]), str(o["label"])) for o in raw]
    return []


def resolve(answer: str, options: Sequence[Topic], max_terms: int = 6) -> Topic | None:
    """Which option the customer's answer picks: an ordinal ("the second one", "2"), or the
    option whose label shares the most content words with it (a unique best, at least one).
    A message of more than ``max_terms`` content words is a question of its own, not an
    answer: the conversation then goes on as usual."""
    if not options:
        return None
    exact = [o for o in options if o.label.strip().lower() == answer.strip().lower()]
    if exact:  # the chat's button sends the label itself
        return exact[0]
    words = _WORDS.findall(answer.lower())
    if len(words) <= 4:  # "the second one", "2", "the last": a short ordinal answer
        for index, names in _ORDINALS:
            if any(w in names for w in words) and -len(options) <= index < len(options):
                return options[index]
    said = content_terms(answer)
    if len(said) > max_terms:
        return None
    overlaps = [len(said & content_terms(o.label)) for o in options]
    best = max(overlaps)
    if best and overlaps.count(best) == 1:
        return options[overlaps.index(best)]
    return None


def clarified_query(answer: str, asked: str, choice: Topic) -> str:
    """What the turn after a clarification searches and answers: the question that was
    asked, the chosen topic, and the answer's own words."""
    return " ".join(p for p in (asked.strip(), choice.label, answer.strip()) if p)


def last_question(session: Sequence[Message]) -> str:
    """The customer turn the pending clarification asked about."""
    seen_ai = False
    for message in reversed(session):
        if message.role != Role.CUSTOMER:
            seen_ai = True
        elif seen_ai:
            return message.content
    return ""


def prefer(hits: Sequence[SearchHit], article_id: str) -> list[SearchHit]:
    """The chosen article's hits first (the customer said which), the rest in order."""
    chosen = [h for h in hits if h.article_id == article_id]
    return [*chosen, *(h for h in hits if h.article_id != article_id)]


def decide(
    text: str,
    hits: Sequence[SearchHit],
    plan: SearchPlan | None,
    session: Sequence[Message],
    decision: EscalationDecision,
    thresholds: Thresholds,
    *,
    calibrated: bool = False,
) -> Clarification | None:
    """A clarifying question for this turn, or None (module docstring for the rules).

    ``calibrated``: the confidence came from the calibrated model, which can be high while
    the two retrievers point at different articles; then their disagreement also counts as
    "unsure" (the formula already scores disagreement low)."""
    if not may_replace(decision) or just_clarified(session):
        return None
    if plan is not None and plan.continuation and plan.current_article and hits and (
            hits[0].article_id == plan.current_article):
        return None  # the conversation fixes the topic
    unsure = decision.rule == "low_confidence"  # the search found no answer it trusts
    unsure = unsure or (calibrated and retrievers_disagree(hits))
    why, close = vague_reason(text, plan, unsure, thresholds)
    if not why:
        return None
    options, gap = candidates(hits, thresholds, close=close)
    if len(options) < 2:
        return None
    scores = (f"scores within {gap:.0%} of each other" if close
              else "no confident answer among them")
    reason = (f"Asked which topic the customer means ({why}; {len(options)} topics, "
              f"{scores}): " + " / ".join(o.label for o in options))
    return Clarification(question(options), tuple(options), reason,
                         len(content_terms(text)), gap)


def retrievers_disagree(hits: Sequence[SearchHit]) -> bool:
    """The dense rank-1 and the BM25 rank-1 article differ (or one is missing)."""
    dense = next((h.article_id for h in hits if h.dense_rank == 1), None)
    keyword = next((h.article_id for h in hits if h.bm25_rank == 1), None)
    return dense is None or keyword is None or dense != keyword


def may_replace(decision: EscalationDecision) -> bool:
    """Only an auto-reply or a "no answer" may become a question: escalation wins."""
    return decision.rule in REPLACEABLE


def just_clarified(session: Sequence[Message]) -> bool:
    """The previous AI message in the session was a clarifying question."""
    return bool(pending_options(session))


def question(options: Sequence[Topic]) -> str:
    names = [f"“{o.label}”" for o in options]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return (f"Just to be sure I answer the right question: do you mean {listed}? "
            "Pick one, or tell me a little more.")


def as_decision(clarification: Clarification, replaced: EscalationDecision) -> EscalationDecision:
    """The router's decision for a turn answered with a question (recorded on the ticket)."""
    return EscalationDecision(
        should_escalate=False, queue=Queue.AUTO, priority=Priority.LOW, rule=RULE,
        reason=clarification.reason,
        inputs={**replaced.inputs, "replaced_rule": replaced.rule,
                "question": clarification.question,
                "content_terms": clarification.terms, "margin": clarification.margin,
                "options": [o.as_dict() for o in clarification.options]},
    )
