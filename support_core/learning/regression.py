"""The regression set: would the AI now answer what people had to answer before?

For every human-resolved ticket, its first customer question goes through
:meth:`SupportPipeline.dry_run` (no ticket, memory, metric or span is written). A case
counts as *now answered* when the router would auto-reply, and as *citing the agent's
article* when the draft cites an article the agent cited or one published from the gap
the ticket belongs to.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from support_core.learning.gaps import find_gaps
from support_core.learning.records import GapStatus
from support_core.learning.store import LearningStore
from support_core.models import Ticket
from support_core.ports import Embedder


class DryRunner(Protocol):
    def dry_run(self, text: object, *, category: str | None = None) -> Ticket: ...


class RegressionCase(BaseModel):
    ticket_id: str
    question: str
    was_escalated_for: str | None
    now_answered: bool
    now_rule: str
    now_confidence: float
    cited_now: list[str]
    agent_articles: list[str]
    cites_agent_article: bool


class RegressionReport(BaseModel):
    cases: int
    now_answered: int
    cites_agent_article: int
    results: list[RegressionCase]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def run_regression(
    store: LearningStore, pipeline: DryRunner, embedder: Embedder, include_demo: bool = True
) -> RegressionReport:
    published: dict[str, str] = {}
    for gap in find_gaps(store, embedder):
        if gap.status is GapStatus.PUBLISHED and gap.article_id:
            published.update({t: gap.article_id for t in gap.ticket_ids})
    cases = []
    for res in store.resolutions():
        if not res.first_question or (res.is_demo and not include_demo):
            continue
        ticket = pipeline.dry_run(res.first_question)
        decision, draft = ticket.escalation, ticket.draft
        answered = bool(decision and not decision.should_escalate)
        cited = [s.article_id for s in draft.sources] if draft else []
        agent_articles = [*res.cited_articles]
        if res.ticket_id in published:
            agent_articles.append(published[res.ticket_id])
        cases.append(RegressionCase(
            ticket_id=res.ticket_id, question=res.first_question,
            was_escalated_for=res.escalation_rule, now_answered=answered,
            now_rule=decision.rule if decision else "none",
            now_confidence=draft.confidence if draft else 0.0,
            cited_now=cited, agent_articles=agent_articles,
            cites_agent_article=bool(set(cited) & set(agent_articles)),
        ))
    return RegressionReport(
        cases=len(cases), now_answered=sum(c.now_answered for c in cases),
        cites_agent_article=sum(c.cites_agent_article for c in cases), results=cases,
    )
