"""How a knowledge gap reads on the Knowledge base page."""

from __future__ import annotations

from support_core.learning import gap_view
from support_core.learning.records import Gap, GapStatus


def gap(status: GapStatus = GapStatus.OPEN, answers: tuple[str, ...] = ("old", "newest"),
        article_id: str | None = None) -> Gap:
    return Gap(gap_id=f"g-{status.value}", questions=["How do I export?", "Export to CSV?"],
               count=2, agent_answers=list(answers), suggested_title="Exporting data",
               status=status, article_id=article_id)  # fmt: skip


def test_closed_gaps_are_listed_only_when_asked() -> None:
    gaps = [gap(), gap(GapStatus.PUBLISHED, article_id="kb-9"), gap(GapStatus.DISMISSED)]
    assert gap_view.visible(gaps, show_closed=False) == [gaps[0]]
    assert gap_view.visible(gaps, show_closed=True) == gaps


def test_a_gap_card_reads_naturally() -> None:
    g = gap()
    assert gap_view.label(g) == "Exporting data · 2 ticket(s) · open"
    assert gap_view.questions_markdown(g) == (
        "**Customers asked**\n\n- How do I export?\n- Export to CSV?")
    assert gap_view.draft_body(g) == "newest" and gap_view.draft_body(gap(answers=())) == ""
    published = gap(GapStatus.PUBLISHED, article_id="kb-9")
    assert gap_view.closed_caption(published) == "published as article `kb-9`"
    assert gap_view.closed_caption(gap(GapStatus.DISMISSED)) == "dismissed"


def test_the_preview_is_the_article_without_its_front_matter() -> None:
    shown = gap_view.preview(gap(), "Export your data", "Open Settings, then Export.")
    assert "Open Settings, then Export." in shown and "---" not in shown
