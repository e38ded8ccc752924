"""What-if replay of the escalation rules over past tickets, with no side effects.

Each past ticket that went through the router is re-decided from its stored inputs (the
sentiment result on the ticket, the draft's confidence and whether it answered, the
contact count, and from the recorded decision inputs: intake priority, failed stages and
whether the customer asked for a person) by :func:`support_core.router.route` itself, once
under the current thresholds and once under the proposed ones. Nothing is saved.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from support_core.errors import InputError
from support_core.models import (
    EscalationDecision,
    Priority,
    SentimentResult,
    StageError,
    Ticket,
    utcnow,
)
from support_core.ports import TicketStore
from support_core.router import RouterThresholds, route

MAX_TICKETS = 100_000


class ReplaySide(BaseModel):
    escalation_rate: float
    escalated: int
    queues: dict[str, int]


class ReplayChange(BaseModel):
    ticket_id: str
    subject: str
    current_queue: str
    current_rule: str
    proposed_queue: str
    proposed_rule: str


class ReplayReport(BaseModel):
    tickets: int
    thresholds_current: dict[str, float]
    thresholds_proposed: dict[str, float]
    current: ReplaySide
    proposed: ReplaySide
    changed: list[ReplayChange]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def threshold_names() -> list[str]:
    return [f.name for f in dataclasses.fields(RouterThresholds)]


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """``["frustration_threshold=0.3"]`` -> ``{"frustration_threshold": 0.3}``, checked."""
    names = threshold_names()
    out: dict[str, float] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise InputError(f"Use --set NAME=VALUE with NAME one of: {', '.join(names)}.")
        try:
            out[name] = float(raw)
        except ValueError:
            raise InputError(f"{name} needs a number, not {raw.strip()!r}.") from None
    return out


def propose(current: RouterThresholds, changes: Mapping[str, float]) -> RouterThresholds:
    fields = {f.name: f.type for f in dataclasses.fields(RouterThresholds)}
    typed: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in fields:
            raise InputError(f"Unknown threshold {name}; use one of: {', '.join(fields)}.")
        if "int" in str(fields[name]):
            if value != int(value) or value < 1:
                raise InputError(f"{name} must be a whole number of at least 1.")
            typed[name] = int(value)
        else:
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be between 0 and 1.")
            typed[name] = value
    return dataclasses.replace(current, **typed)


def _stage_errors(inputs: Mapping[str, Any]) -> list[StageError]:
    out = []
    for text in inputs.get("stage_errors") or []:
        stage, _, error = str(text).partition(": ")
        out.append(StageError(stage=stage, error=error))
    return out


def decide(ticket: Ticket, thresholds: RouterThresholds) -> EscalationDecision | None:
    """The router's decision for a past ticket under ``thresholds`` (None: never routed)."""
    recorded = ticket.escalation
    if recorded is None or ticket.sentiment is None:
        return None
    inputs = recorded.inputs
    draft = ticket.draft
    sentiment = ticket.sentiment
    if inputs.get("sentiment_level") is not None:  # what the router saw, not a later follow-up
        sentiment = SentimentResult.model_validate(sentiment.model_dump() | {
            "level": inputs["sentiment_level"],
            "frustration_score": inputs.get("frustration_score") or 0.0,
            "signals": inputs.get("signals") or [],
        })
    confidence = inputs.get("confidence", draft.confidence if draft else 0.0)
    answered = inputs.get("answered", bool(draft and draft.answered))
    return route(
        sentiment,
        float(confidence),
        contact_count=int(inputs.get("contact_count", ticket.contact_count)),
        answered=bool(answered),
        intake_priority=Priority(inputs.get("intake_priority", Priority.MEDIUM.value)),
        stage_errors=_stage_errors(inputs),
        wants_human=bool(inputs.get("wants_human", False)),
        thresholds=thresholds,
    )


def _side(decisions: Iterable[EscalationDecision]) -> ReplaySide:
    decided = list(decisions)
    queues = Counter(d.queue.value for d in decided)
    escalated = sum(d.should_escalate for d in decided)
    return ReplaySide(escalation_rate=escalated / len(decided) if decided else 0.0,
                      escalated=escalated, queues=dict(sorted(queues.items())))


def replay(
    store: TicketStore,
    current: RouterThresholds,
    changes: Mapping[str, float],
    *,
    days: float | None = 30,
    now: datetime | None = None,
    include_demo: bool = True,
) -> ReplayReport:
    proposed = propose(current, changes)
    since = (now or utcnow()) - timedelta(days=days) if days else None
    tickets = store.list_tickets(since=since, limit=MAX_TICKETS)
    rows = []
    for ticket in reversed(tickets):  # oldest first
        if ticket.is_demo and not include_demo:
            continue
        before, after = decide(ticket, current), decide(ticket, proposed)
        if before is not None and after is not None:
            rows.append((ticket, before, after))
    changed = [
        ReplayChange(ticket_id=t.ticket_id, subject=t.subject, current_queue=b.queue.value,
                     current_rule=b.rule, proposed_queue=a.queue.value, proposed_rule=a.rule)
        for t, b, a in rows if (b.should_escalate, b.queue) != (a.should_escalate, a.queue)
    ]
    return ReplayReport(
        tickets=len(rows), thresholds_current=dataclasses.asdict(current),
        thresholds_proposed=dataclasses.asdict(proposed),
        current=_side(b for _, b, _ in rows), proposed=_side(a for _, _, a in rows),
        changed=changed,
    )
