"""How a knowledge gap reads on the Knowledge base page: which gaps are listed, each card's
label and text, the answer the publish form starts from, and the article's preview."""

from __future__ import annotations

from support_core.learning.gaps import article_markdown
from support_core.learning.records import Gap, GapStatus


def visible(gaps: list[Gap], show_closed: bool) -> list[Gap]:
    """Open gaps; published and dismissed ones too when asked."""
    return [g for g in gaps if g.status is GapStatus.OPEN or show_closed]


def label(gap: Gap) -> str:
    return f"{gap.suggested_title} · {gap.count} ticket(s) · {gap.status.value}"


def questions_markdown(gap: Gap) -> str:
    return "**Customers asked**\n\n" + "\n".join(f"- {q}" for q in gap.questions)


def closed_caption(gap: Gap) -> str:
    return gap.status.value + (f" as article `{gap.article_id}`" if gap.article_id else "")


def draft_body(gap: Gap) -> str:
    """The publish form starts from the latest agent answer."""
    return gap.agent_answers[-1] if gap.agent_answers else ""


def preview(gap: Gap, title: str, body: str) -> str:
    """The article as it would be published, without its front matter."""
    return article_markdown(gap, title, body).split("---", 2)[-1]
