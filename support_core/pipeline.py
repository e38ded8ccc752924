"""The orchestrator: the one place where a customer message flows through every stage.

    validate -> store the message -> memory -> knowledge base -> intake -> sentiment
             -> response -> escalation router -> auto-reply | handoff -> outcome + spans

The customer's message is saved on its ticket before any stage runs. A stage that
fails is recorded on the ticket (``stage_errors``) and the router then escalates
with that failure as its reason, so nothing is dropped and the customer gets a
truthful holding reply instead of a traceback.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from support_core import clarify, lifecycle, reopen
from support_core.config import Settings
from support_core.errors import ConcurrentUpdate, DeskpilotError
from support_core.handoff import build_handoff_package
from support_core.kb.conversation_query import Conversation, ConversationSearch, Rewriter
from support_core.models import (
    CustomerSummary,
    Draft,
    EscalationDecision,
    HandoffPackage,
    HandoffStatus,
    Message,
    MessageMetadata,
    PipelineResult,
    Role,
    SearchHit,
    SentimentLevel,
    SentimentResult,
    StageError,
    Ticket,
    TicketStatus,
    utcnow,
)
from support_core.output_guard import held_decision
from support_core.ports import MemoryStore, TicketStore
from support_core.redaction import Redactor
from support_core.responder import Responder
from support_core.router import RouterThresholds, asks_for_human, route
from support_core.telemetry import SpanCollector, stage_span
from support_core.validation import clean_id, clean_message

log = logging.getLogger(__name__)
T = TypeVar("T")

# The ticket as this run stored it before any stage ran: the run's changes are replayed onto
# whatever is stored when it finishes (store.save_changes), so concurrent writers keep theirs.
_OPENED: ContextVar[Ticket] = ContextVar("opened_ticket")
# Runs for one (customer, session) in this process take turns, so two messages sent at once
# are answered in order; the store's session lock does the same across processes.
_SESSION_LOCKS: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = (
    weakref.WeakValueDictionary()
)
_SESSION_LOCKS_GUARD = threading.Lock()
OPEN_RETRIES = 20


def _session_lock(customer_id: str, session_id: str) -> threading.Lock:
    with _SESSION_LOCKS_GUARD:
        lock = _SESSION_LOCKS.get((customer_id, session_id))
        if lock is None:
            lock = threading.Lock()
            _SESSION_LOCKS[(customer_id, session_id)] = lock
        return lock


class _TopicNeeded(Exception):
    """Raised under the session lock: a resolved ticket may be reopened, and the message's
    topic (a search) must be found outside the lock first."""


HOLDING_REPLY = (
    "Thanks for your patience. I'm handing this conversation to a support specialist, "
    "who will see everything you've told me so far, so you won't need to repeat yourself. "
    "They will reply here."
)
FAILURE_REPLY = (
    "Something went wrong on our side while I was looking into this. Your message is saved, "
    "and a support specialist will pick it up and reply here."
)
FOLLOW_UP_REPLY = (
    "Thanks, I've added this to your conversation; the specialist handling it will see it."
)


class Searcher(Protocol):
    def search(
        self, query: str, *, category: str | None = None, product: str | None = None, k: int = 5
    ) -> list[SearchHit]: ...

    def categories(self) -> list[str]: ...

    def products(self) -> list[str]: ...


class Analyzer(Protocol):
    def analyze(
        self,
        message: str,
        conversation: list[Message],
        summary: CustomerSummary | None = ...,
        contact_count: int = ...,
    ) -> SentimentResult: ...


class Classifier(Protocol):
    def classify(
        self, text: str, *, kb_hits: Any = ..., explicit_category: str | None = ...
    ) -> Any: ...


@dataclass
class Stages:
    kb: Searcher
    memory: MemoryStore
    intake: Callable[[], Classifier]  # built lazily: it needs the KB's current categories
    sentiment: Analyzer
    responder: Responder
    store: TicketStore
    spans: SpanCollector
    rewrite: Rewriter | None = None  # LLM path: follow-ups as standalone queries


class SupportPipeline:
    def __init__(self, settings: Settings, stages: Stages) -> None:
        self.settings = settings
        self.s = stages
        self.thresholds = RouterThresholds.from_settings(settings)
        self.clarify_thresholds = clarify.Thresholds.from_settings(settings)
        self.redactor = Redactor.from_settings(settings)

    @property
    def conversation_search(self) -> ConversationSearch:
        """On the KB stage as it is now (stages may be swapped after construction)."""
        embedder = getattr(self.s.kb, "embedder", None)
        return ConversationSearch(
            self.s.kb, strategy=self.settings.conversation_search, rrf_k=self.settings.rrf_k,
            embed=getattr(embedder, "embed_query", None), rewrite=self.s.rewrite,
        )

    # ------------------------------------------------------------------ entry point
    def process_message(
        self,
        customer_id: str,
        session_id: str,
        text: object,
        *,
        category: str | None = None,
        is_demo: bool = False,
    ) -> PipelineResult:
        customer_id = clean_id(customer_id, "customer id")
        session_id = clean_id(session_id, "session id")
        message = clean_message(text, self.settings.max_message_chars)
        # Cards, secrets and ids never go further than this line (contacts: per setting).
        message = self.redactor.for_storage(message, f"{customer_id}/{session_id}")
        lock = _session_lock(customer_id, session_id)
        with lock:
            ticket = self._open_ticket(customer_id, session_id, message, is_demo)
            with stage_span(
                "pipeline.process_message",
                **{"ticket.id": ticket.ticket_id, "customer.id": customer_id,
                   "session.id": session_id},
            ) as root:
                trace_id = root.get_span_context().trace_id
                try:
                    result = self._run(ticket, message, category)
                except Exception as exc:  # noqa: BLE001 - the saved message must reach a human
                    result = self._fail_visibly(ticket, exc)
                root.set_attribute("outcome", result.action)
        self.s.store.save_spans(ticket.ticket_id, self.s.spans.pop(trace_id))
        return result

    def _fail_visibly(self, ticket: Ticket, exc: Exception) -> PipelineResult:
        """After the message is saved, any failure leaves the ticket escalated with its reason
        and a queued handoff; if even that cannot be stored, the original error propagates."""
        from support_core.repair import escalate_unfinished

        detail = exc.user_message if isinstance(exc, DeskpilotError) else repr(exc)
        log.error("processing %s failed after the message was saved: %s", ticket.ticket_id, detail)
        try:
            stored = escalate_unfinished(
                self.s.store, ticket.ticket_id, f"Processing failed: {detail}", actor="pipeline",
                frustration_threshold=self.settings.frustration_threshold,
            )
        except Exception:  # noqa: BLE001 - report the first failure, not this one
            raise exc from None
        return PipelineResult(ticket=stored, action="escalated", message=FAILURE_REPLY)

    def dry_run(self, text: object, *, category: str | None = None) -> Ticket:
        """What the pipeline would decide for ``text`` from a new customer, with no side
        effects: search, intake, sentiment, draft and route run on a ticket that is never
        saved, with no memory read or written and no outcome recorded."""
        message = clean_message(text, self.settings.max_message_chars)
        ticket = Ticket(customer_id="dry-run", session_id="dry-run", subject=message[:120])
        ticket.messages.append(Message(role=Role.CUSTOMER, content=message))
        with stage_span("pipeline.dry_run") as root:
            trace_id = root.get_span_context().trace_id
            no_hits: list[SearchHit] = []
            hits = self._stage(
                ticket, "kb.search", lambda: self._search(message, category), no_hits
            )
            ticket.retrieved = hits
            self._classify(ticket, message, hits, category)
            summary = CustomerSummary(customer_id=ticket.customer_id)
            self._analyze(ticket, message, list(ticket.messages), summary)
            self._respond(ticket, message, hits, summary, list(ticket.messages))
            self._route(ticket, message)
        self.s.spans.pop(trace_id)  # not a real ticket: keep its spans out of the store
        return ticket

    # ------------------------------------------------------------------ ticket selection
    def _open_ticket(self, customer_id: str, session_id: str, text: str, is_demo: bool) -> Ticket:
        """Continue this session's open ticket, reopen it if resolved within the window,
        or start a new one; then save the customer's message before anything else runs.
        All of it under the store's session lock, so simultaneous messages share one ticket.

        No search runs under that lock: it holds the store for every thread of the process
        (and, on PostgreSQL, the session for every process), and a search that needed the
        store meanwhile deadlocked once (the feedback cache). When a resolved ticket may be
        reopened, the lock is let go, the message's topic is searched, and the choice is
        made again under the lock with that topic."""
        topic: reopen.Topic | None = None
        for attempt in range(OPEN_RETRIES):
            try:
                with self.s.store.session_lock(customer_id, session_id):
                    ticket = self._open_locked(customer_id, session_id, text, is_demo, topic)
                break
            except _TopicNeeded:
                topic = self._message_topic(text)
            except ConcurrentUpdate:  # a reply landed between our read and write: re-read
                if attempt == OPEN_RETRIES - 1:
                    raise
        _OPENED.set(ticket.model_copy(deep=True))
        return ticket

    def _open_locked(self, customer_id: str, session_id: str, text: str, is_demo: bool,
                     topic: reopen.Topic | None) -> Ticket:
        ticket = self.s.store.latest_ticket(customer_id, session_id)
        now = utcnow()
        linked: Ticket | None = None
        if ticket is None or ticket.status == TicketStatus.RESOLVED:
            ticket, linked = self._returning(customer_id, session_id, topic, now)
        if ticket is None:
            ticket = Ticket(
                customer_id=customer_id, session_id=session_id, subject=text[:120], is_demo=is_demo,
                linked_ticket_id=linked.ticket_id if linked else None,
            )
        ticket.messages.append(
            Message(role=Role.CUSTOMER, content=text, metadata={"ticket_id": ticket.ticket_id})
        )
        ticket.updated_at = now
        self.s.store.save_ticket(ticket)  # the message is durable from here on
        return ticket

    def _returning(
        self, customer_id: str, session_id: str, topic: reopen.Topic | None, now: datetime
    ) -> tuple[Ticket | None, Ticket | None]:
        """(ticket to reopen, earlier ticket to link): the customer's tickets resolved within
        the window, judged by the message's ``topic`` (:mod:`support_core.reopen`); raises
        :class:`_TopicNeeded` when there are candidates and no topic yet. A ticket of another
        session is a candidate only once that session has expired (a *returning* customer);
        it then moves to this session, so the customer sees it, and its replies land, where
        they write now. Two live sessions of one customer never take each other's tickets."""
        idle = timedelta(seconds=self.settings.session_ttl_seconds)
        candidates = [t for t in self.s.store.list_tickets(customer_id=customer_id, limit=20)
                      if t.status == TicketStatus.RESOLVED
                      and (t.session_id == session_id or now - t.updated_at > idle)]
        if not candidates:
            return None, None
        if topic is None:
            raise _TopicNeeded
        decision = reopen.choose(candidates, topic, now, self.settings.reopen_window_hours)
        if decision.reopen is None:
            return None, decision.linked
        moved = decision.reopen.model_copy(update={"session_id": session_id})
        return lifecycle.transition(
            moved, TicketStatus.REOPENED, "customer", decision.reason), None

    def _message_topic(self, text: str) -> reopen.Topic:
        """The articles the message is about; a failed search only means "no reopen"."""
        try:
            return reopen.Topic.of_hits(self._search(text, None))
        except Exception as exc:  # noqa: BLE001
            log.warning("topic search for reopen failed: %r", exc)
            return reopen.Topic(frozenset())

    # ------------------------------------------------------------------ the stages
    def _run(self, ticket: Ticket, text: str, category: str | None) -> PipelineResult:
        if ticket.status == TicketStatus.REOPENED:
            earlier = self.s.store.latest_handoff(ticket.ticket_id)
            if earlier is not None and earlier.claimed_by:  # a person resolved it: back to them
                return self._back_to_agent(ticket, text, earlier)
        if self._human_is_handling(ticket):
            return self._forward_to_human(ticket, text)
        if ticket.status != TicketStatus.PROCESSING:  # PROCESSING: a crashed earlier run
            ticket = lifecycle.transition(
                ticket, TicketStatus.PROCESSING, "pipeline", "Message received"
            )
        history, session, summary = self._load_memory(ticket)
        # The answer to a clarifying question: search and answer the chosen topic.
        choice = clarify.resolve(text, clarify.pending_options(session),
                                 2 * self.clarify_thresholds.max_terms)
        query = (clarify.clarified_query(text, clarify.last_question(session), choice)
                 if choice else text)
        no_hits: list[SearchHit] = []
        hits = self._stage(
            ticket, "kb.search",
            lambda: self._search_conversation(ticket, query, session, category, choice),
            no_hits)
        ticket.retrieved = hits
        self._classify(ticket, query, hits, category)
        session = [*session, self._remember(ticket, text, hits)]
        ticket.contact_count = self._contact_count(history, ticket)
        self._analyze(ticket, text, session, summary)
        self._respond(ticket, query, hits, summary, session)
        self._route(ticket, text)
        self._clarify(ticket, text, hits, session)
        return self._deliver(ticket, summary, session)

    def _stage(self, ticket: Ticket, name: str, fn: Callable[[], T], default: T) -> T:
        """Run one stage; on failure record it on the ticket and carry on with ``default``."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - any stage failure must escalate, not crash
            detail = exc.user_message if isinstance(exc, DeskpilotError) else repr(exc)
            log.warning("stage %s failed for %s: %s", name, ticket.ticket_id, detail)
            ticket.stage_errors.append(StageError(stage=name, error=detail))
            return default

    def _load_memory(self, ticket: Ticket) -> tuple[list[Message], list[Message], CustomerSummary]:
        """The customer's history and summary, and this session so far (before this message)."""

        def load() -> tuple[list[Message], list[Message], CustomerSummary]:
            with stage_span("memory.load", **{"customer.id": ticket.customer_id}) as span:
                history = self.s.memory.get_history(
                    ticket.customer_id, limit=self.settings.history_max_messages
                )
                summary = self.s.memory.get_summary(ticket.customer_id)
                session = self.s.memory.get_session(ticket.customer_id, ticket.session_id)
                span.set_attribute("memory.session_messages", len(session))
                span.set_attribute("memory.total_interactions", summary.total_interactions)
            return history, session, summary

        no_history: list[Message] = []
        earlier = ticket.messages[:-1]
        return self._stage(
            ticket,
            "memory.load",
            load,
            (no_history, earlier, CustomerSummary(customer_id=ticket.customer_id)),
        )

    def _remember(self, ticket: Ticket, text: str, hits: list[SearchHit]) -> Message:
        """Store the customer's message in memory, tagged with what it was about, so later
        contacts can tell whether they are about the same issue."""
        msg = Message(
            role=Role.CUSTOMER,
            content=text,
            metadata={
                "ticket_id": ticket.ticket_id,
                "session_id": ticket.session_id,
                "category": ticket.intake.category if ticket.intake else None,
                "topic_articles": _topic_articles(hits),
            },
        )
        ticket.messages[-1] = msg
        self._stage(
            ticket,
            "memory.save_message",
            lambda: self.s.memory.add_message(ticket.customer_id, ticket.session_id, msg),
            None,
        )
        return msg

    def _search(self, text: str, category: str | None) -> list[SearchHit]:
        with stage_span("kb.search", **{"kb.category_filter": category or ""}) as span:
            hits = self.s.kb.search(text, category=category, k=self.settings.retrieval_k)
            span.set_attribute("retrieval.count", len(hits))
            span.set_attribute("retrieval.top_score", hits[0].dense_score or 0.0 if hits else 0.0)
        return hits

    def _search_conversation(
        self, ticket: Ticket, text: str, session: list[Message], category: str | None,
        choice: clarify.Topic | None = None,
    ) -> list[SearchHit]:
        """Search with the session's earlier turns in view; the plan is kept on the ticket.
        After a clarifying question the chosen topic is the article in view and comes first."""
        conversation = Conversation.from_messages(session)
        if choice is not None:
            conversation = Conversation(conversation.turns, choice.article_id, choice.label)
        with stage_span("kb.search", **{"kb.category_filter": category or ""}) as span:
            hits, plan = self.conversation_search.search(
                text, conversation, category=category, k=self.settings.retrieval_k,
            )
            if choice is not None:
                hits = clarify.prefer(hits, choice.article_id)
                plan = plan.model_copy(update={
                    "continuation": True,
                    "reason": f"answer to a clarifying question: {choice.label}"})
                span.set_attribute("clarify.chosen", choice.article_id)
            span.set_attribute("retrieval.count", len(hits))
            span.set_attribute("retrieval.top_score", hits[0].dense_score or 0.0 if hits else 0.0)
            span.set_attribute("retrieval.continuation", plan.continuation)
            span.set_attribute("retrieval.previous_turns", plan.previous_turns)
            span.set_attribute("retrieval.query_rewritten", plan.rewritten)
        ticket.search_plan = plan
        return hits

    def _classify(
        self, ticket: Ticket, text: str, hits: list[SearchHit], category: str | None
    ) -> None:
        def run() -> Any:
            with stage_span("intake.classify") as span:
                result = self.s.intake().classify(text, kb_hits=hits, explicit_category=category)
                span.set_attribute("intake.priority", result.priority.value)
                span.set_attribute("intake.category", result.category or "")
            return result

        ticket.intake = self._stage(ticket, "intake.classify", run, None)
        if ticket.intake is not None:
            ticket.priority = ticket.intake.priority

    def _contact_count(self, history: list[Message], ticket: Ticket) -> int:
        """1 + earlier sessions in which the customer wrote about the same issue: a message
        that retrieved one of the same top articles, or (with no articles) the same category."""
        current = ticket.messages[-1].metadata
        earlier = {
            m.metadata.get("session_id")
            for m in history
            if m.role == Role.CUSTOMER
            and m.metadata.get("session_id") != ticket.session_id
            and _same_issue(m.metadata, current)
        }
        earlier.discard(None)
        return 1 + len(earlier)

    def _analyze(
        self, ticket: Ticket, text: str, session: list[Message], summary: CustomerSummary
    ) -> None:
        def run() -> SentimentResult:
            with stage_span("sentiment.analyze") as span:
                result = self.s.sentiment.analyze(text, session, summary, ticket.contact_count)
                span.set_attribute("sentiment.level", result.level.value)
                span.set_attribute("sentiment.frustration", result.frustration_score)
                span.set_attribute("sentiment.signals", ",".join(result.signals))
            return result

        neutral = SentimentResult(
            level=SentimentLevel.NEUTRAL,
            confidence=0.0,
            frustration_score=0.0,
            reasons=["sentiment stage failed"],
        )
        ticket.sentiment = self._stage(ticket, "sentiment.analyze", run, neutral)
        ticket.sentiment_trail.append(ticket.sentiment)

    def _respond(
        self,
        ticket: Ticket,
        text: str,
        hits: list[SearchHit],
        summary: CustomerSummary,
        session: list[Message],
    ) -> None:
        def run() -> Draft:
            with stage_span("response.generate") as span:
                draft = self.s.responder.compose(
                    text,
                    hits,
                    sentiment=ticket.sentiment,
                    summary=summary,
                    contact_count=ticket.contact_count,
                    conversation=session[:-1],
                )
                span.set_attribute("response.confidence", draft.confidence)
                span.set_attribute("response.answered", draft.answered)
                span.set_attribute("response.tokens", draft.tokens_used)
                span.set_attribute("response.generator", draft.generator)
            return draft

        ticket.draft = self._stage(ticket, "response.generate", run, None)
        if ticket.draft is not None:  # a model may echo a secret from a passage: not stored
            scope = f"{ticket.customer_id}/{ticket.session_id}"
            ticket.draft.text = self.redactor.redact(ticket.draft.text, scope, contacts=False)
        if ticket.draft is not None and ticket.draft.fallback_reason:
            ticket.stage_errors.append(
                StageError(stage="response.llm", error=ticket.draft.fallback_reason)
            )

    def _route(self, ticket: Ticket, text: str) -> None:
        draft, sentiment = ticket.draft, ticket.sentiment
        assert sentiment is not None
        # An LLM fallback is recorded but is not a failure: the composer's draft is sound.
        failures = [e for e in ticket.stage_errors if e.stage != "response.llm"]
        with stage_span("router.evaluate") as span:
            decision = route(
                sentiment,
                draft.confidence if draft else 0.0,
                contact_count=ticket.contact_count,
                answered=bool(draft and draft.answered),
                intake_priority=ticket.priority,
                stage_errors=failures,
                wants_human=asks_for_human(text),
                thresholds=self.thresholds,
            )
            if draft is not None and draft.autonomy != "send" and not decision.should_escalate:
                decision = held_decision(draft)  # the customer gets the holding reply
            span.set_attribute("escalation.result", decision.should_escalate)
            span.set_attribute("escalation.reason", decision.reason)
            span.set_attribute("escalation.rule", decision.rule)
        ticket.escalation = decision
        if decision.should_escalate:
            ticket.priority = decision.priority

    def _clarify(
        self, ticket: Ticket, text: str, hits: list[SearchHit], session: list[Message]
    ) -> None:
        """Turn the router's auto-reply or "no answer" into one clarifying question when the
        message is too vague to choose between close topics (``support_core.clarify``)."""
        decision = ticket.escalation
        if not self.settings.clarify_enabled or decision is None or ticket.stage_errors:
            return
        with stage_span("clarify.decide") as span:
            draft = ticket.draft
            calibrated = bool(draft and draft.evidence and draft.evidence.calibrated is not None)
            asked = clarify.decide(text, hits, ticket.search_plan, session, decision,
                                   self.clarify_thresholds, calibrated=calibrated)
            span.set_attribute("clarify.asked", asked is not None)
            if asked is not None:
                span.set_attribute("clarify.options", [o.label for o in asked.options])
                span.set_attribute("clarify.margin", asked.margin)
        if asked is not None:
            ticket.escalation = clarify.as_decision(asked, decision)

    # ------------------------------------------------------------------ delivery
    def _deliver(
        self, ticket: Ticket, summary: CustomerSummary, session: list[Message]
    ) -> PipelineResult:
        decision = ticket.escalation
        assert decision is not None
        if decision.should_escalate:
            return self._escalate(ticket, summary, session)
        if decision.rule == clarify.RULE:
            return self._ask(ticket)
        assert ticket.draft is not None
        reply = Message(
            role=Role.ASSISTANT,
            content=ticket.draft.text,
            metadata={
                "ticket_id": ticket.ticket_id,
                "sources": [s.model_dump() for s in ticket.draft.sources],
                **_readout(ticket),
            },
        )
        ticket = lifecycle.transition(
            ticket, TicketStatus.AWAITING_CUSTOMER, "pipeline", "Auto-reply sent"
        )
        ticket = self._finish(ticket, reply)
        return PipelineResult(ticket=ticket, action="auto_reply", message=reply.content)

    def _ask(self, ticket: Ticket) -> PipelineResult:
        """Reply with the clarifying question; its topics ride on the message, so the next
        turn (and the chat's buttons) can read the customer's choice."""
        decision = ticket.escalation
        assert decision is not None
        reply = Message(
            role=Role.ASSISTANT,
            content=str(decision.inputs["question"]),
            metadata={"ticket_id": ticket.ticket_id,
                      "clarify_options": decision.inputs.get("options", []), **_readout(ticket)},
        )
        ticket = lifecycle.transition(
            ticket, TicketStatus.AWAITING_CUSTOMER, "pipeline", decision.reason)
        ticket = self._finish(ticket, reply)
        return PipelineResult(ticket=ticket, action="clarify", message=reply.content)

    def _escalate(
        self, ticket: Ticket, summary: CustomerSummary, session: list[Message]
    ) -> PipelineResult:
        decision = ticket.escalation
        assert decision is not None
        failed = any(e.stage != "response.llm" for e in ticket.stage_errors)
        text = FAILURE_REPLY if failed else HOLDING_REPLY
        reply = Message(
            role=Role.ASSISTANT,
            content=text,
            metadata={"ticket_id": ticket.ticket_id, "holding": True, **_readout(ticket)},
        )
        ticket = lifecycle.transition(ticket, TicketStatus.ESCALATED, "router", decision.reason)
        with stage_span(
            "handoff.enqueue",
            **{"handoff.queue": decision.queue.value, "handoff.priority": decision.priority.value},
        ):
            conversation = [*session] if session else list(ticket.messages)
            package = build_handoff_package(
                ticket, summary, conversation,
                frustration_threshold=self.settings.frustration_threshold,
            )
            # A failure here is recorded; the ticket still ends escalated and the sweeper
            # (repair.sweep) queues the missing handoff.
            queued = self._stage(ticket, "handoff.enqueue", lambda: self._enqueue(package), None)
            if queued is not None:
                package = queued
        self._stage(
            ticket,
            "memory.record_escalation",
            lambda: self.s.memory.record_escalation(ticket.customer_id, ticket.ticket_id),
            None,
        )
        ticket = self._finish(ticket, reply)
        return PipelineResult(
            ticket=ticket, action="escalated", message=text, handoff_id=package.handoff_id
        )

    def _enqueue(self, package: HandoffPackage) -> HandoffPackage:
        """Queue the handoff; if another process escalated this ticket meanwhile, add this
        message to the open handoff instead of queuing a second one."""
        stored, queued = self.s.store.enqueue_handoff_once(package)
        if not queued:
            latest = package.conversation[-1:] or []
            for message in latest:
                self.s.store.append_handoff_message(package.ticket_id, message)
        return self.s.store.get_handoff(stored.handoff_id)

    def _finish(self, ticket: Ticket, reply: Message) -> Ticket:
        """Append the reply and store this run's changes on top of anything stored meanwhile
        (an agent's reply, another message); returns the ticket as stored."""
        ticket.messages.append(reply)
        ticket.updated_at = utcnow()
        self._stage(
            ticket,
            "memory.save_reply",
            lambda: self.s.memory.add_message(ticket.customer_id, ticket.session_id, reply),
            None,
        )
        opened = _OPENED.get(None)
        if opened is not None and opened.ticket_id == ticket.ticket_id:
            ticket = self.s.store.save_changes(opened, ticket)
        else:
            self.s.store.save_ticket(ticket)
        return ticket

    # ------------------------------------------------------------------ human-handled tickets
    def _human_is_handling(self, ticket: Ticket) -> bool:
        if ticket.status == TicketStatus.ESCALATED:
            return True
        handoff = self.s.store.active_handoff(ticket.ticket_id)
        return handoff is not None and handoff.status != HandoffStatus.RESOLVED

    def _back_to_agent(
        self, ticket: Ticket, text: str, earlier: HandoffPackage
    ) -> PipelineResult:
        """A reopened ticket a person had resolved goes back to that person, in the same
        queue, with the new message, instead of being answered by the AI."""
        agent = earlier.claimed_by or ""
        msg = ticket.messages[-1]
        msg.metadata.update({"session_id": ticket.session_id})
        self._stage(ticket, "memory.save_message",
                    lambda: self.s.memory.add_message(ticket.customer_id, ticket.session_id, msg),
                    None)
        history, session, summary = self._load_memory(ticket)
        self._analyze(ticket, text, session or ticket.messages, summary)
        reason = f"Reopened by the customer; back to {agent}, who resolved it"
        ticket.escalation = EscalationDecision(
            should_escalate=True, queue=earlier.queue, priority=earlier.priority,
            reason=reason, rule="reopened_to_agent")
        ticket = lifecycle.transition(ticket, TicketStatus.ESCALATED, "customer", reason)
        package = build_handoff_package(
            ticket, summary, list(ticket.messages),
            frustration_threshold=self.settings.frustration_threshold)
        self.s.store.enqueue_claimed(package, agent)  # never visible as queued to others
        reply = Message(role=Role.ASSISTANT, content=FOLLOW_UP_REPLY,
                        metadata={"ticket_id": ticket.ticket_id, "holding": True,
                                  **_readout(ticket)})
        self._finish(ticket, reply)
        return PipelineResult(ticket=ticket, action="escalated", message=FOLLOW_UP_REPLY,
                              handoff_id=package.handoff_id)

    def _forward_to_human(self, ticket: Ticket, text: str) -> PipelineResult:
        """A follow-up on a ticket a human owns goes to that human, not through the AI again."""
        msg = ticket.messages[-1]
        msg.metadata.update({"session_id": ticket.session_id})
        self._stage(
            ticket,
            "memory.save_message",
            lambda: self.s.memory.add_message(ticket.customer_id, ticket.session_id, msg),
            None,
        )
        if ticket.status in (TicketStatus.AWAITING_CUSTOMER, TicketStatus.REOPENED):
            ticket = lifecycle.transition(
                ticket,
                TicketStatus.ESCALATED,
                "customer",
                "Follow-up on a ticket a specialist is handling",
            )
        self._analyze(
            ticket, text, ticket.messages, CustomerSummary(customer_id=ticket.customer_id)
        )
        self.s.store.append_handoff_message(ticket.ticket_id, msg, ticket.sentiment)
        reply = Message(
            role=Role.ASSISTANT,
            content=FOLLOW_UP_REPLY,
            metadata={"ticket_id": ticket.ticket_id, "holding": True, **_readout(ticket)},
        )
        ticket = self._finish(ticket, reply)
        return PipelineResult(ticket=ticket, action="escalated", message=FOLLOW_UP_REPLY)


def _topic_articles(hits: list[SearchHit], n: int = 3) -> list[str]:
    return list(dict.fromkeys(h.article_id for h in hits))[:n]


def _same_issue(earlier: MessageMetadata, current: MessageMetadata) -> bool:
    before, now = set(earlier.get("topic_articles") or ()), set(current.get("topic_articles") or ())
    if before and now:
        return bool(before & now)
    return current.get("category") is None or earlier.get("category") == current.get("category")


def _readout(ticket: Ticket) -> dict[str, Any]:
    """What the chat shows under a reply: confidence and the sentiment it answered."""
    s = ticket.sentiment
    return {
        "confidence": ticket.draft.confidence if ticket.draft else None,
        "sentiment_level": s.level.value if s else None,
        "frustration": s.frustration_score if s else None,
    }
