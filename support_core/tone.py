"""The opening line of a reply: greet once per session, acknowledge only what is there.

A good agent says hello once, says "I'm sorry this has taken so long" once, and does
not meet "How do I cancel my subscription?" with "I understand how frustrating this
is". :func:`opening_line` decides the opening from the sentiment of *this* message,
the session so far and the contact count. The sentences are fixed and few, and add no
facts; an empty string means "no opening needed" (a calm follow-up).
"""

from __future__ import annotations

from collections.abc import Sequence

from support_core.models import Message, Role, SentimentLevel, SentimentResult

GREETING = "Hi {name},"
GREETING_ANONYMOUS = "Hi there,"
ACK_REPEAT = "I can see this is your {nth} contact about this — I'm sorry it's taken this long."
ACK_FRUSTRATED = "I understand how frustrating this is, and I want to get it sorted for you."
ACK_URGENT = "I understand this is urgent."
ACK_DEFAULT = "Thanks for reaching out."
FRUSTRATED_SCORE = 0.4  # SentimentThresholds.frustrated_score: this message itself is frustrated
_REPEAT_MARK = "contact about this"  # how an earlier reply's repeat acknowledgement is recognised
_NEGATIVE = (SentimentLevel.FRUSTRATED, SentimentLevel.ANGRY)


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _replies(conversation: Sequence[Message]) -> list[Message]:
    return [m for m in conversation if m.role in (Role.ASSISTANT, Role.AGENT)]


def frustrated_now(sentiment: SentimentResult | None) -> bool:
    """Is *this message* frustrated? A mood carried from earlier turns does not count, so a
    calm "thanks, that worked" after an angry turn is not met with an apology."""
    if sentiment is None or sentiment.level not in _NEGATIVE:
        return False
    if sentiment.message_score is None:  # analysers without a per-message score
        return True
    return sentiment.level == SentimentLevel.ANGRY or sentiment.message_score >= FRUSTRATED_SCORE


def opening_line(
    sentiment: SentimentResult | None,
    contact_count: int,
    customer_name: str | None = None,
    conversation: Sequence[Message] = (),
    then: str = "",
) -> str:
    """One line: the greeting (first reply of the session only), the acknowledgements that
    apply to this turn (repeat contact once per session; frustration or urgency when this
    message shows it), then ``then`` (the reply's lead-in to what follows, e.g. "Here's
    what our help center says:"). A first reply with nothing else to say thanks the
    customer; "" when a calm follow-up needs no opening at all."""
    replies = _replies(conversation)
    acks: list[str] = []
    if contact_count >= 2 and not any(_REPEAT_MARK in m.content for m in replies):
        acks.append(ACK_REPEAT.format(nth=ordinal(contact_count)))
    if sentiment is not None and sentiment.level == SentimentLevel.URGENT:
        acks.append(ACK_URGENT)
    elif frustrated_now(sentiment):
        acks.append(ACK_FRUSTRATED)
    said = [*acks, then] if then else acks
    if replies:  # greeted already in this session
        return " ".join(said)
    greeting = GREETING.format(name=customer_name.strip()) if customer_name else GREETING_ANONYMOUS
    return f"{greeting} {after_comma(' '.join(said or [ACK_DEFAULT]))}"


def after_comma(sentence: str) -> str:
    """A sentence continued after "Hi Dana,": lower-case its first letter, except "I"."""
    if not sentence or sentence.startswith(("I ", "I'")):
        return sentence
    return sentence[0].lower() + sentence[1:]
