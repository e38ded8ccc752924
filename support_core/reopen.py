"""Returning customers: reopen the earlier ticket, or open a new one that links it?

A customer who writes again within the reopen window about *the same issue* gets their
resolved ticket back, whichever session they write from; a different issue (a two-factor
question after a refund) gets a new ticket that links the earlier one. "The same issue"
is judged on what retrieval said each was about: a shared top article, or, when neither
has articles, the same intake category. :func:`choose` is pure: the pipeline passes the
candidates and the new message's topic and acts on the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from support_core.lifecycle import last_resolved_at, should_reopen
from support_core.models import SearchHit, Ticket, TicketStatus

TOPIC_ARTICLES = 3  # top articles that name a message's topic


@dataclass(frozen=True)
class Topic:
    """What a message (or a ticket) is about."""

    articles: frozenset[str]
    category: str | None = None

    @classmethod
    def of_hits(cls, hits: Sequence[SearchHit], category: str | None = None) -> Topic:
        return cls(frozenset(list(dict.fromkeys(h.article_id for h in hits))[:TOPIC_ARTICLES]),
                   category)

    @classmethod
    def of_ticket(cls, ticket: Ticket) -> Topic:
        category = ticket.intake.category if ticket.intake else None
        articles = set(Topic.of_hits(ticket.retrieved).articles)
        if ticket.draft is not None:
            articles |= {s.article_id for s in ticket.draft.sources}
        return cls(frozenset(articles), category)

    def same_issue(self, other: Topic) -> bool:
        if self.articles and other.articles:
            return bool(self.articles & other.articles)
        return self.category is not None and self.category == other.category


@dataclass(frozen=True)
class ReopenDecision:
    reopen: Ticket | None  # the ticket to reopen, if any
    linked: Ticket | None  # else: the earlier ticket a new one should link (if any)
    reason: str


def choose(
    candidates: Iterable[Ticket], topic: Topic, now: datetime, window_hours: float
) -> ReopenDecision:
    """The most recently resolved ticket within the window about the same issue, to reopen;
    otherwise the most recent resolved one within the window, to link."""
    recent = [t for t in candidates if t.status == TicketStatus.RESOLVED
              and should_reopen(last_resolved_at(t), now, window_hours)]
    recent.sort(key=lambda t: last_resolved_at(t) or t.updated_at, reverse=True)
    for ticket in recent:
        if Topic.of_ticket(ticket).same_issue(topic):
            return ReopenDecision(ticket, None, "Customer wrote again about the same issue "
                                                "within the reopen window")
    if recent:
        return ReopenDecision(None, recent[0], "A different issue from the recently resolved "
                                               f"ticket {recent[0].ticket_id}")
    return ReopenDecision(None, None, "No ticket resolved within the reopen window")
