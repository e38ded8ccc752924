"""Customer ratings and the support metrics, computed from the reporting events.

Nothing here is written after every message: what happened to a ticket is in the append-only
reporting-event log (``support_core.reporting``), which the store writes in the transaction
of each change, and a ticket's outcome (:class:`TicketOutcome`) is computed from its events by
a query when metrics are asked for. At most one CSAT rating per ticket (re-rating replaces it
and appends a ``rated`` event). This module holds the rules and the arithmetic, never SQL.

Metrics are computed over a real time window on the ticket's ``created_at`` (``since``
inclusive, ``until`` exclusive): a ticket belongs to the period in which the customer first
wrote, wherever its resolution or rating falls. CSAT is split by who handled the ticket
(auto = never escalated, human = escalated at least once), because "is the AI as good as a
person?" is the question the split answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from support_core.adapters.ticket_store_sql import iso
from support_core.errors import InputError, NotFound
from support_core.lifecycle import time_in_status
from support_core.models import TicketStatus, utcnow
from support_core.ports import TicketStore
from support_core.validation import normalize_text

MAX_COMMENT_CHARS = 2000
TOP_REASONS = 5


# ----------------------------------------------------------------------------- records
class TicketOutcome(BaseModel):
    """What a ticket's events say about it (computed, never stored)."""

    ticket_id: str
    customer_id: str
    resolved: bool = False
    was_escalated: bool = False  # reached a human at least once
    escalation_reason: str | None = None
    escalation_rule: str | None = None
    auto_reply_count: int = 0
    human_reply_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    resolution_seconds: float | None = None
    first_human_reply_seconds: float | None = None  # from handoff queued to first human reply
    sentiment_level: str | None = None
    score: int | None = None
    is_demo: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TicketOutcome:
        resolved_seq, reopened_seq = row["resolved_seq"], row["reopened_seq"]
        resolved = resolved_seq is not None and (
            reopened_seq is None or reopened_seq < resolved_seq)
        escalated = int(row["escalations"]) > 0
        score = row["score"]
        return cls(
            ticket_id=row["ticket_id"], customer_id=row["customer_id"], resolved=resolved,
            was_escalated=escalated,
            escalation_reason=row["escalation_reason"] if escalated else None,
            escalation_rule=row["escalation_rule"] if escalated else None,
            auto_reply_count=int(row["auto_reply_count"]),
            human_reply_count=int(row["human_reply_count"]),
            created_at=datetime.fromisoformat(row["created_at"]),
            resolved_at=datetime.fromisoformat(row["resolved_at"]) if resolved else None,
            resolution_seconds=row["resolution_seconds"] if resolved else None,
            first_human_reply_seconds=row["first_human_reply_seconds"],
            sentiment_level=row["sentiment_level"], is_demo=bool(row["is_demo"]),
            score=int(score) if score is not None else None,
        )


class CsatRating(BaseModel):
    ticket_id: str
    score: int = Field(ge=1, le=5)
    comment: str = ""
    at: datetime


class EscalationReasonCount(BaseModel):
    rule: str
    count: int


class SupportMetrics(BaseModel):
    """Support health over ``[since, until)``. With no tickets: counts and rates are 0,
    averages are None (there is nothing to average, and 0 would read as a real score)."""

    since: datetime | None = None
    until: datetime | None = None
    tickets: int = 0
    resolved: int = 0
    escalated: int = 0
    resolution_rate: float = 0.0
    escalation_rate: float = 0.0
    auto_resolution_rate: float = 0.0  # resolved without ever reaching a human
    avg_csat: float | None = None
    avg_csat_auto: float | None = None
    avg_csat_human: float | None = None
    csat_count: int = 0
    avg_resolution_seconds: float | None = None
    avg_first_human_reply_seconds: float | None = None
    top_escalation_reasons: list[EscalationReasonCount] = Field(default_factory=list)
    sentiment_mix: dict[str, int] = Field(default_factory=dict)

    @property
    def csat_gap(self) -> float | None:
        """Auto minus human CSAT; within 0.5 points means the AI holds its own."""
        if self.avg_csat_auto is None or self.avg_csat_human is None:
            return None
        return self.avg_csat_auto - self.avg_csat_human


# ----------------------------------------------------------------------------- helpers
def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _rate(part: int, total: int) -> float:
    return part / total if total else 0.0


def _is_auto_resolved(row: TicketOutcome) -> bool:
    return row.resolved and not row.was_escalated


def validate_score(score: object) -> int:
    """Scores are whole numbers 1-5; anything else is the caller's mistake."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InputError(f"A rating must be a whole number from 1 to 5, not {score!r}.")
    return score


# ----------------------------------------------------------------------------- the store
class OutcomeStore:
    """Outcomes, ratings and metrics, stored through the TicketStore port."""

    def __init__(self, store: TicketStore | str | Path) -> None:
        if isinstance(store, str | Path):
            from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore

            store = SQLiteTicketStore(store)
        self.tickets: TicketStore = store

    def get_outcome(self, ticket_id: str) -> TicketOutcome:
        rows = self.tickets.outcome_rows(None, None, True, ticket_id=ticket_id)
        if not rows:
            raise NotFound(f"There is no ticket {ticket_id}.")
        return TicketOutcome.from_row(rows[0])

    def rate(
        self, ticket_id: str, score: int, comment: str = "", at: datetime | None = None
    ) -> CsatRating:
        """Rate a known ticket 1-5; a second rating replaces the first."""
        rating = CsatRating(
            ticket_id=ticket_id, score=validate_score(score),
            comment=self._checked_comment(comment), at=at or utcnow(),
        )
        if not self.tickets.knows_ticket(ticket_id):
            raise NotFound(f"There is no ticket {ticket_id} to rate.")
        self.tickets.record_rating_row(rating.model_dump() | {"at": iso(rating.at)})
        return rating

    def rating(self, ticket_id: str) -> CsatRating | None:
        row = self.tickets.rating_row(ticket_id)
        return CsatRating.model_validate(row) if row else None

    def ratings(self, ticket_ids: Sequence[str]) -> dict[str, CsatRating]:
        """Ratings of many tickets in one query."""
        rows = self.tickets.ratings(ticket_ids)
        return {tid: CsatRating.model_validate(row) for tid, row in rows.items()}

    @staticmethod
    def _checked_comment(comment: str | None) -> str:
        text = normalize_text(comment or "").strip()
        if len(text) > MAX_COMMENT_CHARS:
            raise InputError(f"Please keep the comment under {MAX_COMMENT_CHARS} characters.")
        return text

    # ------------------------------------------------------------------------- metrics
    def outcomes(
        self, since: datetime | None = None, until: datetime | None = None,
        include_demo: bool = True,
    ) -> list[TicketOutcome]:
        """The outcomes of the tickets created in ``[since, until)``, oldest first."""
        rows = self.tickets.outcome_rows(since, until, include_demo)
        return [TicketOutcome.from_row(r) for r in rows]

    def metrics(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        include_demo: bool = True,
    ) -> SupportMetrics:
        """Support metrics for tickets created in ``[since, until)`` (None = unbounded)."""
        rows = self.outcomes(since, until, include_demo)
        total = len(rows)
        resolved = sum(r.resolved for r in rows)
        escalated = [r for r in rows if r.was_escalated]
        rated = [r for r in rows if r.score is not None]
        return SupportMetrics(
            since=since, until=until, tickets=total, resolved=resolved,
            escalated=len(escalated), resolution_rate=_rate(resolved, total),
            escalation_rate=_rate(len(escalated), total),
            auto_resolution_rate=_rate(sum(_is_auto_resolved(r) for r in rows), total),
            avg_csat=_mean(r.score for r in rated), csat_count=len(rated),
            avg_csat_auto=_mean(r.score for r in rated if not r.was_escalated),
            avg_csat_human=_mean(r.score for r in rated if r.was_escalated),
            avg_resolution_seconds=_mean(r.resolution_seconds for r in rows if r.resolved),
            avg_first_human_reply_seconds=_mean(r.first_human_reply_seconds for r in escalated),
            top_escalation_reasons=_top_reasons(escalated),
            sentiment_mix=dict(Counter(r.sentiment_level or "unknown" for r in rows)),
        )

    def daily_series(
        self, since: datetime, until: datetime, include_demo: bool = True
    ) -> list[dict[str, Any]]:
        """One row per UTC day in ``[since, until)``, days without tickets included as zeros."""
        by_day: dict[str, list[TicketOutcome]] = {}
        for row in self.outcomes(since, until, include_demo):
            by_day.setdefault(iso(row.created_at)[:10], []).append(row)
        return [_day_summary(day, by_day.get(day, [])) for day in _days(since, until)]

    def time_in_status_summary(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        now: datetime | None = None,
        include_demo: bool = True,
    ) -> dict[str, float]:
        """Mean seconds per status over tickets created in the window that visited it.

        Tickets still open count their current status up to ``now``.
        """
        per_status: dict[str, list[float]] = {}
        for trail in self.tickets.trails(since, until, include_demo).values():
            for status, seconds in time_in_status(trail, now or utcnow()).items():
                per_status.setdefault(status.value, []).append(seconds)
        ordered = [s.value for s in TicketStatus if s.value in per_status]
        return {status: sum(per_status[status]) / len(per_status[status]) for status in ordered}


def _top_reasons(escalated: list[TicketOutcome]) -> list[EscalationReasonCount]:
    counts = Counter(r.escalation_rule or "unspecified" for r in escalated)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    return [EscalationReasonCount(rule=rule, count=n) for rule, n in ranked]


def _days(since: datetime, until: datetime) -> list[str]:
    first: date = datetime.fromisoformat(iso(since)).date()
    last: date = datetime.fromisoformat(iso(until - timedelta(microseconds=1))).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _day_summary(day: str, rows: list[TicketOutcome]) -> dict[str, Any]:
    return {
        "date": day,
        "tickets": len(rows),
        "escalated": sum(r.was_escalated for r in rows),
        "auto_resolved": sum(_is_auto_resolved(r) for r in rows),
        "avg_csat": _mean(r.score for r in rows),
    }
