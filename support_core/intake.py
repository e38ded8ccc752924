"""Intake: what is this ticket about, how urgent is it, and which identifiers does it carry.

:class:`RuleIntake` is deterministic and offline:

* entities (order and invoice numbers, e-mails, error codes, HTTP statuses, amounts,
  API keys - masked) come from regular expressions;
* the category blends keyword hints with a vote of the categories of the top
  knowledge-base hits, because a question that retrieves three billing articles
  is probably about billing even when it never says "invoice";
* the product is chosen the same way;
* the priority comes from ordered rules (outage, security, data loss, legal ->
  critical; failed payments, lock-outs, error codes -> high; feature requests and
  feedback -> low; everything else, how-to questions included -> medium).

Categories and products are parameters: the keyword table below only supplies
hints for the names that exist in the knowledge base at hand.

:class:`LLMIntake` asks a chat model, keeps its answer inside the known lists,
merges its entities with the regex ones and falls back to the rules on failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from support_core.errors import LLMError
from support_core.models import IntakeResult, Priority, SearchHit
from support_core.ports import LLMClient
from support_core.sentiment import outage_phrases, text_signals

DEFAULT_CATEGORY_HINTS: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "billing", "bill", "charge", "refund", "payment", "pay", "card",
                "subscription", "plan", "pricing", "price", "receipt", "vat", "tax id", "credit",
                "upgrade", "downgrade", "cancel", "renewal"),
    "api": ("api", "endpoint", "sdk", "webhook", "rate limit", "api key", "token", "http",
            "status code", "pagination", "curl", "request", "json", "429", "payload"),
    "account": ("account", "log in", "login", "sign in", "password", "email address", "locked",
                "username", "profile", "owner", "ownership", "recover"),
    "feature-requests": ("feature request", "would be nice", "would be great", "would love",
                         "please add", "could you add", "can you add", "suggestion", "wish",
                         "roadmap", "do you plan"),
    "onboarding": ("get started", "getting started", "setup", "set up", "import", "invite",
                   "teammate", "new to", "trial", "quick start", "onboarding", "first project",
                   "status page"),
    "integrations": ("integration", "integrate", "slack", "zapier", "salesforce", "hubspot",
                     "jira", "github", "google", "microsoft teams", "connector", "sync"),
    "security": ("security", "sso", "saml", "2fa", "two-factor", "mfa", "audit log", "breach",
                 "hacked", "leak", "vulnerability", "gdpr", "retention", "encryption", "compliance",
                 "soc 2", "phishing", "suspicious", "acceptable use"),
    "shipping": ("shipping", "delivery", "package", "tracking", "courier", "shipped"),
    "orders": ("order", "purchase", "checkout", "cart"),
    "technical": ("error", "bug", "crash", "not working", "broken", "slow"),
}
DEFAULT_PRODUCT_HINTS: dict[str, tuple[str, ...]] = {
    "api": DEFAULT_CATEGORY_HINTS["api"],
    "billing": DEFAULT_CATEGORY_HINTS["billing"],
    "app": ("app", "dashboard", "mobile", "ios", "android", "browser", "page", "button",
            "workspace", "project", "settings", "login", "log in", "sso", "2fa", "teammate",
            "invite", "import", "export"),
}


@dataclass(frozen=True)
class IntakeWeights:
    keywords: float = 0.5  # share of the category decision taken by keyword hints
    kb_vote: float = 0.5  # share taken by the categories of the top KB hits
    top_hits: int = 5  # how many hits vote


# ----------------------------------------------------------------------------- entities
_ENTITY_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(p, re.IGNORECASE if kind not in ("error_code",) else 0)) for kind, p in (
        ("order", r"\bORD(?:ER)?[-#]?\d{4,}\b"),
        ("order", r"(?<![\w&/#])#\d{4,}\b"),
        ("invoice", r"\bINV-?\d{4}(?:-\d{2,})?\b"),
        ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"),
        ("error_code", r"(?<![\w-])(?!(?:ORD|ORDER|INV|SHA|UTF|ISO|AES|RSA|TLS|CVE|CN|PO)-)"
                       r"[A-Z]{2,5}-\d{2,4}(?![\w-])"),
        ("amount", r"[$€£]\s?\d[\d,]*(?:\.\d{1,2})?|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:USD|EUR|GBP"
                   r"|dollars|euros|pounds)\b"),
        ("api_key", r"\b(?:sk|pk|rk|orb|key)_(?:live|test)_[A-Za-z0-9]{6,}\b"),
    )
)
_HTTP_RULES = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:HTTP(?:/\d(?:\.\d)?)?|status(?:\s+code)?|error|got\s+an?|returns?|returned|returning"
    r"|received\s+an?)\s*:?\s*(?P<code>[45]\d\d)\b",
    r"\b(?P<code>[45]\d\d)\s+(?:error|too many requests|internal server error|not found"
    r"|bad request|unauthori[sz]ed|forbidden|bad gateway|service unavailable|gateway timeout)\b",
))


def _mask_key(key: str) -> str:
    """Never copy a secret into tickets and traces: keep the prefix only."""
    prefix = "_".join(key.split("_")[:2])
    return f"{prefix}_…{key[-4:]}" if len(key) > 16 else f"{prefix}_…"


def extract_entities(text: str) -> dict[str, list[str]]:
    """Kind -> distinct values in order of appearance; API keys come back masked."""
    spans = [(m.start(), kind, m.group(0).strip()) for kind, rx in _ENTITY_RULES
             for m in rx.finditer(text)]
    spans += [(m.start(), "http_status", f"HTTP {m.group('code')}") for rx in _HTTP_RULES
              for m in rx.finditer(text)]
    found: dict[str, list[str]] = {}
    for _, kind, value in sorted(spans):
        value = _mask_key(value) if kind == "api_key" else value
        if value not in found.setdefault(kind, []):
            found[kind].append(value)
    return found


# ----------------------------------------------------------------------------- priority
def _rx(*patterns: str) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


_SECURITY = _rx(
    r"\b(?:hacked|compromised|breach(?:ed)?|account takeover|phishing|leaked|data leak)\b",
    r"\bunauthori[sz]ed\s+(?:access|login|log-?in|sign-?in|user)\b",
    r"\bsuspicious\s+(?:login|log-?in|activity|sign-?in)\b",
    r"\b(?:exposed|leaked|published|committed)\s+(?:my|our|an?|the)?\s*(?:api\s+)?(?:key|secret|token)s?\b",
)
_DATA_LOSS = _rx(
    r"\bdata\s+loss\b",
    r"\blost\s+(?:all\s+)?(?:of\s+)?(?:my|our)\s+(?:data|projects|files|work)\b",
    r"\b(?:data|projects|files)\s+(?:is|are|was|were|has been|have been)\s+(?:gone|missing|deleted"
    r"|wiped)\b", r"\b(?:deleted|wiped)\s+(?:all|everything)\b",
)
_PAYMENT_FAILURE = _rx(
    r"\b(?:payment|card|charge|transaction)s?\s+(?:(?:was|is|has been|keeps?|got|getting)\s+)?"
    r"(?:failed|failing|fails|declined|rejected|bounced)\b",
    r"\b(?:can'?t|cannot|unable to|couldn'?t)\s+(?:pay|complete (?:the |my )?payment|upgrade)\b",
)
_LOGIN_FAILURE = _rx(
    r"\b(?:can'?t|cannot|couldn'?t|unable to|not able to)\s+(?:log\s?-?in|sign\s?-?in|access"
    r"\s+(?:my|our)\s+(?:account|workspace))\b",
    r"\blocked\s+out\b", r"\baccount\s+(?:is\s+|was\s+|got\s+)?locked\b",
    r"\b(?:2fa|two-factor|mfa|password reset)\b[^.!?]{0,30}\b(?:not working|lost|broken|never"
    r"|doesn'?t|isn'?t)\b",
)
_BROKEN = _rx(r"\b(?:not working|stopped working|broken|crash(?:es|ed|ing)?|keeps failing)\b")
_FEEDBACK = _rx(
    r"\b(?:feature request|would be (?:nice|great|awesome|cool|helpful)|it would be great if"
    r"|please add|could you add|can you add|suggest(?:ion)?s?|feedback|wish(?:list)?|roadmap"
    r"|do you plan|any plans? to|would love)\b",
)
_HOW_TO = _rx(
    r"\b(?:how (?:do|can|to|should|would)|where (?:do|can|is|are)|is it possible|what is the"
    r" best way|can i)\b",
)


def _phrases(text: str, rules: Iterable[re.Pattern[str]]) -> list[str]:
    return list(dict.fromkeys(m.group(0) for rx in rules for m in rx.finditer(text)))


def _quote(phrases: Sequence[str]) -> str:
    return ", ".join(f"'{p}'" for p in phrases[:3])


def decide_priority(text: str, entities: Mapping[str, list[str]]) -> tuple[Priority, str]:
    """Ordered rules, most severe first; returns the priority and why."""
    signals = text_signals(text)
    legal = signals.get("legal_threat", [])
    critical = [("outage", outage_phrases(text)), ("security", _phrases(text, _SECURITY)),
                ("data loss", _phrases(text, _DATA_LOSS)), ("legal", legal)]
    for what, found in critical:
        if found:
            return Priority.CRITICAL, f"{what}: {_quote(found)}"
    codes = entities.get("error_code", []) + entities.get("http_status", [])
    high = [("payment failure", _phrases(text, _PAYMENT_FAILURE)),
            ("billing dispute", signals.get("billing_dispute", [])),
            ("cannot log in", _phrases(text, _LOGIN_FAILURE)), ("error code", codes),
            ("something is broken", _phrases(text, _BROKEN))]
    for what, found in high:
        if found:
            return Priority.HIGH, f"{what}: {_quote(found)}"
    if found := _phrases(text, _FEEDBACK):
        return Priority.LOW, f"feature request or feedback: {_quote(found)}"
    if found := _phrases(text, _HOW_TO):
        return Priority.MEDIUM, f"how-to question: {_quote(found)}"
    return Priority.MEDIUM, "no priority rule matched"


# ----------------------------------------------------------------------------- category / product
def _hint_rx(hint: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(hint)}(?:s|es|ed|d|ing)?(?![\w-])", re.IGNORECASE)


def _name_tokens(name: str) -> list[str]:
    """'feature-requests' -> ['feature', 'request']: the words a customer would use."""
    tokens = [t for t in re.split(r"[-_\s]+", name.lower()) if t]
    return [t[:-1] if len(t) > 4 and t.endswith("s") and not t.endswith("ss") else t
            for t in tokens]


class _Labeller:
    """Scores one label set (categories or products) by keywords and a KB vote."""

    def __init__(self, hints: Mapping[str, Sequence[str]], weights: IntakeWeights) -> None:
        self.labels = list(hints)
        self.weights = weights
        self._rx = {label: [(h, _hint_rx(h)) for h in dict.fromkeys(hs)]
                    for label, hs in hints.items()}

    def keyword_hits(self, text: str) -> dict[str, list[str]]:
        return {label: [h for h, rx in rules if rx.search(text)]
                for label, rules in self._rx.items()}

    def kb_vote(self, hits: Sequence[SearchHit], attr: str) -> dict[str, float]:
        votes: dict[str, float] = {}
        for rank, hit in enumerate(hits[: self.weights.top_hits], start=1):
            label = getattr(hit, attr)
            if label in self._rx:
                sim = hit.dense_score if hit.dense_score is not None else 1.0
                votes[label] = votes.get(label, 0.0) + max(sim, 0.05) / rank
        return votes

    def choose(self, text: str, hits: Sequence[SearchHit], attr: str) -> tuple[str | None, str]:
        kw = self.keyword_hits(text)
        votes = self.kb_vote(hits, attr)
        kw_total, kb_total = sum(len(v) for v in kw.values()), sum(votes.values())
        w_kw = self.weights.keywords if kw_total else 0.0
        w_kb = self.weights.kb_vote if kb_total else 0.0
        if not w_kw + w_kb:
            return None, "no keyword or knowledge-base evidence"
        scores = {  # keyword strength saturates (1, 2, 3 hints: .5, .75, .88); KB: vote share
            label: (w_kw * (1 - 0.5 ** len(kw[label]))
                    + w_kb * votes.get(label, 0.0) / (kb_total or 1)) / (w_kw + w_kb)
            for label in self.labels
        }
        best = max(self.labels, key=lambda label: scores[label], default=None)
        if best is None or scores[best] <= 0:
            return None, "no keyword or knowledge-base evidence"
        return best, _why(best, scores[best], kw[best], votes.get(best, 0.0), kb_total)


def _why(label: str, score: float, words: list[str], vote: float, total: float) -> str:
    parts = [f"keywords {_quote(words)}"] if words else []
    if vote:
        parts.append(f"{vote / total:.0%} of the top knowledge-base hits")
    return f"{label} (score {score:.2f}: {', '.join(parts)})"


def category_hints(categories: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Default hints for the categories that exist, plus each category's own name."""
    return {c: (*_name_tokens(c), *DEFAULT_CATEGORY_HINTS.get(c.lower(), ())) for c in categories}


def product_hints(products: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Hints from what tells products apart: name tokens not shared by all of them
    (the brand is dropped), and the default hints for those tokens."""
    tokens = {p: _name_tokens(p) for p in products}
    shared = set.intersection(*(set(t) for t in tokens.values())) if len(products) > 1 else set()
    hints: dict[str, tuple[str, ...]] = {}
    for p, toks in tokens.items():
        own = [t for t in toks if t not in shared]
        hints[p] = (*own, *(h for t in own for h in DEFAULT_PRODUCT_HINTS.get(t, ())))
    return hints


class RuleIntake:
    backend = "rules"

    def __init__(
        self, categories: list[str], products: list[str], weights: IntakeWeights | None = None
    ) -> None:
        self.categories = list(categories)
        self.products = list(products)
        weights = weights or IntakeWeights()
        self._categories = _Labeller(category_hints(self.categories), weights)
        self._products = _Labeller(product_hints(self.products), weights)

    def classify(
        self,
        text: str,
        *,
        kb_hits: Sequence[SearchHit] = (),
        explicit_category: str | None = None,
    ) -> IntakeResult:
        entities = extract_entities(text)
        priority, why_priority = decide_priority(text, entities)
        category, why_category = self._category(text, kb_hits, explicit_category)
        product, why_product = self._products.choose(text, kb_hits, "product")
        reasons = [f"Priority {priority.value}: {why_priority}", f"Category: {why_category}",
                   f"Product: {why_product}"]
        if "api_key" in entities:
            reasons.append("The message contains what looks like an API key (masked); "
                           "the customer should rotate it")
        return IntakeResult(priority=priority, category=category, product=product,
                            entities=entities, reasons=reasons, backend=self.backend)

    def _category(
        self, text: str, hits: Sequence[SearchHit], explicit: str | None
    ) -> tuple[str | None, str]:
        if explicit and explicit in self.categories:
            return explicit, f"{explicit} (chosen by the customer)"
        chosen, why = self._categories.choose(text, hits, "category")
        if explicit:
            why += f"; the customer's choice '{explicit}' is not a known category"
        return chosen, why


# ----------------------------------------------------------------------------- LLM variant
class IntakeVerdict(BaseModel):
    """The structured answer the model must give; anything else is an ``LLMError``."""

    priority: Priority
    category: str | None = None
    product: str | None = None
    entities: dict[str, list[str]] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)


INTAKE_PROMPT = """You triage messages sent to software customer support.
Return only JSON with these keys:
- priority: low (feature requests, feedback), medium (how-to questions), high (failed
  payments, cannot log in, errors), critical (outage, security incident, data loss, legal)
- category: exactly one of {categories}, or null
- product: exactly one of {products}, or null
- entities: identifiers found in the message, as kind -> list of strings (kinds such as
  order, invoice, email, error_code, http_status, amount)
- reasons: up to three short sentences explaining the priority and category"""


class LLMIntake:
    def __init__(self, llm: LLMClient, rules: RuleIntake) -> None:
        self._llm = llm
        self._rules = rules

    def classify(
        self,
        text: str,
        *,
        kb_hits: Sequence[SearchHit] = (),
        explicit_category: str | None = None,
    ) -> IntakeResult:
        rules = self._rules.classify(text, kb_hits=kb_hits, explicit_category=explicit_category)
        try:
            reply = self._llm.chat(self._prompt(text, kb_hits), schema=IntakeVerdict,
                                   temperature=0.0, max_tokens=400)
        except LLMError as exc:
            return _fallback(rules, str(exc))
        if not isinstance(reply.parsed, IntakeVerdict):
            return _fallback(rules, "the reply was not an intake verdict")
        return self._merge(reply.parsed, rules, explicit_category)

    def _prompt(self, text: str, hits: Sequence[SearchHit]) -> list[dict[str, str]]:
        system = INTAKE_PROMPT.format(categories=", ".join(self._rules.categories) or "(none)",
                                      products=", ".join(self._rules.products) or "(none)")
        related = "\n".join(f"- {h.title} [{h.category}/{h.product}]" for h in hits[:5]) or "(none)"
        user = f"Related help articles:\n{related}\n\nCustomer message:\n{text}"
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _merge(
        self, verdict: IntakeVerdict, rules: IntakeResult, explicit: str | None
    ) -> IntakeResult:
        notes: list[str] = []
        known = self._rules
        category = _known(verdict.category, known.categories, rules.category, "category", notes)
        if explicit and explicit in self._rules.categories:
            category = explicit
        product = _known(verdict.product, known.products, rules.product, "product", notes)
        priority = verdict.priority
        if rules.priority == Priority.CRITICAL and priority != Priority.CRITICAL:
            priority = Priority.CRITICAL
            notes.append(f"Priority kept critical by the rules ({rules.reasons[0]})")
        return IntakeResult(
            priority=priority, category=category, product=product,
            entities=merge_entities(rules.entities, verdict.entities),
            reasons=[*verdict.reasons, *notes], backend=f"llm:{self._llm.model}",
        )


def _known(value: str | None, allowed: Sequence[str], default: str | None, what: str,
           notes: list[str]) -> str | None:
    """The model's label if it is one we know, else the rules' label (and a note why)."""
    if value in allowed:
        return value
    if value is not None:
        notes.append(f"Model's {what} '{value}' is unknown; used the rules' {default}")
    return default


def merge_entities(
    first: Mapping[str, list[str]], second: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Union per kind, first source's values first; secrets from either side are masked."""
    merged: dict[str, list[str]] = {k: list(v) for k, v in first.items()}
    for kind, values in second.items():
        key = kind.strip().lower().replace(" ", "_")
        for value in values:
            clean = extract_entities(value).get("api_key", [value.strip()])[0]
            if clean and clean not in merged.setdefault(key, []):
                merged[key].append(clean)
    return {k: v for k, v in merged.items() if v}


def _fallback(rules: IntakeResult, problem: str) -> IntakeResult:
    return rules.model_copy(update={
        "backend": f"rules (llm failed: {problem})",
        "reasons": [*rules.reasons, f"Language model unavailable, rules decided: {problem}"],
    })
