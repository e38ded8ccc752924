"""Sentiment: how frustrated is the customer, and why.

Two analysers return the same :class:`~support_core.models.SentimentResult`:

* :class:`RuleSentimentAnalyzer` scores tone with VADER, finds the ten escalation
  signals (``models.SIGNALS``) with phrase rules, and reads the customer's history.
  It is deterministic, offline and explains itself in ``reasons``.
* :class:`LLMSentimentAnalyzer` asks a chat model for a structured verdict and then
  merges it with the rules, which stay a safety net: a legal threat or profanity
  the rules saw is never dropped, and history keeps its floor under frustration.

Frustration is cumulative. Repeated failure predicts churn better than one loud
message, so a calm "this is my fourth contact about this issue" must outscore a
first-time "THIS IS ANNOYING!!!". The history floor grows with the number of
contacts; tone and signals are combined with it as independent pieces of evidence
(noisy-OR), so each one can only push the score up.

Every signal comes with its evidence as data (``SentimentResult.evidence``: the signal and
the phrases that triggered it), which the router quotes to the human; ``reasons`` keeps
the same words as text for the trace. The default analyser is the learned model in
:mod:`support_core.sentiment_model`, which uses this module's evidence as its floors;
``SUPPORT_SENTIMENT_BACKEND=rules`` keeps this rule analyser for comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from pydantic import BaseModel, Field, field_validator
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from support_core.errors import LLMError
from support_core.human_request import human_request_phrases
from support_core.models import (
    SIGNALS,
    CustomerSummary,
    Message,
    Role,
    SentimentLevel,
    SentimentResult,
    Signal,
    SignalEvidence,
)
from support_core.ports import LLMClient


@dataclass(frozen=True)
class SentimentThresholds:
    """Every number the rule decision uses. ``frustrated_compound`` was chosen on the
    GoEmotions dev and TweetEval val splits (``bench/sentiment.py --sweep``)."""

    positive_compound: float = 0.4  # VADER compound at or above: positive tone
    frustrated_compound: float = -0.1  # at or below: negative enough to call frustrated
    strong_negative_compound: float = -0.5  # at or below, with shouting: angry
    frustrated_score: float = 0.4  # frustration score at or above: frustrated
    tone_weight: float = 0.6  # how much pure negativity adds to frustration
    contact_decay: float = 0.6  # history floor = 1 - decay ** (contacts - 1)
    repeat_contacts: int = 2  # contacts about one issue at which repeated_issue fires
    heavy_history: int = 10  # earlier customer messages that count as a heavy history
    caps_ratio: float = 0.6  # share of upper-case letters in 3+ letter words
    caps_min_words: int = 2  # shouted words needed before all_caps fires
    signal_weights: dict[str, float] = field(default_factory=lambda: dict(SIGNAL_WEIGHTS))


SIGNAL_WEIGHTS: dict[str, float] = {
    "repeated_issue": 0.3,
    "long_wait": 0.25,
    "threatening_churn": 0.35,
    "profanity": 0.3,
    "all_caps": 0.15,
    "multiple_exclamations": 0.1,
    "legal_threat": 0.45,
    "billing_dispute": 0.25,
    "time_pressure": 0.2,
    "previous_escalation": 0.2,
    "asked_for_human": 0.1,
}

SIGNAL_LABELS: dict[str, str] = {
    "repeated_issue": "Repeated issue",
    "long_wait": "Long wait",
    "threatening_churn": "Churn threat",
    "profanity": "Profanity",
    "all_caps": "Shouting (all caps)",
    "multiple_exclamations": "Multiple exclamation marks",
    "legal_threat": "Legal threat",
    "billing_dispute": "Billing dispute",
    "time_pressure": "Time pressure",
    "previous_escalation": "Previous escalation",
    "asked_for_human": "Asked for a person",
}

EXPRESSIVE = frozenset({"all_caps", "multiple_exclamations"})  # loud, but not negative by itself
_CALM = (SentimentLevel.POSITIVE, SentimentLevel.NEUTRAL)
SAFETY_SIGNALS = ("legal_threat", "profanity")  # the LLM may never drop these
_SEVERITY = [SentimentLevel.POSITIVE, SentimentLevel.NEUTRAL, SentimentLevel.FRUSTRATED,
             SentimentLevel.ANGRY, SentimentLevel.URGENT]

# ----------------------------------------------------------------------------- phrase rules
_NUM = (r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|several|many|multiple|numerous"
        r"|countless|so many|a few|a couple of)")
_AMOUNT = (rf"(?:(?:over|more than|almost|nearly|about|at least)\s+)?(?:{_NUM}|a|an|one)\s+"
           r"(?:(?:more|whole|full|entire)\s+)?(?:hours?|days?|weeks?|months?|years?)")
_VAGUE = r"(?:days|weeks|months|ages|forever|so long|too long|a long time)"
_ORDINALS = {"second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
             "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
             "ninth": 9, "9th": 9, "tenth": 10, "10th": 10, "umpteenth": 10, "nth": 10}
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "several": 3, "many": 4, "multiple": 3, "numerous": 4,
            "countless": 5, "so many": 4, "a few": 3, "a couple of": 2}

_ORDINAL_CONTACT = re.compile(
    rf"\b(?P<n>{'|'.join(_ORDINALS)})\s+(?:time|contact|attempt|e-?mail|message|call|ticket"
    r"|request|follow[- ]?up|try)s?\b", re.IGNORECASE)
_COUNTED_CONTACT = re.compile(
    r"\b(?:contacted|e-?mailed|called|messaged|written(?: to)?|wrote(?: to)?|reached out"
    r"|asked|told|reported|raised|chased|complained)\b[^.!?]{0,30}?"
    rf"\b(?P<n>{_NUM})\s+times\b", re.IGNORECASE)

_PATTERNS: dict[str, tuple[str, ...]] = {
    "repeated_issue": (
        _ORDINAL_CONTACT.pattern, _COUNTED_CONTACT.pattern,
        r"\bstill\s+(?:not|isn'?t|is not|hasn'?t(?: been)?|has not(?: been)?|haven'?t|have not"
        r"|doesn'?t|does not|won'?t|can'?t|cannot|no)\s+(?!sure\b)\w+",
        r"\bstill\s+(?:broken|failing|happening|down|getting|seeing|having|charging|the same)\b",
        r"\b(?:same|this|that)\s+(?:issue|problem|error|bug|thing)\s+(?:\w+\s+){0,3}?again\b",
        r"\b(?:happen(?:ed|ing|s)|broke(?:n)?|fail(?:ed|ing|s)|down|crash(?:ed|ing)|charged(?: me)?"
        r"|stopped working|not working)\s+again\b",
        r"\byet\s+again\b", r"\bagain\s+and\s+again\b",
        r"\bkeeps?\s+(?:happening|failing|breaking|crashing|coming back|charging)\b",
        r"\b(?:already|previously)\s+(?:reported|contacted|told|explained|asked|raised|e-?mailed"
        r"|called|sent)\b",
        r"\bsame\s+(?:issue|problem|error)\s+as\s+(?:before|last\s+\w+)\b",
    ),
    "long_wait": (
        rf"\bwait(?:ed|ing)?\s+(?:(?:for|over)\s+)?{_AMOUNT}",
        rf"\bwait(?:ed|ing)?\s+(?:for\s+)?{_VAGUE}\b",
        rf"\b(?:it'?s|it has|have|has|'ve)\s+been\s+{_AMOUNT}",
        r"\bstill\s+(?:waiting|pending)\b",
        r"\bstill\s+no\s+(?:reply|response|answer|word|update|news|refund)\b",
        r"\b(?:no (?:reply|response|answer|update)|nobody|no one|nothing|not (?:fixed|resolved|"
        r"working|received|refunded)|broken|down|stuck|pending|unanswered|unresolved)\b[^.!?]{0,30}?"
        rf"\b(?:for|in|since)\s+(?:{_AMOUNT}|{_VAGUE}|last\s+\w+|yesterday)",
        rf"\b(?:trying|asking|chasing|e-?mailing|calling|struggling|fighting)\b[^.!?]{{0,20}}?"
        rf"\bfor\s+{_VAGUE}",
        rf"\bfor\s+{_VAGUE}\s+now\b",
        r"\bsince\s+last\s+(?:week|month|year|monday|tuesday|wednesday|thursday|friday|saturday"
        r"|sunday)\b",
    ),
    "threatening_churn": (
        r"\bcancel(?:l?ing|l?ed)?\s+(?:my|our|the|this)\s+(?:\w+\s+)?(?:subscription|account|plan"
        r"|membership|contract|service)\b",
        r"\b(?:switch|switching|move|moving|go|going|migrate|migrating|jump|jumping)\s+(?:over\s+)?"
        r"to\s+(?:a\s+|your\s+)?(?:competitors?|(?:another|a different|a new|a better"
        r"|an alternative)\s+(?:provider|vendor|tool|service|product|platform|solution|company"
        r"|app))\b",
        r"\btak(?:e|ing)\s+(?:my|our)\s+(?:business|money|custom)\s+elsewhere\b",
        r"\b(?:look(?:ing)?\s+(?:for|at|into)|consider(?:ing)?|evaluat(?:e|ing)|find(?:ing)?)\s+"
        r"(?:an?\s+)?(?:alternatives?|competitors?|other (?:providers|vendors|tools|options))\b",
        r"\b(?:not|won'?t|will not|never)\s+(?:be\s+)?renew(?:ing|al)?\b",
        r"\bclos(?:e|ing)\s+(?:my|our)\s+account\b",
        r"\b(?:leav(?:e|ing)|quit(?:ting)?|ditch(?:ing)?|dump(?:ing)?)\s+(?:you|your\s+\w+"
        r"|this\s+(?:service|product|platform|app))\b(?!\s+(?:a|an|the|some)\b)",
        r"\blast\s+straw\b", r"\b(?:i'?m|we'?re|i am|we are)\s+done\s+with\s+(?:you|this)\b",
    ),
    "profanity": (
        r"\b(?:f+u+c+k+(?:ing|ed|er|s|in)?|f[*#@]{1,3}k(?:ing)?|f[*#@]ck(?:ing)?|sh[i1*]t(?:ty|s)?"
        r"|bull\s?sh[i*]t|crap(?:py)?|damn(?:ed|it)?|dammit|goddamn(?:ed)?|ass(?:hole)?s?|bastards?"
        r"|bitch(?:es|ing)?|piss(?:ed)?|wtf|stfu|screw\s+(?:you|this|that|them))(?!\w)",
        r"\bwhat\s+the\s+(?:hell|f+)\b",
    ),
    "legal_threat": (
        r"\bconsumer\s+(?:protection|rights|affairs)(?:\s+(?:bureau|agency|office|authority"
        r"|department|commission))?\b",
        r"\b(?:(?:contact|call|get|involv|hir|consult)\w*|(?:speak|speaking|talk|talking)\s+"
        r"(?:to|with)|hear(?:ing)? from|through)\s+(?:my|our|a)\s+"
        r"(?:lawyers?|attorneys?|solicitors?|legal counsel)\b",
        r"\b(?:my|our)\s+(?:lawyers?|attorneys?|solicitors?)\s+(?:will|is|are|has|have)\b",
        r"\blegal\s+(?:action|proceedings|steps|recourse|claim)\b",
        r"\b(?:sue|suing)\s+(?:you|your|them|the company|for)\b", r"\bsued\b",
        r"\b(?:will|going to|gonna|i'?ll|we'?ll|might|could|may)\s+sue\b",
        r"\b(?:law\s?suit|class[- ]action|litigation|small[- ]claims)\b",
        r"\b(?:take|taking)\s+(?:you|this|it|them|the matter)\s+to\s+court\b",
        r"\b(?:better business bureau|bbb|ombudsman|attorney general|ftc|cfpb|trading standards)\b",
        r"\breport(?:ing)?\s+(?:you|this|it|your (?:company|business))\s+to\s+(?:the\s+)?"
        r"(?:authorit|regulat|police|bbb|better business|ftc|ombudsman|consumer|attorney|data prot"
        r"|cfpb|trading standards)\w*",
        r"\b(?:file|filing|lodge|lodging|submit|submitting)\s+(?:a\s+)?(?:formal\s+)?complaint\s+"
        r"with\b",
        r"\bdata\s+protection\s+(?:authority|regulator|commissioner)\b", r"\bgdpr\s+complaint\b",
    ),
    "billing_dispute": (
        r"\bcharged\s+(?:me\s+)?(?:twice|two times|2 times|three times|double|multiple times)\b",
        r"\bdouble[- ]?(?:charged|charge|billed|billing)\b", r"\bbilled\s+twice\b",
        r"\bduplicated?\s+(?:charge|payment|transaction)s?\b",
        r"\bextra\s+charges?\s+(?:on|in)\s+(?:my|the|our)\b",
        r"\b(?:two|2|multiple|several)\s+(?:charges|payments)\s+for\s+the\s+same\b",
        r"\bunauthori[sz]ed\s+(?:charge|payment|transaction|debit|deduction|billing)s?\b",
        r"\bdisput(?:e|ed|es|ing)\b", r"\bcharge-?backs?\b", r"\bover-?charged\b",
        r"\bwrong(?:ly)?\s+(?:charged|billed)\b",
        r"\bcharged\s+(?:me\s+)?(?:the\s+)?wrong\s+amount\b",
        r"\b(?:didn'?t|did not|never)\s+(?:authori[sz]ed?|agreed? to|sign(?:ed)? up for"
        r"|approved?)\b",
        r"\bcharged\s+(?:me\s+)?(?:even\s+)?after\s+(?:i\s+)?cancel",
        r"\b(?:waiting|waited|still|never|haven'?t|have not|didn'?t|did not|not yet)\b[^.!?]{0,40}?"
        r"\brefund\b",
        r"\brefund\b[^.!?]{0,30}?\b(?:promised|never arrived|hasn'?t arrived|not received"
        r"|missing)\b",
    ),
    "time_pressure": (
        r"\basap\b", r"\bas soon as possible\b", r"(?<!non-)(?<!not )\burgent(?:ly)?\b",
        r"\b(?:need|want|fix|resolve|sort|address|respond|reply|help|escalate|refund|look into"
        r"|do something)\w*\b[^.!?]{0,40}?\b(?:immediately|right away|right now|straight away)\b",
        r"\bby\s+(?:tomorrow|tonight|today|end of (?:the )?(?:day|week|business)|eod|eow|cob|noon"
        r"|(?:this |next )?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
        r"\bdeadline\s+(?:is|was|tomorrow|today|tonight)\b",
        r"\bmiss(?:ing|ed)?\s+(?:our|my|the|a)\s+deadline\b",
        r"\b(?:time[- ]sensitive|emergency|losing (?:money|customers|revenue|sales|business))\b",
        r"\bblocking\s+(?:us|me|our|my|the whole)\b",
    ),
    "previous_escalation": (
        r"\b(?:was|were|been|already|previously)\s+escalated\b",
        r"\bescalated\s+(?:this|it)\s+(?:before|already|last)\b",
        r"\b(?:spoke|spoken|talked)\s+(?:to|with)\s+(?:a|your|the)\s+(?:manager|supervisor)\b",
        r"\byour\s+(?:manager|supervisor)\s+(?:promised|said|told|assured)\b",
    ),
}
_OUTAGE = (
    r"\b(?:production|prod|site|website|app|application|service|system|platform|api|servers?"
    r"|dashboard|checkout|everything|integration)\s+(?:is|are|went|has gone|have gone|'s|'re"
    r"|seems|appears)\s+(?:to be\s+)?(?:completely\s+|totally\s+)?(?:down|offline|unreachable"
    r"|unavailable)\b",
    r"\b(?:an?|this|the|major|ongoing|current|total|complete|another)\s+outage\b",
    r"\bsecurity\s+(?:breach|incident)\b", r"\bdata\s+(?:breach|leak|loss)\b",
    r"\b(?:been|got|was|were)\s+(?:hacked|compromised|breached)\b",
    r"\blost\s+(?:all\s+)?(?:of\s+)?(?:my|our)\s+data\b",
    r"\b(?:all|none of)\s+(?:our|my)\s+(?:users|customers)\s+(?:can'?t|cannot|are unable)\b",
)
_COMPILED = {s: [re.compile(p, re.IGNORECASE) for p in ps] for s, ps in _PATTERNS.items()}
_OUTAGE_RX = [re.compile(p, re.IGNORECASE) for p in _OUTAGE]
_WORD = re.compile(r"(?<![\w-])[A-Za-z]{3,}(?![\w-])")  # skips codes like ORB-429
_ACRONYMS = frozenset({"API", "URL", "SSO", "SAML", "USD", "EUR", "GBP", "CSV", "PDF", "FAQ", "SDK",
                       "HTTP", "HTTPS", "JSON", "XML", "ASAP", "CEO", "CTO", "AWS", "VAT", "IBAN",
                       "SMS", "DNS", "SSL", "TLS", "IMO", "FYI", "GDPR", "PIN", "UTC", "ETA"})
_BANGS = re.compile(r"[!?¡！]{2,}")
_QUOTED = re.compile(r"'(.*?)'(?=, |$)")


def find_phrases(text: str, rules: Sequence[re.Pattern[str]]) -> list[str]:
    """Distinct matched phrases, in rule order."""
    found = [m.group(0).strip() for rx in rules for m in rx.finditer(text)]
    return list(dict.fromkeys(found))


def shouted_words(text: str, th: SentimentThresholds) -> list[str]:
    """Upper-case words of a shouted sentence (or of the whole message); acronyms
    like API or ASAP do not count, so one of them never makes a message shout."""
    for part in [text, *re.split(r"[.!?\n]+", text)]:
        words = [w for w in _WORD.findall(part) if w.upper() not in _ACRONYMS]
        loud = [w for w in words if w.isupper()]
        letters = sum(len(w) for w in words)
        upper = sum(1 for w in words for c in w if c.isupper())
        if len(loud) >= th.caps_min_words and letters and upper / letters >= th.caps_ratio:
            return loud
    return []


def text_signals(text: str, th: SentimentThresholds | None = None) -> dict[str, list[str]]:
    """Signal -> the phrases that triggered it, for the signals visible in one message."""
    th = th or SentimentThresholds()
    found = {s: find_phrases(text, rules) for s, rules in _COMPILED.items()}
    outage = find_phrases(text, _OUTAGE_RX)
    found["time_pressure"] = list(dict.fromkeys(found["time_pressure"] + outage))
    found["threatening_churn"] = [p for p in found["threatening_churn"]
                                  if not _asked_how_to(text, p)]
    found["asked_for_human"] = human_request_phrases(text)
    loud = shouted_words(text, th)
    found["all_caps"] = [" ".join(loud[:6])] if loud else []
    bangs = [b for b in _BANGS.findall(text) if b.count("!") + b.count("！") >= 2]
    found["multiple_exclamations"] = bangs[:1] or (["!" * 3] if text.count("!") >= 3 else [])
    return {s: p for s, p in found.items() if p}


_HOW_TO = re.compile(r"\b(?:how|where|can|could)\s+(?:do|can|could|would|should|does|i|we)?\s*"
                     r"(?:i|we|one|you)\s+$", re.IGNORECASE)


def _asked_how_to(text: str, phrase: str) -> bool:
    """"How do I cancel my subscription?" asks how; it is not a threat to leave."""
    at = text.find(phrase)
    return at >= 0 and bool(_HOW_TO.search(text[:at]))


def outage_phrases(text: str) -> list[str]:
    """Outage, security-breach and data-loss phrases: what makes time pressure urgent."""
    return find_phrases(text, _OUTAGE_RX)


def stated_contacts(text: str) -> int:
    """The contact number a customer states ("my fourth contact", "emailed 3 times"), or 0."""
    counts = [_ORDINALS[m.group("n").lower()] for m in _ORDINAL_CONTACT.finditer(text)]
    for m in _COUNTED_CONTACT.finditer(text):
        n = m.group("n").lower()
        counts.append(int(n) + 1 if n.isdigit() else _NUMBERS.get(n, 2) + 1)
    return max(counts, default=0)


def signal_phrases(result: SentimentResult, signal: str) -> list[str]:
    """The phrases recorded for one signal: the structured ``evidence`` when present, else
    (results stored before evidence existed) the quotes in ``reasons``."""
    if result.evidence:
        return result.phrases(signal)
    prefix = f"{SIGNAL_LABELS[signal]}: "
    tails = [r[len(prefix):] for r in result.reasons if r.startswith(prefix)]
    return [q for tail in tails for q in _QUOTED.findall(tail)]


def _quote(phrases: Sequence[str]) -> str:
    return ", ".join(f"'{p}'" for p in phrases[:3])


# ----------------------------------------------------------------------------- evidence
_STOP = frozenset("this that with have from your about what when there their they been would "
                  "could should still again just please thanks thank help support issue problem "
                  "know like will into than then them were does did".split())


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]{4,}", text.lower()) if w not in _STOP}


def _restatements(message: str, conversation: Sequence[Message]) -> int:
    """Earlier customer messages in this conversation that say the same thing again (at
    least three, and half, of this message's content words), i.e. the issue persists."""
    words = _content_words(message)
    needed = max(3, len(words) // 2)
    earlier = [m.content for m in conversation if m.role == Role.CUSTOMER]
    same = [t for t in earlier if t.strip() != message.strip()
            and len(words & _content_words(t)) >= needed]
    return len(same)


@dataclass(frozen=True)
class Evidence:
    """Everything the rules observed, before any decision is taken."""

    compound: float
    phrases: dict[str, list[str]]  # text signal -> matched phrases
    outage: list[str]
    contacts: int  # best estimate of contacts about this issue, counting this one
    contact_source: str
    previous_escalations: int = 0
    total_interactions: int = 0


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _contacts(message: str, conversation: Sequence[Message], contact_count: int) -> tuple[int, str]:
    options = [
        (contact_count, "ticket contact count"),
        (1 + _restatements(message, conversation), "restated in this conversation"),
        (stated_contacts(message), "stated by the customer"),
    ]
    return max(options, key=lambda o: o[0])


class RuleSentimentAnalyzer:
    """VADER tone + phrase signals + history. Pure apart from the lexicon it loads once."""

    backend = "rules"

    def __init__(self, thresholds: SentimentThresholds | None = None) -> None:
        self.thresholds = thresholds or SentimentThresholds()

    def analyze(
        self,
        message: str,
        conversation: list[Message],
        summary: CustomerSummary | None = None,
        contact_count: int = 1,
    ) -> SentimentResult:
        return self.decide(self.evidence(message, conversation, summary, contact_count))

    def evidence(
        self,
        message: str,
        conversation: Sequence[Message],
        summary: CustomerSummary | None = None,
        contact_count: int = 1,
    ) -> Evidence:
        contacts, source = _contacts(message, conversation, contact_count)
        return Evidence(
            compound=_vader().polarity_scores(message)["compound"],
            phrases=text_signals(message, self.thresholds), outage=outage_phrases(message),
            contacts=contacts, contact_source=source,
            previous_escalations=summary.previous_escalations if summary else 0,
            total_interactions=summary.total_interactions if summary else 0,
        )

    def decide(self, ev: Evidence) -> SentimentResult:
        th = self.thresholds
        signals = signals_of(ev, th)
        score = frustration_score(ev, signals, th)
        level, why = decide_level(ev, signals, score, th)
        return SentimentResult(
            level=level, confidence=level_confidence(level, ev, signals, score, th),
            frustration_score=round(score, 4), signals=signals,
            reasons=[*evidence_reasons(ev, th), f"Level {level.value}: {why}"],
            backend=self.backend, evidence=signal_evidence(ev, signals),
        )


# ----------------------------------------------------------------------------- decision
def signals_of(ev: Evidence, th: SentimentThresholds) -> list[Signal]:
    found = set(ev.phrases)
    if ev.contacts >= th.repeat_contacts:
        found.add("repeated_issue")
    if ev.previous_escalations > 0:
        found.add("previous_escalation")
    return [s for s in SIGNALS if s in found]


def signal_evidence(ev: Evidence, signals: Sequence[str]) -> list[SignalEvidence]:
    """Each signal with the words that triggered it, or the record it came from."""
    out = []
    for s in SIGNALS:
        if s not in signals:
            continue
        if s in ev.phrases:
            out.append(SignalEvidence(signal=s, phrases=ev.phrases[s][:5]))
        elif s == Signal.REPEATED_ISSUE:
            out.append(SignalEvidence(signal=s, source="history",
                                      phrases=[f"contact #{ev.contacts} ({ev.contact_source})"]))
        else:
            out.append(SignalEvidence(signal=s, source="history"))
    return out


def history_floor(ev: Evidence, th: SentimentThresholds) -> float:
    """Frustration that history alone justifies, whatever the words say."""
    return 1.0 - th.contact_decay ** max(0, ev.contacts - 1)


def frustration_score(ev: Evidence, signals: Sequence[str], th: SentimentThresholds) -> float:
    """Noisy-OR of tone, weighted signals, history floor and a heavy contact history."""
    parts = [th.tone_weight * max(0.0, -ev.compound), history_floor(ev, th)]
    parts += [th.signal_weights.get(s, 0.0) for s in signals]
    if ev.total_interactions >= th.heavy_history:
        parts.append(0.1)
    calm = 1.0
    for p in parts:
        calm *= 1.0 - min(1.0, max(0.0, p))
    return min(1.0, max(0.0, 1.0 - calm))


def decide_level(
    ev: Evidence, signals: Sequence[str], score: float, th: SentimentThresholds
) -> tuple[SentimentLevel, str]:
    """Most severe level first; the second value says why, for ``reasons``."""
    negative = ev.compound <= th.frustrated_compound or score >= th.frustrated_score
    loud = bool(EXPRESSIVE & set(signals))
    if "time_pressure" in signals and ev.outage:
        return SentimentLevel.URGENT, f"time pressure with {_quote(ev.outage)}"
    if "time_pressure" in signals and negative:
        return SentimentLevel.URGENT, "explicit urgency from a frustrated customer"
    if "profanity" in signals and ev.compound < th.positive_compound:
        return SentimentLevel.ANGRY, "profanity"
    if "legal_threat" in signals and (ev.compound <= th.strong_negative_compound or loud):
        return SentimentLevel.ANGRY, "legal threat made with hostility"
    if ev.compound <= th.strong_negative_compound and loud:
        return SentimentLevel.ANGRY, "strongly negative and shouting"
    if negative:
        return SentimentLevel.FRUSTRATED, f"frustration {score:.2f}, tone {ev.compound:+.2f}"
    if ev.compound >= th.positive_compound and not set(signals) - EXPRESSIVE - {"profanity"}:
        return SentimentLevel.POSITIVE, "positive tone and no warning signals"
    return SentimentLevel.NEUTRAL, "no strong tone and frustration below threshold"


def level_confidence(
    level: SentimentLevel, ev: Evidence, signals: Sequence[str], score: float,
    th: SentimentThresholds,
) -> float:
    """0.5, plus a step for each piece of evidence that agrees, minus one for each that
    contradicts: several independent signs pointing the same way make us sure."""
    c, warn = ev.compound, [s for s in signals if s not in EXPRESSIVE]
    if level == SentimentLevel.POSITIVE:
        agree = [c >= th.positive_compound, c >= 0.7, not signals]
        against = [score >= th.frustrated_score * 0.75]
    elif level == SentimentLevel.NEUTRAL:
        agree = [abs(c) < 0.2, not signals, score < th.frustrated_score / 2]
        against = [abs(c) >= 0.3, bool(warn)]
    else:
        agree = [c <= -0.05, c <= th.strong_negative_compound, bool(warn), len(signals) >= 2,
                 ev.contacts >= th.repeat_contacts, bool(ev.outage)]
        against = [c >= th.positive_compound and not ev.outage,
                   not signals and c > th.strong_negative_compound]
    value = 0.5 + 0.1 * sum(agree) - 0.15 * sum(against)
    return round(min(0.95, max(0.2, value)), 2)


def evidence_reasons(ev: Evidence, th: SentimentThresholds) -> list[str]:
    reasons = [f"Tone: VADER compound {ev.compound:+.2f}"]
    reasons += [f"{SIGNAL_LABELS[s]}: {_quote(ev.phrases[s])}" for s in SIGNALS if s in ev.phrases]
    if ev.contacts >= th.repeat_contacts:
        reasons.append(
            f"Repeated contact: contact #{ev.contacts} about this issue ({ev.contact_source})"
        )
    if ev.previous_escalations:
        reasons.append(f"History: escalated {ev.previous_escalations} time(s) before")
    if ev.total_interactions >= th.heavy_history:
        reasons.append(f"History: {ev.total_interactions} earlier customer messages")
    return reasons


def more_severe(a: SentimentLevel, b: SentimentLevel) -> SentimentLevel:
    return a if _SEVERITY.index(a) >= _SEVERITY.index(b) else b


# ----------------------------------------------------------------------------- LLM variant
class SentimentVerdict(BaseModel):
    """The structured answer the model must give; anything else is an ``LLMError``."""

    level: SentimentLevel
    confidence: float = Field(ge=0.0, le=1.0)
    frustration_score: float = Field(ge=0.0, le=1.0)
    signals: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)

    @field_validator("signals")
    @classmethod
    def _known_signals(cls, value: list[str]) -> list[str]:
        """Unknown signal names are dropped rather than failing the whole verdict."""
        return [s for s in dict.fromkeys(v.strip().lower() for v in value) if s in SIGNALS]


SENTIMENT_PROMPT = f"""You classify the emotional state of a customer writing to software support.
Return only JSON with these keys:
- level: one of positive, neutral, frustrated, angry, urgent
- confidence: 0.0 to 1.0, how sure you are of the level
- frustration_score: 0.0 to 1.0, the risk that this customer churns or escalates
- signals: the signals present, chosen only from: {", ".join(SIGNALS)}
- reasons: up to four short sentences quoting the words that justify your answer
Frustration is cumulative: a polite customer on their third or fourth contact about
the same issue is more frustrated than their words alone suggest. Use the customer
history and the earlier conversation, not only the latest message."""


class LLMSentimentAnalyzer:
    """The model reads nuance; the rules keep it honest (see module docstring)."""

    def __init__(
        self, llm: LLMClient, fallback: RuleSentimentAnalyzer, *, history: int = 6
    ) -> None:
        self._llm = llm
        self._rules = fallback
        self._history = history

    def analyze(
        self,
        message: str,
        conversation: list[Message],
        summary: CustomerSummary | None = None,
        contact_count: int = 1,
    ) -> SentimentResult:
        ev = self._rules.evidence(message, conversation, summary, contact_count)
        rules = self._rules.decide(ev)
        try:
            reply = self._llm.chat(self._prompt(message, conversation, summary, ev),
                                   schema=SentimentVerdict, temperature=0.0, max_tokens=400)
        except LLMError as exc:
            return _fallback(rules, str(exc))
        if not isinstance(reply.parsed, SentimentVerdict):
            return _fallback(rules, "the reply was not a sentiment verdict")
        return self._merge(reply.parsed, rules, ev)

    def _prompt(
        self, message: str, conversation: Sequence[Message], summary: CustomerSummary | None,
        ev: Evidence,
    ) -> list[dict[str, str]]:
        recent = [m for m in conversation if m.content.strip() != message.strip()][-self._history:]
        lines = "\n".join(f"[{m.role.value}] {m.content}" for m in recent) or "(none)"
        history = (f"{summary.total_interactions} earlier messages, escalated "
                   f"{summary.previous_escalations} time(s), recent topics: "
                   f"{', '.join(summary.recent_topics) or 'none'}") if summary else "unknown"
        user = (f"Customer history: {history}\nContacts about this issue: {ev.contacts}\n\n"
                f"Earlier conversation:\n{lines}\n\nLatest customer message:\n{message}")
        return [{"role": "system", "content": SENTIMENT_PROMPT}, {"role": "user", "content": user}]

    def _merge(
        self, verdict: SentimentVerdict, rules: SentimentResult, ev: Evidence
    ) -> SentimentResult:
        th = self._rules.thresholds
        kept = [s for s in rules.signals if s in SAFETY_SIGNALS or _from_history(s, ev, th)]
        signals = [s for s in SIGNALS if s in set(verdict.signals) | set(kept)]
        score = max(verdict.frustration_score, history_floor(ev, th))
        level = verdict.level
        if any(s in rules.signals for s in SAFETY_SIGNALS):
            level = more_severe(level, rules.level)
        if score >= th.frustrated_score and level in _CALM:
            level = SentimentLevel.FRUSTRATED
        overridden = level != verdict.level
        safety = [r for r in rules.reasons if any(r.startswith(SIGNAL_LABELS[s]) for s in kept)]
        notes = [f"Rules kept: {', '.join(kept)}"] if set(kept) - set(verdict.signals) else []
        notes += [f"Level raised from {verdict.level.value} by the rules"] if overridden else []
        return SentimentResult(
            level=level, confidence=rules.confidence if overridden else verdict.confidence,
            frustration_score=round(score, 4), signals=signals,
            reasons=[*verdict.reasons, *safety, *notes], backend=f"llm:{self._llm.model}",
            evidence=[e for e in rules.evidence if e.signal in signals]
            + [SignalEvidence(signal=s, source="llm") for s in signals
               if s not in rules.signals],
        )


def _from_history(signal: str, ev: Evidence, th: SentimentThresholds) -> bool:
    """Facts from the record (contact count, past escalations), not interpretations."""
    if signal == "repeated_issue":
        return ev.contacts >= th.repeat_contacts
    return signal == "previous_escalation" and ev.previous_escalations > 0


def _fallback(rules: SentimentResult, problem: str) -> SentimentResult:
    return rules.model_copy(update={
        "backend": f"rules (llm failed: {problem})",
        "reasons": [*rules.reasons, f"Language model unavailable, rules decided: {problem}"],
    })
