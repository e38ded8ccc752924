"""One object for the learning loop, built by ``wiring.Service.learning``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from support_core.auth import sql_store
from support_core.config import Settings
from support_core.errors import InputError
from support_core.learning import gaps as gap_ops
from support_core.learning.feedback import FeedbackSearcher, RetrievalFeedback
from support_core.learning.metrics import Ratings, learning_metrics
from support_core.learning.records import Gap
from support_core.learning.regression import DryRunner, RegressionReport, run_regression
from support_core.learning.replay import ReplayReport, replay
from support_core.learning.resolutions import ResolutionRecorder
from support_core.learning.store import LearningStore
from support_core.ports import TicketStore
from support_core.router import RouterThresholds


class LearningLoop:
    def __init__(self, settings: Settings, tickets: TicketStore, kb: Any) -> None:
        self.settings = settings
        self.tickets = tickets
        self.kb = kb
        self.store = LearningStore(sql_store(tickets))  # looks through the masking decorator
        self.feedback = RetrievalFeedback(self.store, kb.embedder)
        self.recorder = ResolutionRecorder(self.store, self.feedback, kb)

    def searcher(self) -> FeedbackSearcher:
        """The knowledge base with verified feedback applied (the pipeline's search)."""
        return FeedbackSearcher(self.kb, self.feedback)

    def check_citations(self, article_ids: Sequence[str]) -> list[str]:
        """Known article ids, in order, deduplicated; an unknown id is a one-line error."""
        known = {a.article_id for a in self.kb.list_articles()}
        wanted = list(dict.fromkeys(a.strip() for a in article_ids if a.strip()))
        unknown = [a for a in wanted if a not in known]
        if unknown:
            raise InputError(f"No knowledge-base article with id {', '.join(unknown)} "
                             "(list them on the Knowledge base page or with deskpilot search).")
        return wanted

    def gaps(self) -> list[Gap]:
        return gap_ops.find_gaps(self.store, self.kb.embedder)

    def publish(self, gap_id: str, title: str | None = None, body: str | None = None,
                actor: str = "manager") -> tuple[Gap, str]:
        return gap_ops.publish_gap(self.store, self.kb, self.feedback, gap_id,
                                   data_dir=self.settings.data_dir, title=title, body=body,
                                   actor=actor)

    def dismiss(self, gap_id: str, actor: str = "manager") -> Gap:
        return gap_ops.dismiss_gap(self.store, self.kb.embedder, gap_id, actor)

    def regression(self, pipeline: DryRunner) -> RegressionReport:
        return run_regression(self.store, pipeline, self.kb.embedder)

    def replay(self, changes: Mapping[str, float], days: float | None = 30) -> ReplayReport:
        return replay(self.tickets, RouterThresholds.from_settings(self.settings), changes,
                      days=days)

    def metrics(self, ratings: Ratings, since: datetime | None = None,
                until: datetime | None = None) -> dict[str, Any]:
        return learning_metrics(self.tickets, self.store, ratings, since, until)
