"""Memory semantics shared by every ``MemoryStore`` adapter.

Both adapters (SQLite, Redis) store times as whole UTC microseconds and build the
customer summary with the same function, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone

from support_core.models import CustomerSummary, Message, Role

Clock = Callable[[], datetime]

MAX_RECENT_TOPICS = 5
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken to be UTC already; aware ones are converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def to_micros_delta(span: timedelta) -> int:
    """A duration in whole microseconds, without float rounding."""
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch: exact as a Redis score (< 2**53) and as a SQLite INTEGER."""
    return to_micros_delta(to_utc(moment) - EPOCH)


def normalized(message: Message) -> Message:
    """The message as stored: its timestamp in UTC, everything else untouched."""
    return message.model_copy(update={"timestamp": to_utc(message.timestamp)})


def check_limits(session_ttl_seconds: float, history_ttl_days: float, history_max: int) -> None:
    """Settings validates user input; this catches a programming slip in direct construction."""
    if session_ttl_seconds <= 0 or history_ttl_days <= 0 or history_max < 1:
        raise ValueError("memory TTLs and the history cap must be positive")


def summarize(customer_id: str, history: Iterable[Message], escalations: int) -> CustomerSummary:
    """Build the agent-facing summary from the windowed history (oldest first)."""
    from_customer = [m for m in history if m.role == Role.CUSTOMER]
    topics: list[str] = []
    for message in reversed(from_customer):
        category = message.metadata.get("category")
        if isinstance(category, str) and category and category not in topics:
            topics.append(category)
        if len(topics) == MAX_RECENT_TOPICS:
            break
    return CustomerSummary(
        customer_id=customer_id,
        total_interactions=len(from_customer),
        recent_topics=topics,
        last_contact=from_customer[-1].timestamp if from_customer else None,
        previous_escalations=escalations,
    )
