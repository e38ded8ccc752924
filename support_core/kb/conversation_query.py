"""Search the knowledge base from the conversation, not from the latest message alone.

A follow-up ("yes, I already did that", "what about for my spouse?") names no topic of its
own: searched alone it finds unrelated articles, and joining every turn into one query
drowns a new question in an old topic. The plan (:class:`ConversationSearch`):

1. The latest message is always searched on its own; a first message needs nothing else.
2. Does it continue the current topic? It starts a new one only when it stands on its own
   in every way we can measure offline: it does not refer back (no pronoun or "what about"
   opening, more than :data:`SHORT_TERMS` content words), it retrieves with answerable
   evidence (``support_core.confidence``) and either the dense and BM25 retrievers agree on
   its top article or its best cosine reaches the confidence module's full-evidence level,
   that article is not the current one, and its embedding is not close (< :data:`SIMILAR`) to the
   previous customer turn. Anything else is a continuation.
3. On a continuation a second search runs on the context query (the latest message, the
   current article's title, the last :data:`MAX_TURNS` earlier customer turns newest first,
   at most :data:`CONTEXT_WORDS` words) and the article rankings are fused by weighted
   reciprocal rank (``fusion.fuse_rankings``): the context query (weight 1; it wins
   ties), the latest message alone, weighted by its own retrieval confidence (0..1,
   ``confidence``: a message that finds nothing convincing alone only counts next to the
   topic), and the current article as a one-item ranking worth one place near the top of
   one ranking, so the article the customer is reading wins near-ties without beating a
   better one.

The *current article* is the first source cited by the last answer, or, when that answer
cited nothing (a holding reply), the top article the previous customer turn retrieved.
Costs: at most two extra query encodings per follow-up (the context query, and the previous
turn when the embedder's cache no longer holds it). No LLM is involved, except that a team
with a chat model may have it write the context query (``rewrite``,
:mod:`support_core.kb.query_rewrite`); the continuation decision stays the same.

The pipeline and ``deskpilot eval-retrieval`` both call :meth:`ConversationSearch.search`;
the evaluation replays a row's earlier customer turns with :func:`replay` to get the
current article the pipeline would have had.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from support_core.confidence import DENSE_CEILING, answerable, content_terms, score_evidence
from support_core.kb.fusion import fuse_rankings
from support_core.models import ConfidenceEvidence, Message, Role, SearchHit, SearchPlan

Strategy = Literal["plan", "last", "joined"]
# latest message, earlier customer turns, title of the article in view -> a standalone query
Rewriter = Callable[[str, Sequence[str], str], str | None]

MAX_TURNS = 3  # earlier customer turns in the context query
POOL = 10  # articles ranked per search before fusion
CONTEXT_WORDS = 150  # about the embedding model's 256-token window; bounds encoding time
SHORT_TERMS = 1  # a message with this many content words or fewer cannot stand alone
SIMILAR = 0.5  # cosine to the previous turn at or above which the topic continues

_REFERRING = frozenset(
    "it its it's this these those they them their same such he she him her his "
    "instead else again still already too either".split()
)  # "that" only as the last word ("I did that"): elsewhere it is mostly a relative pronoun
_OPENERS = (
    "and", "but", "also", "so", "then", "or", "what about", "how about", "what if",
    "yes", "yeah", "yep", "no", "nope", "ok", "okay", "thanks", "thank you",
)
_WORDS = re.compile(r"[a-z0-9']+")


class Searcher(Protocol):
    def search(
        self, query: str, *, category: str | None = None, product: str | None = None, k: int = 5
    ) -> list[SearchHit]: ...


@dataclass(frozen=True)
class Conversation:
    """What the planner needs from before the latest message."""

    turns: tuple[str, ...] = ()  # earlier customer turns, oldest first
    current_article: str | None = None
    current_title: str = ""

    @classmethod
    def from_messages(cls, messages: Sequence[Message]) -> Conversation:
        """From a session's messages (oldest first, the latest message not included)."""
        turns = tuple(m.content for m in messages if m.role == Role.CUSTOMER)
        article, title = _current_article(messages)
        return cls(turns, article, title)

    @classmethod
    def from_history(cls, history: Sequence[Mapping[str, Any]]) -> Conversation:
        """From evaluation rows' ``history`` ([{"role", "text"}], oldest first); the
        customer's turns only (role ``user`` or ``customer``)."""
        turns = tuple(str(h.get("text") or "") for h in history
                      if h.get("role") in ("user", "customer"))
        return cls(tuple(t for t in turns if t.strip()))

    def then(self, turn: str, top: SearchHit | None) -> Conversation:
        """The conversation after ``turn`` was answered from ``top``."""
        return Conversation((*self.turns, turn), top.article_id if top else None,
                            top.title if top else "")


@dataclass(frozen=True)
class Decision:
    continuation: bool
    reason: str
    similarity: float | None = None


class ConversationSearch:
    """The knowledge base searched with the conversation in view (module docstring)."""

    def __init__(
        self,
        searcher: Searcher,
        *,
        strategy: Strategy = "plan",
        embed: Callable[[str], Any] | None = None,
        rrf_k: int = 60,
        rewrite: Rewriter | None = None,
    ) -> None:
        self.searcher = searcher
        self.strategy = strategy
        self.embed = embed
        self.rrf_k = rrf_k
        self.rewrite = rewrite  # LLM path: the model's standalone query (kb.query_rewrite)

    def search(
        self, latest: str, conversation: Conversation = Conversation(), *,
        category: str | None = None, k: int = 5,
    ) -> tuple[list[SearchHit], SearchPlan]:
        plan = SearchPlan(strategy=self.strategy, query=latest,
                          current_article=conversation.current_article,
                          previous_turns=len(conversation.turns))
        if not conversation.turns or self.strategy == "last":
            reason = "first message" if not conversation.turns else "latest message alone"
            return self._run(latest, category, k), plan.model_copy(update={"reason": reason})
        if self.strategy == "joined":
            joined = "\n".join([*conversation.turns, latest])
            update = {"context_query": joined, "continuation": True, "reason": "all turns joined"}
            return self._run(joined, category, k), plan.model_copy(update=update)
        latest_hits = self._run(latest, category, max(k, POOL))
        latest_confidence, evidence = score_evidence(latest, latest_hits)
        decision = self.decide(latest, latest_hits, conversation, evidence)
        plan = plan.model_copy(update={"continuation": decision.continuation,
                                       "reason": decision.reason,
                                       "similarity": decision.similarity})
        if not decision.continuation:
            return latest_hits[:k], plan
        context = context_query(latest, conversation)
        rewritten = self.rewrite(latest, conversation.turns, conversation.current_title) if (
            self.rewrite is not None) else None
        if rewritten:  # the model's reading of the conversation stands in for the offline one
            context = rewritten
            reason = f"{plan.reason}; query rewritten by the model"
            plan = plan.model_copy(update={"rewritten": True, "reason": reason})
        context_hits = self._run(context, category, max(k, POOL))
        rankings: list[tuple[Sequence[str], float]] = [  # the context first: it wins ties
            (_articles(context_hits), 1.0), (_articles(latest_hits), latest_confidence)]
        if conversation.current_article:  # worth one place near the top of one ranking
            rankings.append(([conversation.current_article], 1 / (self.rrf_k + 2)))
        order = fuse_rankings(rankings, self.rrf_k)
        hits = _assemble(order, [context_hits, latest_hits])[:k]
        return hits, plan.model_copy(update={"context_query": context})

    def decide(
        self, latest: str, latest_hits: Sequence[SearchHit], conversation: Conversation,
        evidence: ConfidenceEvidence,
    ) -> Decision:
        """Continuation or new topic, with the reason (module docstring, step 2)."""
        cue = refers_back(latest)
        if cue:
            return Decision(True, f"refers back ({cue})")
        top = latest_hits[0].article_id if latest_hits else None
        similarity = self._similarity(latest, conversation.turns[-1])
        if top is not None and top == conversation.current_article:
            return Decision(True, "finds the current article on its own", similarity)
        if similarity is not None and similarity >= SIMILAR:
            return Decision(True, f"close to the previous turn (cosine {similarity:.2f})",
                            similarity)
        if answerable(evidence) and (evidence.agreement or evidence.top_dense >= DENSE_CEILING):
            return Decision(False, "a new question that retrieves well on its own", similarity)
        return Decision(True, "too weak to stand on its own", similarity)

    def _run(self, query: str, category: str | None, k: int) -> list[SearchHit]:
        return self.searcher.search(query, category=category, k=k)

    def _similarity(self, a: str, b: str) -> float | None:
        if self.embed is None or not a.strip() or not b.strip():
            return None
        u = np.asarray(self.embed(a), dtype=np.float32).reshape(-1)
        v = np.asarray(self.embed(b), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(u) * np.linalg.norm(v))
        return round(float(u @ v) / norm, 4) if norm else None


def replay(
    planner: ConversationSearch, turns: Sequence[str], latest: str, *,
    category: str | None = None, k: int = 5,
) -> tuple[list[SearchHit], SearchPlan]:
    """Search each earlier customer turn in order, as the pipeline would have, the top
    article of each standing in for the article its answer cited; then the latest one."""
    conversation = Conversation()
    for turn in turns:
        hits, _ = planner.search(turn, conversation, category=category, k=k)
        conversation = conversation.then(turn, hits[0] if hits else None)
    return planner.search(latest, conversation, category=category, k=k)


def refers_back(text: str) -> str:
    """Why ``text`` cannot stand alone ("" when it can): a referring word, a continuing
    opening, or too few content words."""
    lowered = text.lower().strip()
    words = _WORDS.findall(lowered)
    opener = next((o for o in _OPENERS if lowered == o or re.match(rf"{o}\b", lowered)), None)
    if opener:
        return f"opens with '{opener}'"
    referring = next((w for w in words if w in _REFERRING), None)
    if referring is None and words and words[-1] == "that":
        referring = "that"
    if referring:
        return f"'{referring}'"
    if len(content_terms(text)) <= SHORT_TERMS:
        return "few content words"
    return ""


def context_query(latest: str, conversation: Conversation) -> str:
    """The latest message, the current article's title, then the earlier turns newest first,
    cut at :data:`CONTEXT_WORDS`: the embedding model truncates long input at its end, so
    the latest message goes first and the oldest turn is the one that loses words."""
    parts = [latest, conversation.current_title, *reversed(conversation.turns[-MAX_TURNS:])]
    words = " \n ".join(p.strip() for p in parts if p.strip()).split(" ")
    return " ".join(words[:CONTEXT_WORDS]).replace(" \n ", "\n")


def _current_article(messages: Sequence[Message]) -> tuple[str | None, str]:
    """The first source of the last answer that cited one, or the top article of a later
    customer turn (what it retrieved) when the answer after it cited nothing."""
    for message in reversed(messages):
        sources = message.metadata.sources or []
        if message.role == Role.ASSISTANT and sources:
            return sources[0].article_id, sources[0].title
        topics = message.metadata.get("topic_articles") or []
        if message.role == Role.CUSTOMER and topics:
            return str(topics[0]), ""
    return None, ""


def _articles(hits: Sequence[SearchHit]) -> list[str]:
    return list(dict.fromkeys(h.article_id for h in hits))


def _assemble(order: Sequence[tuple[str, float]], runs: Sequence[list[SearchHit]]
              ) -> list[SearchHit]:
    """Hits in the fused article order: each article's best chunk first (from the first run
    that found it), then further chunks, with fused scores on the fused scale. Retriever
    ranks are kept only for the first run's hits, so "dense and BM25 agree" still describes
    one query's rankings."""
    score = dict(order)
    heads: dict[str, SearchHit] = {}
    rest: dict[str, SearchHit] = {}
    for index, hits in enumerate(runs):
        top: dict[str, float] = {}
        for hit in hits:
            if hit.article_id not in score:
                continue
            first = hit.article_id not in top
            if first:
                top[hit.article_id] = hit.fused_score or 1.0
            share = hit.fused_score / top[hit.article_id] if top[hit.article_id] else 0.0
            update: dict[str, Any] = {"fused_score": score[hit.article_id] * min(share, 1.0)}
            if index > 0:
                update |= {"dense_rank": None, "bm25_rank": None}
            if first and hit.article_id not in heads:
                heads[hit.article_id] = hit.model_copy(update=update)
            elif not first and hit.chunk_id not in rest:
                rest[hit.chunk_id] = hit.model_copy(update=update)
    used = {h.chunk_id for h in heads.values()}
    ordered = [heads[a] for a, _ in order if a in heads]
    others = sorted((h for c, h in rest.items() if c not in used), key=lambda h: -h.fused_score)
    return ordered + others
