"""What the customer chat shows: the conversation's next step, the readout under AI replies,
the earlier sessions, and what the customer is told while they wait.

:meth:`support_core.views.DeskViews.chat` reads the records and builds a :class:`ChatView`
with these; the chat page only draws it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum

from support_core.models import Message, Role, Ticket, TicketStatus


class NextStep(str, Enum):
    """What the customer can do now, under the conversation."""

    NOTHING = "nothing"  # no ticket yet
    CONFIRM = "confirm"  # an AI answer awaits: "This solved my problem"
    CHOOSE = "choose"  # the AI asked which topic: the candidate topics as buttons
    WAIT = "wait"  # escalated, nobody has replied yet
    WITH_SPECIALIST = "with_specialist"  # a specialist is handling it
    RATE = "rate"  # resolved, not rated yet
    RATED = "rated"  # resolved and rated


@dataclass
class ChatView:
    messages: list[Message]
    tickets: dict[str, Ticket]
    latest: Ticket | None
    step: NextStep
    owner: str | None = None  # the specialist handling it
    score: int | None = None  # the customer's rating, once rated
    readouts: dict[int, str] = field(default_factory=dict)  # message index -> AI readout
    choices: list[str] = field(default_factory=list)  # topics of a pending clarifying question

    @property
    def waiting_note(self) -> str:
        """What the customer reads while a specialist has (or has yet to take) the ticket."""
        who = f"{self.owner} has your conversation" if self.owner else "in line"
        return (f"A support specialist will take over from here ({who}). "
                "Their reply will appear here.")


# Under an answer the customer can confirm: the invitation that used to end every reply.
NOT_SOLVED = "Not solved? Reply here and a specialist will join the conversation."


def next_step(latest: Ticket | None, handoff_open: bool, rated: bool,
              choices: list[str] | None = None) -> NextStep:
    """Resolved: rate (once); handed off: wait, then talk to the specialist; asked which
    topic: choose one; answered by the AI: confirm it solved the problem."""
    if latest is None:
        return NextStep.NOTHING
    if latest.status is TicketStatus.RESOLVED:
        return NextStep.RATED if rated else NextStep.RATE
    if handoff_open:
        escalated = latest.status is TicketStatus.ESCALATED
        return NextStep.WAIT if escalated else NextStep.WITH_SPECIALIST
    if latest.status is TicketStatus.AWAITING_CUSTOMER:
        return NextStep.CHOOSE if choices else NextStep.CONFIRM
    return NextStep.NOTHING


def pending_choices(messages: list[Message]) -> list[str]:
    """The topics of the AI's clarifying question when it is the conversation's last word:
    the chat offers them as buttons that send the chosen topic as the customer's answer."""
    if not messages or messages[-1].role is not Role.ASSISTANT:
        return []
    return [str(o["label"]) for o in messages[-1].metadata.get("clarify_options") or []]


def new_session_id() -> str:
    return f"web-{uuid.uuid4().hex[:8]}"


def new_guest_id() -> str:
    return f"guest-{uuid.uuid4().hex[:4]}"


def customer_choices(known: list[str], current: str) -> list[str]:
    """Staff pick any known customer or the one typed now; a customer gets no list."""
    return sorted(set(known) | {current}) if known else []


def earlier_caption(customer_id: str, session_id: str, earlier: list[Ticket]) -> str:
    return (f"Session `{session_id}` · {len(earlier)} earlier conversation(s) "
            f"remembered for `{customer_id}`")  # fmt: skip


def earlier_rows(earlier: list[Ticket]) -> list[dict[str, str]]:
    return [{"started": f"{t.created_at:%Y-%m-%d %H:%M}", "subject": t.subject,
             "status": t.status.value} for t in earlier]  # fmt: skip


def readouts(messages: list[Message], tickets: dict[str, Ticket]) -> dict[int, str]:
    """The discreet line under an AI reply: its confidence and the customer's mood; the
    last AI reply of an escalated ticket also says where it went."""
    last_reply = {m.metadata.get("ticket_id"): i for i, m in enumerate(messages)
                  if m.role is Role.ASSISTANT}  # fmt: skip
    out = {}
    for i, msg in enumerate(messages):
        ticket = tickets.get(msg.metadata.get("ticket_id", ""))
        if msg.role is not Role.ASSISTANT or ticket is None:
            continue
        parts = []
        if msg.metadata.get("confidence") is not None:
            parts.append(f"confidence {msg.metadata['confidence']:.0%}")
        level, frustration = msg.metadata.get("sentiment_level"), msg.metadata.get("frustration")
        if level is not None and frustration is not None:
            parts.append(f"sentiment {level} (frustration {frustration:.2f})")
        escalation = ticket.escalation
        if last_reply.get(ticket.ticket_id) == i and escalation and escalation.should_escalate:
            parts.append(f"escalated to {escalation.queue.value}: {escalation.reason}")
        if parts:
            out[i] = " · ".join(parts)
    return out
