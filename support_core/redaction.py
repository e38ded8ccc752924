"""PII and secret redaction: what a customer types never reaches a model, a disk or a log verbatim.

Detected (each with a format check, so look-alikes such as order ids stay readable):

* payment cards: 13-19 digits in any grouping, Luhn-checked -> ``[CARD ****1111]``;
  a 3-4 digit code next to a card or after "CVV"/"CVC"/"security code" -> ``[CVV]``
* IBANs (ISO 13616 mod-97 checksum) -> ``[IBAN ****3000]``
* SSN-like national ids (``123-45-6789``, or 9 digits after "SSN") -> ``[ID-1]``
* API keys and tokens by shape (``sk_live_``, ``ghp_``, ``AKIA``, JWTs, ``Bearer``, ``xox?-``,
  ``AIza``, ``sk-``...), ``password: x`` / ``api_key=x`` pairs, long hex/base64 strings next to a
  key-ish word, and credentials inside URLs (``scheme://user:pass@host``) -> ``[SECRET-1]``
* contact details (emails; phone numbers validated by ``phonenumbers``) -> ``[EMAIL-1]``,
  ``[PHONE-1]``: always hidden from the model and from traces and logs, and hidden in stored
  tickets unless ``SUPPORT_SHOW_CONTACT_DETAILS_TO_AGENTS`` is on.

Numbered placeholders are consistent within a conversation (the same key twice is ``[SECRET-1]``
both times) without keeping the value: a :class:`PlaceholderBook` maps a *keyed* hash
(HMAC-SHA256 with a key that is not stored next to the data when ``SUPPORT_REDACTION_KEY`` is set)
of the value to its number, per conversation scope. The raw value is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn

if TYPE_CHECKING:
    from support_core.config import Settings

CONTACT_KINDS = frozenset({"EMAIL", "PHONE"})
PHONE_REGIONS = ("US", "GB")  # international (+..) numbers match in any region


@dataclass(frozen=True)
class Finding:
    kind: str  # CARD, CVV, IBAN, ID, SECRET, EMAIL, PHONE
    start: int
    end: int
    value: str


# ----------------------------------------------------------------------------- detectors
_CARD = re.compile(r"(?<![\w.-])\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)")
_CVV_LABEL = re.compile(
    r"\b(?:cvv2?|cvc2?|cv2|csc|security\s+code|card\s+code)\b"
    r"(?:\s*(?:is|was|number|no\.?|[:=#]))*\s*(\d{3,4})\b",
    re.IGNORECASE,
)
_CVV_AFTER_CARD = re.compile(
    r"[\s,;/]*(?:(?:exp(?:iry|ires)?\.?|valid\s+thru)?\W{0,3}\d{1,2}\s*/\s*\d{2,4}[\s,;]*)?"
    r"(?:and\s+|&\s*)?(\d{3,4})\b(?!\s*[/.-]?\d)",
    re.IGNORECASE,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w-])")
_SSN_LABEL = re.compile(
    r"\b(?:ssn|social\s+security(?:\s+(?:number|no\.?))?|tax\s+id|tin)\b\W{0,6}(\d{9})\b",
    re.IGNORECASE,
)
_TOKEN_SHAPES = [
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}",
    r"\bwhsec_[A-Za-z0-9]{16,}",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    r"\bgithub_pat_[A-Za-z0-9_]{22,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\bAIza[0-9A-Za-z_-]{35}",
    r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    r"\bglpat-[A-Za-z0-9_-]{20,}",
    r"\bnpm_[A-Za-z0-9]{36}",
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
]
_TOKEN = re.compile("|".join(f"(?:{p})" for p in _TOKEN_SHAPES))
_BEARER = re.compile(r"\b(?:bearer|token)\s+([A-Za-z0-9._~+/=-]{16,})", re.IGNORECASE)
_KEYISH = (
    r"(?:api[\s_-]?key|apikey|secret(?:[\s_-]?key)?|access[\s_-]?key|private[\s_-]?key|"
    r"client[\s_-]?secret|auth(?:orization)?[\s_-]?token|access[\s_-]?token|token|"
    r"password|passwd|passphrase|pwd|pin)"
)
_KEY_VALUE = re.compile(rf"\b{_KEYISH}\b\s*(?:is|was|=|:)\s*[\"']?([^\s\"',;]{{4,}})", re.I)
_LONG_BLOB = re.compile(r"(?<![\w/+=-])(?:[A-Fa-f0-9]{32,}|[A-Za-z0-9+/_-]{32,}={0,2})(?![\w/+=-])")
_KEYISH_NEAR = re.compile(rf"\b{_KEYISH}s?\b|\bkey\b|\bcredential", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^\s/@:]*)(?::([^\s/@]*))?@", re.I)
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,6}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _cards(text: str) -> list[Finding]:
    out = []
    for m in _CARD.finditer(text):
        raw = m.group(0)
        if "-" in raw and " " in raw:
            continue  # mixed separators: a list of numbers, not a card
        digits = _digits(raw)
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn.is_valid(digits):
            out.append(Finding("CARD", m.start(), m.end(), digits))
    return out


def _cvvs(text: str, cards: list[Finding]) -> list[Finding]:
    out = [Finding("CVV", m.start(1), m.end(1), m.group(1)) for m in _CVV_LABEL.finditer(text)]
    for card in cards:
        m = _CVV_AFTER_CARD.match(text, card.end, min(len(text), card.end + 40))
        if m:
            out.append(Finding("CVV", m.start(1), m.end(1), m.group(1)))
    return out


def _ibans(text: str) -> list[Finding]:
    out = []
    for m in _IBAN.finditer(text):
        compact = m.group(0).replace(" ", "")
        # the regex may run on into the next word: try the longest valid prefix
        for end in range(len(compact), 14, -1):
            if _valid_iban(compact[:end]):
                span = _span_of_compact(text, m.start(), end)
                out.append(Finding("IBAN", m.start(), span, compact[:end]))
                break
    return out


def _valid_iban(compact: str) -> bool:
    """Country length and ISO 7064 mod-97 checksum (not each bank's own check digits)."""
    try:
        std_iban.validate(compact, check_country=False)
    except ValueError:
        return False
    return True


def _span_of_compact(text: str, start: int, n_chars: int) -> int:
    """End offset in ``text`` after ``n_chars`` non-space characters from ``start``."""
    seen, i = 0, start
    while i < len(text) and seen < n_chars:
        seen += text[i] != " "
        i += 1
    return i


def _ssns(text: str) -> list[Finding]:
    out = []
    for m in _SSN.finditer(text):
        area, group, serial = m.groups()
        if area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000":
            out.append(Finding("ID", m.start(), m.end(), _digits(m.group(0))))
    out += [Finding("ID", m.start(1), m.end(1), m.group(1)) for m in _SSN_LABEL.finditer(text)]
    return out


def _secrets(text: str) -> list[Finding]:
    out = [Finding("SECRET", m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]
    out += [Finding("SECRET", m.start(1), m.end(1), m.group(1)) for m in _BEARER.finditer(text)]
    for m in _KEY_VALUE.finditer(text):
        value = m.group(1)
        if not (re.search(r"[\d\W_]", value) or len(value) >= 12):
            continue  # "token is expired": a word, not a credential
        if not re.fullmatch(r"\[[A-Z]+[- ][^\]]*\]?", value):  # already a placeholder
            out.append(Finding("SECRET", m.start(1), m.end(1), value.rstrip(".")))
    for m in _LONG_BLOB.finditer(text):
        blob = m.group(0)
        mixed = bool(re.search(r"\d", blob)) and bool(re.search(r"[A-Za-z]", blob))
        context = text[max(0, m.start() - 40): m.start()]
        if mixed and _KEYISH_NEAR.search(context):
            out.append(Finding("SECRET", m.start(), m.end(), blob))
    for m in _URL_CREDENTIALS.finditer(text):
        if m.group(3) and m.group(3) != "***":  # user:password@ (*** is already masked)
            out.append(Finding("SECRET", m.start(3), m.end(3), m.group(3)))
        elif m.group(2) and len(m.group(2)) >= 16:  # token-as-username (https://TOKEN@host)
            out.append(Finding("SECRET", m.start(2), m.end(2), m.group(2)))
    return out


def _emails(text: str) -> list[Finding]:
    return [Finding("EMAIL", m.start(), m.end(), m.group(0).lower()) for m in _EMAIL.finditer(text)]


def _phones(text: str) -> list[Finding]:
    if sum(c.isdigit() for c in text) < 7:
        return []
    out: dict[tuple[int, int], Finding] = {}
    for region in PHONE_REGIONS:
        leniency = phonenumbers.Leniency.VALID
        matcher = phonenumbers.PhoneNumberMatcher(text, region, leniency=leniency)
        for m in matcher:
            before = text[m.start - 1: m.start] if m.start else ""
            if before.isalnum() or (before and before in "-_/#") or _DATE_LIKE.fullmatch(
                m.raw_string
            ):
                continue  # part of an id ("ORD-2024-118833") or a date
            value = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            out.setdefault((m.start, m.end), Finding("PHONE", m.start, m.end, value))
    return list(out.values())


def find_pii(text: str, *, contacts: bool = True) -> list[Finding]:
    """Every sensitive span, non-overlapping (earlier and longer win), in reading order.

    ``contacts=False`` leaves emails and phone numbers alone.
    """
    cards = _cards(text)
    found = [*_secrets(text), *cards, *_cvvs(text, cards), *_ibans(text), *_ssns(text)]
    if contacts:
        found += [*_emails(text), *_phones(text)]
    priority = {"SECRET": 0, "CARD": 1, "IBAN": 2, "ID": 3, "EMAIL": 4, "CVV": 5, "PHONE": 6}
    found.sort(key=lambda f: (f.start, priority[f.kind], -(f.end - f.start)))
    kept: list[Finding] = []
    for f in found:
        if kept and f.start < kept[-1].end:
            continue
        kept.append(f)
    return kept


# ----------------------------------------------------------------------------- placeholder book
class PlaceholderBook(Protocol):
    """Numbers values per scope without holding them: only keyed digests are kept."""

    def number(self, scope: str, kind: str, digest: str) -> int: ...


class MemoryBook:
    """A book in process memory (stateless redaction: one text, one LLM request, one log line)."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def number(self, scope: str, kind: str, digest: str) -> int:
        with self._lock:
            key = (scope, kind, digest)
            if key not in self._numbers:
                used = sum(1 for s, k, _ in self._numbers if s == scope and k == kind)
                self._numbers[key] = used + 1
            return self._numbers[key]


class SQLiteBook:
    """A durable book (``redaction.db``): conversation scope, kind, keyed digest -> number."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS placeholders (scope TEXT, kind TEXT, digest TEXT, "
                "n INTEGER, PRIMARY KEY (scope, kind, digest))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def number(self, scope: str, kind: str, digest: str) -> int:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT n FROM placeholders WHERE scope=? AND kind=? AND digest=?",
                (scope, kind, digest),
            ).fetchone()
            if row is None:
                (used,) = db.execute(
                    "SELECT COUNT(*) FROM placeholders WHERE scope=? AND kind=?", (scope, kind)
                ).fetchone()
                row = (used + 1,)
                db.execute(
                    "INSERT INTO placeholders VALUES (?,?,?,?)", (scope, kind, digest, row[0])
                )
            db.execute("COMMIT")
            return int(row[0])
        finally:
            db.close()


def load_or_create_key(path: Path) -> bytes:
    """The HMAC key: read from ``path``, or created there (mode 0600) on first use."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


# ----------------------------------------------------------------------------- redactor
class Redactor:
    """Replaces sensitive spans with typed placeholders, consistently per conversation scope."""

    def __init__(
        self,
        book: PlaceholderBook | None = None,
        key: bytes | None = None,
        *,
        show_contacts: bool = False,
    ) -> None:
        self.book = book or MemoryBook()
        self.key = key or secrets.token_bytes(32)
        self.show_contacts = show_contacts

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """Durable book in ``data_dir``; key from ``SUPPORT_REDACTION_KEY`` or a 0600 key file."""
        configured = settings.redaction_key
        raw = configured.get_secret_value() if configured is not None else ""
        key = raw.encode() if raw else load_or_create_key(settings.data_dir / "redaction.key")
        return cls(
            SQLiteBook(settings.data_dir / "redaction.db"),
            key,
            show_contacts=settings.show_contact_details_to_agents,
        )

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self.key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]

    def placeholder(self, finding: Finding, scope: str) -> str:
        if finding.kind == "CARD":
            return f"[CARD ****{finding.value[-4:]}]"
        if finding.kind == "IBAN":
            return f"[IBAN ****{finding.value[-4:]}]"
        if finding.kind == "CVV":
            return "[CVV]"
        n = self.book.number(scope, finding.kind, self._digest(finding.kind, finding.value))
        return f"[{finding.kind}-{n}]"

    def redact(self, text: str, scope: str = "", *, contacts: bool = True) -> str:
        """``text`` with every finding replaced; ``contacts=False`` keeps emails and phones."""
        if not text:
            return text
        findings = find_pii(text, contacts=contacts)
        if not findings:
            return text
        parts, last = [], 0
        for f in findings:
            parts += [text[last: f.start], self.placeholder(f, scope)]
            last = f.end
        parts.append(text[last:])
        return "".join(parts)

    def for_storage(self, text: str, scope: str = "") -> str:
        """What may be stored and shown to agents: contacts only when the setting allows."""
        return self.redact(text, scope, contacts=not self.show_contacts)


_default = Redactor()


def redact_text(text: str, *, contacts: bool = True) -> str:
    """Stateless redaction (placeholders numbered within this one text)."""
    return _default.redact(text, scope=secrets.token_hex(8), contacts=contacts)


def redact_value(value: object) -> object:
    """Redact strings (also inside lists/tuples); anything else is returned unchanged."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def mask_url_credentials(url: str) -> str:
    """``redis://user:pw@host/0`` -> ``redis://user:***@host/0`` (a token-as-user becomes ***)."""

    def mask(m: re.Match[str]) -> str:
        user, password = m.group(2), m.group(3)
        if password is not None:
            return f"{m.group(1)}{user}:***@"
        return f"{m.group(1)}***@" if len(user) >= 16 else m.group(0)

    return _URL_CREDENTIALS.sub(mask, url)


def redact_messages(
    messages: Iterable[Mapping[str, str]], redact: Callable[[str], str] | None = None
) -> list[dict[str, str]]:
    """Chat messages with every ``content`` redacted, one numbering across the whole request."""
    if redact is None:
        scope = secrets.token_hex(8)
        redact = lambda s: _default.redact(s, scope)  # noqa: E731
    return [{**m, "content": redact(m.get("content", ""))} for m in messages]


# ----------------------------------------------------------------------------- logging
class RedactingRecordFactory:
    """A ``logging`` record factory that redacts each record's message (and exception text)
    when it is created, so every handler, file or console, only ever sees masked text."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: object, **kwargs: object) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break logging
            message = str(record.msg)
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return record


def install_log_redaction() -> None:
    """Redact every log record of this process (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, RedactingRecordFactory):
        logging.setLogRecordFactory(RedactingRecordFactory(current))
