"""Input checks shared by the CLI, the pipeline and the pages."""

from __future__ import annotations

import re
import unicodedata

from support_core.errors import InputError

_SURROGATE = re.compile("[\ud800-\udfff]")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
_NAME = re.compile(r"^[^\W_][\w .@+'-]{0,63}$")


def normalize_text(text: str) -> str:
    """Text that can always be stored: lone surrogates (undecodable bytes from a terminal,
    e.g. ``\udcff``) become U+FFFD and NUL characters are removed. Nothing else changes."""
    return _SURROGATE.sub("\ufffd", text).replace("\x00", "")


def clean_message(text: object, max_chars: int) -> str:
    """Return the message normalized and stripped, or raise InputError saying what is wrong."""
    if not isinstance(text, str):
        raise InputError(f"A message must be text, not {type(text).__name__}.")
    if text.count("\x00") > len(text) * 0.1:
        raise InputError("This message looks like binary data, not text. Please send it as text.")
    text = normalize_text(text)
    if _control_share(text) > 0.1:
        raise InputError("This message looks like binary data, not text. Please send it as text.")
    cleaned = text.strip()
    if not cleaned:
        raise InputError("The message is empty. Please type your question.")
    if len(cleaned) > max_chars:
        raise InputError(
            f"The message is {len(cleaned):,} characters long; the limit is {max_chars:,}. "
            "Please shorten it or send the details in several messages."
        )
    return cleaned


def clean_id(value: object, what: str) -> str:
    """Customer and session ids: short, printable, no spaces."""
    if not isinstance(value, str) or not _ID.match(value.strip()):
        raise InputError(f"The {what} must be 1-128 letters, digits or . _ @ + - (got {value!r}).")
    return value.strip()


def clean_agent_name(value: object) -> str:
    """An agent's display name: people's names have spaces and accents; markup does not."""
    name = " ".join(value.split()) if isinstance(value, str) else ""
    if not _NAME.match(name):
        raise InputError(
            "The agent name must be 1-64 letters, digits, spaces or . _ @ + ' - "
            f"(got {value!r})."
        )
    return name


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t")
    return bad / len(text)
