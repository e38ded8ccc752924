"""Citation markers in a reply body (``[1]``, ``[1, 2]``) and the sources they number.

A reply's body carries compact markers; its sources travel beside it (``Draft.sources``,
``MessageMetadata.sources``), the n-th source being what ``[n]`` points to. Plain text
with a source list is assembled only where it is printed (:func:`models.with_sources`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from support_core.models import Source

CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def source_number(sources: list[Source], source: Source) -> int:
    """1-based number of the source's article in ``sources``, appending it when first cited."""
    for i, existing in enumerate(sources, start=1):
        if existing.article_id == source.article_id:
            return i
    sources.append(source)
    return len(sources)


def renumber(
    text: str, numbered: Sequence[Source], *, keep_unknown: bool = False
) -> tuple[str, list[Source]]:
    """Markers that number ``numbered`` (1-based) rewritten to number the sources the text
    really cites, in order of first citation (one per article), and those sources.

    A marker naming no entry of ``numbered`` is dropped (a model's invented ``[7]``) or,
    with ``keep_unknown``, left as written and cites nothing (a person's own brackets)."""
    sources: list[Source] = []

    def rewrite(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= len(numbered)]
        if keep_unknown and len(valid) < len(numbers):
            return match.group(0)
        mapped = dict.fromkeys(source_number(sources, numbered[n - 1]) for n in valid)
        return f"[{', '.join(str(m) for m in mapped)}]" if mapped else ""

    return CITATION.sub(rewrite, text), sources
