"""What the inbox shows about a handoff and what the signed-in agent may do with it.

Pure functions over :class:`~support_core.views.InboxRow` and the handoff: the queue
table's rows, the header's lines, the priority badge's colour, and the buttons the viewer
gets (claim, return, reassign, reply). The pages only lay these out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from support_core.access import Action, Principal
from support_core.display import duration, since
from support_core.models import HandoffPackage, HandoffStatus, Priority, Role
from support_core.views import InboxRow

PRIORITY_COLOR = {
    Priority.CRITICAL: "red",
    Priority.HIGH: "orange",
    Priority.MEDIUM: "blue",
    Priority.LOW: "green",
}


def priority_badge(priority: Priority) -> str:
    """Markdown for a coloured priority badge (icons render without emoji fonts)."""
    return f":{PRIORITY_COLOR[priority]}-badge[{priority.value}]"


def sla_label(row: InboxRow) -> str:
    """``BREACHED 5 min ago``, ``AT RISK · 10 min left``, ``2 h left`` or ``met``."""
    left = row.sla.seconds_left
    if row.sla.breached:
        return f"BREACHED {duration(-left)} ago" if left is not None and left < 0 else "BREACHED"
    if left is None:
        return "met"
    return f"{'AT RISK · ' if row.sla.at_risk else ''}{duration(left)} left"


def queue_rows(
    rows: list[InboxRow], open_id: str | None, now: datetime | None = None
) -> list[dict[str, str]]:
    """The queue table; the open ticket is marked with ``▶``."""
    return [{"": "▶" if r.handoff_id == open_id else "",
             "SLA": sla_label(r), "priority": r.handoff.priority.value,
             "customer": r.handoff.customer_id + (" (demo)" if r.handoff.is_demo else ""),
             "waiting": since(r.handoff.created_at, now), "agent": r.handoff.claimed_by or "",
             "queue": r.handoff.queue.value, "reason": r.handoff.reason}
            for r in rows]  # fmt: skip


def open_ticket(rows: list[InboxRow], current: str | None) -> str:
    """The ticket beside the queue: the one already open while it is listed, else the first."""
    ids = [r.handoff_id for r in rows]
    return current if current in ids else ids[0]


def status_line(row: InboxRow, now: datetime | None = None) -> str:
    """Priority (and whether an SLA breach raised it), SLA state, wait, owner, ticket."""
    h = row.handoff
    owner = f"claimed by **{h.claimed_by}**" if h.claimed_by else "waiting in the queue"
    demo = " · :orange-badge[demo data]" if h.is_demo else ""
    raised = " (raised after an SLA breach)" if h.priority != row.base_priority else ""
    sla = ":red-badge[SLA breached]" if row.sla.breached else (
        ":orange-badge[SLA at risk]" if row.sla.at_risk else "")  # fmt: skip
    return (f"{priority_badge(h.priority)}{raised} {sla} · waiting **{since(h.created_at, now)}**"
            f" · {owner} · ticket `{h.ticket_id}`{demo}")  # fmt: skip


def due_line(row: InboxRow) -> str:
    return (f"First response due {row.sla.first_response_due:%Y-%m-%d %H:%M} UTC · "
            f"resolution due {row.sla.resolution_due:%Y-%m-%d %H:%M} UTC")  # fmt: skip


def customer_line(h: HandoffPackage) -> str:
    c = h.customer
    return (f"Customer: {c.total_interactions} messages in history · "
            f"{c.previous_escalations} earlier escalation(s) · recent topics: "
            f"{', '.join(c.recent_topics) or 'none'}")  # fmt: skip


@dataclass(frozen=True)
class AgentOptions:
    """The buttons the viewer gets on an open handoff."""

    claim: bool  # queued: anyone working the inbox may claim (atomically)
    release: bool  # claimed by the viewer, or the viewer may reassign
    reassign_to: list[str] | None  # managers: the other active users; None = no reassign
    reply: bool  # the viewer holds the claim: reply box, notes on the draft, resolve
    held_by_other: str | None  # who else holds the claim, to warn the viewer


def agent_options(
    h: HandoffPackage, viewer: Principal, agents: Callable[[], list[str]]
) -> AgentOptions:
    """``agents``: the active users (``DeskViews.agents``), asked only when they are offered."""
    mine = h.status is HandoffStatus.CLAIMED and h.claimed_by == viewer.name
    may_reassign = viewer.can(Action.REASSIGN)
    offer = may_reassign and h.status is not HandoffStatus.RESOLVED
    return AgentOptions(
        claim=h.status is HandoffStatus.QUEUED,
        release=h.status is HandoffStatus.CLAIMED and (mine or may_reassign),
        reassign_to=[a for a in agents() if a != h.claimed_by] if offer else None,
        reply=mine,
        held_by_other=h.claimed_by if h.status is HandoffStatus.CLAIMED and not mine else None,
    )


def reply_start(h: HandoffPackage) -> str:
    """The reply box starts from the AI draft until an agent has answered the customer."""
    answered = any(m.role is Role.AGENT for m in h.conversation)
    return h.draft.text if h.draft and not answered else ""


def sentiment_points(h: HandoffPackage) -> dict[str, list[Any]]:
    """The frustration trail as chart points: message number, score, level label."""
    trail = h.sentiment_trail
    return {"x": list(range(1, len(trail) + 1)), "y": [s.frustration_score for s in trail],
            "text": [s.level.value for s in trail]}


def cite_options(h: HandoffPackage, titles: dict[str, str]) -> list[str]:
    """Articles an agent may cite (``titles``: id -> title, see ``kb_view.article_titles``),
    the AI draft's sources first."""
    first = [s.article_id for s in (h.draft.sources if h.draft else []) if s.article_id in titles]
    return list(dict.fromkeys([*first, *titles]))
