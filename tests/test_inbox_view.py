"""What the inbox shows about a handoff and which buttons the viewer gets, without a browser."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from support_core import inbox_view
from support_core.access import Principal, StaffRole
from support_core.models import (
    CustomerSummary,
    Draft,
    HandoffPackage,
    HandoffStatus,
    Message,
    Priority,
    Queue,
    Role,
    Source,
)
from support_core.sla import ClockState, SlaStatus
from support_core.views import InboxRow

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
ANA = Principal("ana", StaffRole.AGENT)
MAX = Principal("max", StaffRole.MANAGER)


def handoff(status: HandoffStatus = HandoffStatus.QUEUED, claimed_by: str | None = None,
            agent_replied: bool = False, priority: Priority = Priority.HIGH) -> HandoffPackage:
    conversation = [Message(role=Role.CUSTOMER, content="help")]
    if agent_replied:
        conversation.append(Message(role=Role.AGENT, content="on it"))
    return HandoffPackage(
        ticket_id="t1", customer_id="cust", session_id="s", created_at=T0, queue=Queue.TIER1,
        priority=priority, reason="angry", rule="r", suggested_action="answer",
        customer=CustomerSummary(customer_id="cust"), conversation=conversation,
        sentiment_trail=[], draft=Draft(text="Draft answer", confidence=0.4, answered=True),
        retrieved=[], status=status, claimed_by=claimed_by,
    )  # fmt: skip


def row(h: HandoffPackage, first: ClockState, left: float | None,
        base: Priority | None = None) -> InboxRow:
    clock = SlaStatus(first_response_due=T0 + timedelta(hours=1), resolution_due=T0,
                      first_response=first, resolution=ClockState.RUNNING, seconds_left=left)
    return InboxRow(h, base or h.priority, clock)


def test_sla_label_says_how_late_or_how_long_is_left() -> None:
    h = handoff()
    assert inbox_view.sla_label(row(h, ClockState.BREACHED, -300)) == "BREACHED 5 min ago"
    assert inbox_view.sla_label(row(h, ClockState.BREACHED, None)) == "BREACHED"
    assert inbox_view.sla_label(row(h, ClockState.AT_RISK, 600)) == "AT RISK · 10 min left"
    assert inbox_view.sla_label(row(h, ClockState.RUNNING, 7200)) == "2 h left"
    assert inbox_view.sla_label(row(h, ClockState.MET, None)) == "met"


def test_queue_rows_mark_the_open_ticket_and_demo_customers() -> None:
    demo = handoff().model_copy(update={"is_demo": True, "handoff_id": "hof-demo"})
    rows = [row(handoff(), ClockState.RUNNING, 60), row(demo, ClockState.RUNNING, 60)]
    table = inbox_view.queue_rows(rows, "hof-demo", now=T0 + timedelta(minutes=30))
    assert [r[""] for r in table] == ["", "▶"]
    assert [r["customer"] for r in table] == ["cust", "cust (demo)"]
    assert table[0]["waiting"] == "30 min" and table[0]["priority"] == "high"


def test_status_line_says_when_an_sla_breach_raised_the_priority() -> None:
    h = handoff(HandoffStatus.CLAIMED, "ana", priority=Priority.CRITICAL)
    raised = inbox_view.status_line(row(h, ClockState.BREACHED, -1, base=Priority.HIGH), T0)
    assert raised.startswith(":red-badge[critical] (raised after an SLA breach) ")
    assert ":red-badge[SLA breached]" in raised and "claimed by **ana**" in raised
    plain = inbox_view.status_line(row(handoff(), ClockState.RUNNING, 60), T0)
    assert "raised" not in plain and "SLA" not in plain and "waiting in the queue" in plain


def test_agents_get_claim_then_reply_and_managers_reassign_to_others() -> None:
    asked: list[str] = []

    def agents() -> list[str]:
        asked.append("yes")
        return ["ana", "bob", "max"]

    queued = inbox_view.agent_options(handoff(), ANA, agents)
    assert (queued.claim, queued.release, queued.reply, queued.reassign_to) == (
        True, False, False, None)
    assert not asked  # an agent is never offered reassignment, so nobody is listed
    mine = inbox_view.agent_options(handoff(HandoffStatus.CLAIMED, "ana"), ANA, agents)
    assert (mine.claim, mine.release, mine.reply, mine.held_by_other) == (False, True, True, None)
    theirs = inbox_view.agent_options(handoff(HandoffStatus.CLAIMED, "bob"), ANA, agents)
    assert (theirs.release, theirs.reply, theirs.held_by_other) == (False, False, "bob")
    managed = inbox_view.agent_options(handoff(HandoffStatus.CLAIMED, "bob"), MAX, agents)
    assert managed.release and managed.reassign_to == ["ana", "max"]
    done = inbox_view.agent_options(handoff(HandoffStatus.RESOLVED, "bob"), MAX, agents)
    assert done.reassign_to is None and not done.release


def test_the_reply_box_starts_from_the_draft_until_an_agent_answered() -> None:
    assert inbox_view.reply_start(handoff()) == "Draft answer"
    assert inbox_view.reply_start(handoff(agent_replied=True)) == ""
    assert inbox_view.reply_start(handoff().model_copy(update={"draft": None})) == ""


def test_citations_offer_the_drafts_sources_first_and_only_known_articles() -> None:
    h = handoff()
    assert h.draft is not None
    h = h.model_copy(update={"draft": h.draft.model_copy(update={"sources": [
        Source(article_id="b", title="B"), Source(article_id="gone", title="Gone")]})})
    assert inbox_view.cite_options(h, {"a": "A", "b": "B"}) == ["b", "a"]
    assert inbox_view.cite_options(h.model_copy(update={"draft": None}), {"a": "A"}) == ["a"]


def test_the_open_ticket_stays_open_while_listed_else_the_first_opens() -> None:
    rows = [row(handoff().model_copy(update={"handoff_id": i}), ClockState.RUNNING, 60)
            for i in ("a", "b")]
    assert inbox_view.open_ticket(rows, "b") == "b"
    assert inbox_view.open_ticket(rows, "gone") == "a"
    assert inbox_view.open_ticket(rows, None) == "a"
