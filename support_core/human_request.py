"""Is the customer asking for a person? ("talk to a human", "call me", "this bot is useless")

An explicit request for a person is a signal of its own (``Signal.ASKED_FOR_HUMAN``):
the router escalates at once with that reason instead of trying the knowledge base,
and the sentiment analyser records the matched words as evidence. Requests that are
negated ("I don't need to talk to anyone") and how-to questions about people in the
customer's own account ("how do I add an agent to my team?") do not count.
"""

from __future__ import annotations

import re

_PERSON = (r"(?:human(?:\s+beings?)?|(?:real|actual|live|proper)\s+(?:person|human|agent|people"
           r"|human being|support agent|representative)|person|people|someone|somebody|anyone"
           r"|anybody|agent|support agent|representative|rep|operator|manager|supervisor"
           r"|staff(?:\s+member)?|(?:a\s+)?member of (?:your|the) (?:team|staff))"
           r"(?:\s+(?:real|really|actual|who (?:works|can)\b[^.!?]{0,20}))?"
           r"(?!\s+(?:on|in|from|of|to)\s+(?:my|our)\b)(?!')")
_DET = r"(?:a|an|your|the|some|one of your|an actual|a real|a live|to a|with a)?\s*"
_PATTERNS = (
    # talk / speak / chat to a person
    rf"\b(?:talk|speak|chat|get through)\s+(?:to|with)\s+{_DET}{_PERSON}\b",
    rf"\b(?:connect|transfer|put|pass|hand|escalate)\s+me\s+(?:through\s+|over\s+|on\s+)?"
    rf"(?:to|with)\s+{_DET}{_PERSON}\b",
    rf"\b(?:get|give|find)\s+me\s+{_DET}{_PERSON}\b",
    r"\b(?:i|we)\s+(?:want|need|would like|'d like|demand|insist on|must speak to|ask for)\s+"
    r"(?:to\s+(?:reach|see|have)\s+)?(?:a|an|some)\s+(?:human|real person|live agent|person"
    r"|actual person|real human|representative|agent|operator)\b",
    r"\b(?:human|real person|live agent|representative|operator|agent|person)\s*,?\s*please\b",
    r"\bplease\s*,?\s*(?:a\s+)?(?:human|real person|live agent|person)\b",
    r"\b(?:is|isn'?t)\s+there\s+(?:a|an|any)\s+(?:real\s+|actual\s+)?(?:human|person|people"
    r"|agent)\b",
    r"\b(?:am i|are you)\s+(?:talking|chatting|speaking)\s+(?:to|with)\s+a\s+"
    r"(?:bot|robot|machine|computer)\b",
    r"\b(?:are you|you'?re)\s+(?:just\s+)?a\s+(?:bot|robot|machine)\b",
    r"\bescalate\s+(?:this|my\s+(?:ticket|case|issue|request|complaint))\b",
    # call me / phone me
    r"\b(?:(?:please|can you|could you|can someone|could someone|someone|somebody|pls)\s+)"
    r"(?:call|phone|ring)\s+me\b",
    r"^\W*(?:call|phone|ring)\s+me\b",
    r"\b(?:call|phone|ring)\s+me\s+(?:back|asap|now|today|please|at|on)\b",
    r"\b(?:give|send)\s+me\s+a\s+(?:call|phone call|ring)\b",
    r"\b(?:i|we)\s+(?:want|need|would like|'d like)\s+(?:a|to get a)\s+(?:call|phone call"
    r"|callback|call back)\b",
    r"\b(?:request(?:ing)?|schedule|book)\s+a\s+(?:call|callback|call back|phone call)\b",
    # the bot is useless
    r"\b(?:this|you|your|the)\s+(?:stupid\s+|useless\s+|dumb\s+)?(?:bot|chat ?bot|robot|ai"
    r"|assistant|machine|automated (?:reply|response|system))\s+(?:is|are|'s)\s+"
    r"(?:\w+\s+)?(?:useless|worthless|pointless|not helping|no help|no use|garbage|rubbish"
    r"|terrible|hopeless|stupid|dumb)\b",
    r"\b(?:you'?re|you are)\s+(?:\w+\s+)?(?:useless|no help|not helping|worthless|hopeless)\b",
    r"\b(?:useless|stupid|dumb|pointless)\s+(?:bot|chat ?bot|robot|ai|machine|assistant)\b",
    r"\b(?:stop|enough with)\s+(?:the\s+)?(?:bot|robot|automated|canned)\w*\b",
    r"\bnot\s+(?:a|another)\s+(?:bot|robot|machine|canned (?:answer|reply|response))\b",
)
_RULES = [re.compile(p, re.IGNORECASE) for p in _PATTERNS]
_NEGATED = re.compile(
    r"\b(?:don'?t|do not|doesn'?t|no need to|not necessary to|never|without|rather not"
    r"|no need for)\b[^.!?]{0,25}$", re.IGNORECASE)
_HOW_TO = re.compile(r"\b(?:how|where)\s+(?:do|can|could|would|should)\s+(?:i|we|my|our|users?)\b"
                     r"[^.!?]{0,60}$", re.IGNORECASE)


def human_request_phrases(text: str) -> list[str]:
    """The words in which the customer asks for a person, in rule order (empty: no request)."""
    found: list[str] = []
    for rx in _RULES:
        for m in rx.finditer(text):
            before = text[: m.start()]
            if _NEGATED.search(before) or _HOW_TO.search(before):
                continue
            found.append(m.group(0).strip())
    return list(dict.fromkeys(found))


def asks_for_human(text: str) -> bool:
    """True when the customer asks for a person, and not when they say they don't need
    one or ask how to do something with people in their own account."""
    return bool(human_request_phrases(text))
