"""The output guard: a model-written reply is checked before a customer sees it.

Retrieval sets confidence, but nothing there looks at what the model *wrote*: a model that
follows an instruction injected into a passage, invents a refund amount or cites the wrong
passage would be sent as is. :class:`OutputGuard` checks the reply against the passages it was
given and the customer's own messages, and grades autonomy:

* ``send``: every check passed; the reply goes out.
* ``draft_only``: a sentence is not supported by the passage it cites (or by any passage): the
  customer gets the holding message and the agent gets the text as a draft, failed check named.
* ``escalate``: a hard failure (a credential, an instruction-following phrase, a fact such as an
  amount, percentage, date, URL, email or phone that appears in no passage and no customer
  message, or a refund/credit/exception promise no passage states): held, and queued higher.

Sentence support is cheap: stemmed content-word overlap with the cited passage, and, when an
embedder is given, cosine similarity of sentence and passage sentences (the local MiniLM).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from support_core.confidence import content_terms
from support_core.kb.safety import injection_flags
from support_core.models import Draft, EscalationDecision, Priority, Queue, SearchHit
from support_core.ports import Embedder
from support_core.redaction import find_pii

Action = Literal["send", "draft_only", "escalate"]

LEXICAL_SUPPORT = 0.6  # share of a sentence's content words found in the cited passage
EMBEDDING_SUPPORT = 0.62  # cosine to the closest passage sentence
CITATION_MARGIN = 0.2  # another passage agrees with the claim this much better: wrong citation
MIN_CONTENT_TERMS = 3  # shorter sentences (greetings, "Does this help?") carry no claim

_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_MONEY = re.compile(
    r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?(?:\s?[kKmM]\b)?)|"
    r"(?:\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|dollars?|euros?|pounds?)\b)",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"\b\d+(?:\.\d+)?\s?(?:%|percent\b)", re.IGNORECASE)
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b|"
    rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?\b|"
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\b(?:\s+\d{{4}})?",
    re.IGNORECASE,
)
_URL = re.compile(r"\bhttps?://[^\s)\]>\"']+|\bwww\.[^\s)\]>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CREDENTIAL_WORDS = re.compile(
    r"\b(?:password|passcode|passwd|api[\s_-]?key|secret|token|credentials?)\b\s*(?:is|:|=)\s*\S+",
    re.IGNORECASE,
)
_PROMISE_FAMILIES = {  # a promise is backed by a passage that states one of the same family
    "refund": r"refund\w*|reimburs\w*|money back|pay(?:ing)? you back",
    "credit": r"credit(?:ed|s)?\b(?!\s+card)|compensat\w*|voucher|coupon",
    "exception": r"exception|waive[ds]?|free of charge|at no (?:extra )?cost|discount\w*",
    "approval": r"approved?|guarantee[ds]?",
}
_PROMISE = {k: re.compile(rf"\b(?:{v})", re.IGNORECASE) for k, v in _PROMISE_FAMILIES.items()}
_INJECTION_ECHO = re.compile(
    r"ignore (?:all |any )?(?:previous|prior|above) instructions|system prompt|"
    r"as an ai language model|i have been instructed|developer mode|\bjailbreak",
    re.IGNORECASE,
)
_PLACEHOLDER = re.compile(r"\[(?:CARD|IBAN|CVV|ID|SECRET|EMAIL|PHONE)[^\]]*\]")


@dataclass
class GuardResult:
    action: Action
    failures: list[str] = field(default_factory=list)  # "check: detail", worst first

    @property
    def passed(self) -> bool:
        return self.action == "send"

    def summary(self) -> str:
        return "; ".join(self.failures) if self.failures else "all checks passed"


def split_sentences(text: str) -> list[str]:
    """Sentences and lines; a citation written after the full stop ("... done. [1]") stays
    with its sentence."""
    out: list[str] = []
    for part in (s.strip() for s in _SENTENCE.split(text)):
        if not part:
            continue
        lead = re.match(r"^(?:\[\d+(?:\s*,\s*\d+)*\]\s*)+", part)
        if lead and out:
            out[-1] += " " + lead.group(0).strip()
            part = part[lead.end():].strip()
        if part:
            out.append(part)
    return out


def _norm(value: str) -> str:
    return re.sub(r"[\s,]", "", value.lower()).rstrip(".")


def _facts(text: str) -> list[tuple[str, str]]:
    """(kind, value) of every checkable fact in ``text``."""
    out: list[tuple[str, str]] = []
    for kind, pattern in (("amount", _MONEY), ("percentage", _PERCENT), ("date", _DATE),
                          ("url", _URL), ("email", _EMAIL)):
        out += [(kind, m.group(0)) for m in pattern.finditer(text)]
    out += [("phone", text[f.start:f.end]) for f in find_pii(text) if f.kind == "PHONE"]
    return out


class OutputGuard:
    def __init__(self, embedder: Embedder | None = None) -> None:
        self.embedder = embedder

    def check(
        self,
        reply: str,
        passages: Sequence[SearchHit],
        customer_messages: Sequence[str] = (),
    ) -> GuardResult:
        """Grade a reply whose ``[n]`` markers number ``passages`` from 1."""
        hard: list[str] = []
        soft: list[str] = []
        # a passage that reads as instructions to a model is not evidence for anything
        trusted = [p for p in passages if not injection_flags(p.text)]
        passage_text = "\n".join(f"{p.title}\n{p.text}" for p in trusted)
        known = passage_text + "\n" + "\n".join(customer_messages)
        known_norm = _norm(known)

        # 1. credentials and instruction-following never go out
        secrets = [reply[f.start:f.end] for f in find_pii(reply) if f.kind == "SECRET"]
        secrets += [m.group(0) for m in _CREDENTIAL_WORDS.finditer(reply)]
        if secrets or _PLACEHOLDER.search(reply):
            hard.append("credential: the reply contains a credential-like string")
        if _INJECTION_ECHO.search(reply):
            hard.append("injection: the reply repeats instruction-like text")

        # 2. facts must come from the passages or the customer
        flat = known.replace(",", "")
        for kind, value in _facts(reply):
            seen = _norm(value) in known_norm
            if not seen and kind in ("amount", "percentage"):
                number = re.sub(r"[^\d.]", "", value).strip(".")
                seen = bool(number) and re.search(
                    rf"(?<![\d.]){re.escape(number)}(?:\.0+)?(?!\.?\d)", flat) is not None
            if not seen:
                hard.append(f"unsupported {kind}: {value}")

        # 3. promises need a passage that states them
        for family, pattern in _PROMISE.items():
            m = pattern.search(reply)
            if m and not pattern.search(passage_text):
                hard.append(f"unsupported promise: '{m.group(0)}' ({family}) is in no passage")

        # 4. each claim-bearing sentence is supported by the passage it cites
        soft += self._sentence_support(reply, passages, untrusted={
            i for i, p in enumerate(passages, start=1) if p not in trusted})

        failures = list(dict.fromkeys(hard + soft))
        action: Action = "escalate" if hard else "draft_only" if soft else "send"
        return GuardResult(action, failures)

    # ------------------------------------------------------------------ sentence support
    def _sentence_support(
        self, reply: str, passages: Sequence[SearchHit], untrusted: AbstractSet[int] = frozenset()
    ) -> list[str]:
        claims = [(bare, cited) for sentence in split_sentences(reply)
                  for bare, cited in cited_claims(sentence)
                  if not bare.endswith("?") and len(content_terms(bare)) >= MIN_CONTENT_TERMS]
        if not claims or not passages:
            return []
        n = len(passages)
        failures: list[str] = []
        scores, agreement = self._scores([c for c, _ in claims], passages)
        for j in untrusted:
            scores[:, j - 1] = 0.0
            agreement[:, j - 1] = 0.0
        for i, (sentence, cited) in enumerate(claims):
            row, both = scores[i], agreement[i]
            valid = [c for c in cited if 1 <= c <= n]
            if cited and not valid:
                failures.append(f"wrong citation: {sentence[:60]!r} cites no given passage")
                continue
            best = int(np.argmax(row))
            if valid:
                cited_idx = [c - 1 for c in valid]
                cited_score = max(row[k] for k in cited_idx)
                # the best passage it does not cite, by both signals together
                others = [k for k in range(n) if k not in cited_idx]
                rival = max(others, key=lambda k: both[k], default=None)
                better = rival is not None and row[rival] >= 1 and (
                    both[rival] - max(both[k] for k in cited_idx) >= CITATION_MARGIN)
                if cited_score >= 1 and not better:
                    continue
                if rival is not None and row[rival] >= 1:
                    failures.append(f"wrong citation: {sentence[:60]!r} cites [{valid[0]}], "
                                    f"supported by [{rival + 1}]")
                    continue
            elif row[best] >= 1 or _is_conversational(sentence):
                continue
            failures.append(f"unsupported sentence: {sentence[:60]!r}")
        return failures

    def _scores(
        self, sentences: list[str], passages: Sequence[SearchHit]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Two (sentence x passage) matrices from content-word coverage (share of a sentence's
        content words in the passage) and the best cosine to one of the passage's sentences:

        * support, >= 1 when the passage supports the sentence: the larger of coverage /
          LEXICAL_SUPPORT and cosine / EMBEDDING_SUPPORT (either signal may carry it);
        * agreement, their mean in [0, 1]: how *well* it supports it, used to compare the cited
          passage with the others (both signals must agree for a rival to win by the margin).
        """
        terms = [content_terms(f"{p.title} {' '.join(p.heading_path)} {p.text}") for p in passages]
        coverage = np.array([
            [len(content_terms(s) & t) / max(1, len(content_terms(s))) for t in terms]
            for s in sentences
        ])
        units = [(j, u) for j, p in enumerate(passages) for u in split_sentences(p.text) if u]
        if self.embedder is None or not units:
            return coverage / LEXICAL_SUPPORT, coverage
        vectors = self.embedder.embed([*sentences, *(u for _, u in units)])
        sims = vectors[: len(sentences)] @ vectors[len(sentences):].T
        cosine = np.zeros_like(coverage)
        for k, (j, _) in enumerate(units):
            cosine[:, j] = np.maximum(cosine[:, j], sims[:, k])
        support = np.maximum(coverage / LEXICAL_SUPPORT, cosine / EMBEDDING_SUPPORT)
        return support, (coverage + np.clip(cosine, 0.0, 1.0)) / 2


def cited_claims(sentence: str) -> list[tuple[str, list[int]]]:
    """A sentence's claims, each with the citation markers that end it: "Reset it in
    Settings [1] and rotate the key [2]." is two claims, cited [1] and [2]; text after the last
    marker joins the claim before it unless it is a claim of its own (then it cites nothing).
    A piece too short to be a claim joins the next one, citations and all."""
    claims: list[tuple[str, list[int]]] = []
    pending, pending_cited, last = "", [], 0
    for m in _CITATION.finditer(sentence):
        pending += sentence[last:m.start()]
        pending_cited += [int(n) for n in re.findall(r"\d+", m.group(1))]
        last = m.end()
        if len(content_terms(pending)) >= MIN_CONTENT_TERMS:
            claims.append((pending.strip(), pending_cited))
            pending, pending_cited = "", []
    tail = pending + sentence[last:]
    if claims and len(content_terms(tail)) < MIN_CONTENT_TERMS:
        text, cited = claims[-1]
        claims[-1] = (f"{text} {tail.strip()}".strip(), cited + pending_cited)
    elif tail.strip() or not claims:
        claims.append((_CITATION.sub("", tail).strip(), pending_cited))
    return [(re.sub(r"\s+([.,;:!?])", r"\1", text).strip(" ,;:"), cited)
            for text, cited in claims]


_CONVERSATIONAL = re.compile(
    r"^(?:hi|hello|hey|thanks?|thank you|sorry|i'm sorry|i am sorry|i understand|i can see|"
    r"i know|happy to help|glad|let me know|please let me know|hope this|if (?:this|that) "
    r"(?:doesn't|does not|didn't)|feel free|reply here|i'll|i will bring)\b",
    re.IGNORECASE,
)


def _is_conversational(sentence: str) -> bool:
    """Acknowledgements and next-step offers: no fact, so nothing to support."""
    return bool(_CONVERSATIONAL.match(sentence.strip(" *-")))


def held_decision(draft: Draft) -> EscalationDecision:
    """The router's decision for a reply the guard held back: the agent gets it as a draft."""
    hard = draft.autonomy == "escalate"
    return EscalationDecision(
        should_escalate=True,
        queue=Queue.TIER2 if hard else Queue.TIER1,
        priority=Priority.HIGH if hard else Priority.MEDIUM,
        reason="Reply held by the output guard: " + "; ".join(draft.guard_failures[:3]),
        rule="output_guard",
        inputs={"autonomy": draft.autonomy, "failures": draft.guard_failures},
    )
