"""Citation markers and the sources they number: renumbering, and what an agent's reply cites."""

from __future__ import annotations

from collections.abc import Sequence

from support_core.agent_desk import reply_sources
from support_core.citations import renumber
from support_core.models import (
    CustomerSummary,
    Draft,
    HandoffPackage,
    Priority,
    Queue,
    SearchHit,
    Source,
)

A, B, C = (Source(article_id=x, title=x.title()) for x in ("alpha", "beta", "gamma"))


def package(sources: list[Source], retrieved: Sequence[SearchHit] = ()) -> HandoffPackage:
    draft = Draft(text="draft", confidence=0.9, answered=True, sources=sources)
    return HandoffPackage(ticket_id="t", customer_id="c", session_id="s", queue=Queue.TIER1,
                          priority=Priority.MEDIUM, reason="r", rule="r", suggested_action="",
                          customer=CustomerSummary(customer_id="c"), conversation=[],
                          sentiment_trail=[], draft=draft, retrieved=list(retrieved))


def test_renumber_numbers_sources_by_first_citation_and_drops_invented_markers() -> None:
    text, sources = renumber("First [3]. Then [1, 3]. Made up [9].", [A, B, C])
    assert (text, sources) == ("First [1]. Then [2, 1]. Made up .", [C, A])


def test_renumber_can_leave_unknown_markers_as_written() -> None:
    text, sources = renumber("See [2] and [7].", [A, B], keep_unknown=True)
    assert (text, sources) == ("See [1] and [7].", [B])


def test_agent_reply_keeping_the_draft_markers_cites_those_sources_unchanged() -> None:
    text, sources = reply_sources("Do this [1], then that [2].", package([A, B]), [])
    assert (text, sources) == ("Do this [1], then that [2].", [A, B])


def test_agent_reply_keeping_only_the_second_marker_cites_it_as_the_first() -> None:
    text, sources = reply_sources("Only that [2].", package([A, B]), [])
    assert (text, sources) == ("Only that [1].", [B])


def test_articles_picked_as_cited_are_added_when_the_handoff_knows_them() -> None:
    hit = SearchHit(chunk_id="g:0", article_id="gamma", title="Gamma", text="...",
                    source_url="https://help.example/g")
    text, sources = reply_sources("My own words.", package([A, B], [hit]),
                                  ["beta", "gamma", "unknown"])
    assert text == "My own words."
    assert [s.article_id for s in sources] == ["beta", "gamma"]
    assert sources[1].url == "https://help.example/g"


def test_a_reply_without_a_draft_cites_nothing() -> None:
    pkg = package([]).model_copy(update={"draft": None})
    assert reply_sources("Hello [1].", pkg, []) == ("Hello [1].", [])
