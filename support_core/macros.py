"""Reply templates ("macros") and their placeholders.

A macro is checked when it is saved, not when it is used: an unknown or malformed
placeholder is refused then with one line naming it, so an agent never sends ``{custmer}``.
Placeholders are Python ``str.format`` fields without conversions or format specs.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from support_core.errors import InputError

PLACEHOLDERS = ("customer_name", "ticket_id", "agent_name", "article_link")
_MACRO_NAME = re.compile(r"^[\w][\w .-]{0,63}$")
MAX_MACRO_CHARS = 4000


def clean_macro_name(name: object) -> str:
    text = " ".join(name.split()) if isinstance(name, str) else ""
    if not _MACRO_NAME.match(text):
        raise InputError(
            f"A macro name must be 1-64 letters, digits, spaces, . _ - (got {name!r})."
        )
    return text


def check_template(text: object) -> str:
    """Return the template stripped, or raise InputError naming what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("A macro needs some text.")
    text = text.strip()
    if len(text) > MAX_MACRO_CHARS:
        raise InputError(f"A macro may have at most {MAX_MACRO_CHARS} characters.")
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InputError(
            f"The macro has an unbalanced brace ({exc}); write {{{{ or }}}} for a literal one."
        ) from None
    for _, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise InputError(f"Unknown placeholder {{{field}}} in the macro; allowed: {allowed}.")
    return text


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill the placeholders; a value that is missing becomes an empty string."""
    return check_template(template).format(**{p: values.get(p, "") for p in PLACEHOLDERS})
