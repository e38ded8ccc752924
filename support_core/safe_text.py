"""Customer text shown to agents as text: no live links, no remote images, no markup.

Streamlit renders Markdown (links, images, colour and icon directives, LaTeX), so a customer
writing ``![x](https://tracker.example/pixel.png)`` or ``[click](https://evil.example)``
would load a remote image or show a clickable link in the agent's view. :func:`inert_markdown`
returns Markdown that displays the customer's characters literally: URLs become inline code
(never linked or fetched), every other Markdown special character is backslash-escaped, and
line breaks are kept. Knowledge-base text (the AI's replies, sources) is not passed through it,
so the KB's own formatting still renders.
"""

from __future__ import annotations

import re

_URL = re.compile(r"\b(?:https?|ftp|data|javascript|mailto|file):\S+|\bwww\.\S+", re.IGNORECASE)
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&=^\"'])")


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)


def _code(url: str) -> str:
    return "`" + url.replace("`", "'") + "`"


def inert_markdown(text: str) -> str:
    """Markdown that shows ``text`` exactly as typed, with nothing clickable or loadable."""
    lines = []
    for line in text.splitlines() or [""]:
        parts, last = [], 0
        for m in _URL.finditer(line):
            parts += [_escape(line[last:m.start()]), _code(m.group(0))]
            last = m.end()
        parts.append(_escape(line[last:]))
        lines.append("".join(parts))
    return "  \n".join(lines)
