"""Metrics a manager asks for once the basics are in place.

* time to first human reply after escalation: median and p90 seconds, overall and per queue
  (handoffs created in the window; ones still waiting are counted as ``waiting``)
* CSAT by escalation reason (the router rule; ``auto_reply`` for tickets never escalated)
  and by sentiment signal (every signal seen on the ticket; ``none`` when there was none)
* draft use: how agents used the AI draft in resolutions (as-is / edited / discarded)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from support_core.learning.records import DraftUse
from support_core.learning.store import LearningStore
from support_core.ports import TicketStore

MAX_TICKETS = 100_000


class Ratings(Protocol):
    def rating(self, ticket_id: str) -> Any: ...


def _in_window(moment: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or moment >= since) and (until is None or moment < until)


def _spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_seconds": None, "p90_seconds": None}
    arr = np.asarray(values, dtype=float)
    return {"count": len(values), "median_seconds": round(float(np.median(arr)), 1),
            "p90_seconds": round(float(np.percentile(arr, 90)), 1)}


def first_reply_times(
    store: TicketStore, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    per_queue: dict[str, list[float]] = defaultdict(list)
    waiting: Counter[str] = Counter()
    for h in store.list_handoffs():
        if not _in_window(h.created_at, since, until):
            continue
        if h.first_reply_at is None:
            waiting[h.queue.value] += 1
            continue
        per_queue[h.queue.value].append((h.first_reply_at - h.created_at).total_seconds())
    every = [v for values in per_queue.values() for v in values]
    queues = sorted(set(per_queue) | set(waiting))
    return {**_spread(every), "waiting": sum(waiting.values()),
            "per_queue": {q: {**_spread(per_queue[q]), "waiting": waiting[q]} for q in queues}}


def _mean_table(groups: dict[str, list[int]]) -> dict[str, dict[str, Any]]:
    return {k: {"count": len(v), "avg_csat": round(sum(v) / len(v), 2)}
            for k, v in sorted(groups.items())}


def csat_breakdowns(
    store: TicketStore, ratings: Ratings,
    since: datetime | None = None, until: datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(by escalation reason, by sentiment signal) over rated tickets created in the window."""
    by_reason: dict[str, list[int]] = defaultdict(list)
    by_signal: dict[str, list[int]] = defaultdict(list)
    for ticket in store.list_tickets(since=since, until=until, limit=MAX_TICKETS):
        rated = ratings.rating(ticket.ticket_id)
        if rated is None:
            continue
        esc = ticket.escalation
        reason = esc.rule if esc and esc.should_escalate else "auto_reply"
        by_reason[reason].append(rated.score)
        trail = ticket.sentiment_trail or ([ticket.sentiment] if ticket.sentiment else [])
        signals = {str(getattr(s, "value", s)) for r in trail for s in r.signals} or {"none"}
        for signal in signals:
            by_signal[signal].append(rated.score)
    return _mean_table(by_reason), _mean_table(by_signal)


def draft_use_share(
    learning: LearningStore, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    uses: Iterable[DraftUse] = (r.draft_use for r in learning.resolutions(since)
                                if _in_window(r.resolved_at, since, until))
    counts = Counter(uses)
    with_draft = sum(counts[u] for u in (DraftUse.AS_IS, DraftUse.EDITED, DraftUse.DISCARDED))
    share = {u.value: round(counts[u] / with_draft, 4) if with_draft else 0.0
             for u in (DraftUse.AS_IS, DraftUse.EDITED, DraftUse.DISCARDED)}
    return {"resolutions": sum(counts.values()), "with_draft": with_draft,
            "counts": {u.value: counts[u] for u in DraftUse}, "share": share}


def learning_metrics(
    store: TicketStore, learning: LearningStore, ratings: Ratings,
    since: datetime | None = None, until: datetime | None = None,
) -> dict[str, Any]:
    """The keys ``deskpilot metrics --json`` adds: time_to_first_human_reply,
    csat_by_reason, csat_by_signal, draft_use."""
    by_reason, by_signal = csat_breakdowns(store, ratings, since, until)
    return {
        "time_to_first_human_reply": first_reply_times(store, since, until),
        "csat_by_reason": by_reason,
        "csat_by_signal": by_signal,
        "draft_use": draft_use_share(learning, since, until),
    }
