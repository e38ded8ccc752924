"""The only place that picks adapters. Settings in, a ready service out.

``build_service`` is what the CLI and the Streamlit app call; tests call the
narrower builders to get one part with real backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from support_core.adapters.redacting_store import RedactingMemory, RedactingTicketStore
from support_core.agent_desk import AgentDesk
from support_core.auth import UserStore
from support_core.calibrated_confidence import CalibratedScorer
from support_core.config import Settings
from support_core.csat import OutcomeStore
from support_core.desk_records import DeskRecords
from support_core.intake import LLMIntake, RuleIntake
from support_core.kb.knowledge_base import KnowledgeBase
from support_core.kb.query_rewrite import LLMQueryRewriter
from support_core.kb_admin import KnowledgeBaseAdmin
from support_core.learning.loop import LearningLoop
from support_core.output_guard import OutputGuard
from support_core.pipeline import Stages, SupportPipeline
from support_core.ports import Embedder, LLMClient, MemoryStore, TicketStore, VectorStore
from support_core.redaction import Redactor, install_log_redaction
from support_core.repair import RepairReport, sweep
from support_core.responder import GroundedComposer, LLMResponder
from support_core.sentiment import LLMSentimentAnalyzer, RuleSentimentAnalyzer
from support_core.sentiment_model import ModelSentimentAnalyzer
from support_core.staff_admin import StaffAdmin
from support_core.telemetry import setup_tracing, span_collector
from support_core.views import DeskViews

FRUSTRATION_EMBEDDING_MODEL = "all-MiniLM-L6-v2"  # what support_core/models_data was trained on


def build_embedder(settings: Settings, *, cached: bool = True) -> Embedder:
    """Local or OpenAI-compatible, behind the content-hash cache unless ``cached`` is False
    (a throwaway evaluation index: nothing worth keeping, and vectors exactly as computed)."""
    inner: Embedder
    if settings.embedding_backend == "openai":
        from support_core.adapters.embeddings_openai import OpenAIEmbedder

        inner = OpenAIEmbedder(settings)
    else:
        from support_core.adapters.embeddings_local import LocalEmbedder

        inner = LocalEmbedder(settings.embedding_model, settings.embedding_batch_size)
    if not cached:
        return inner
    from support_core.adapters.embedding_cache import CachedEmbedder

    return CachedEmbedder(inner, settings.embedding_cache_path)


def build_vector_store(settings: Settings) -> VectorStore:
    """Embedded Chroma in the data dir, or a Chroma server when ``SUPPORT_CHROMA_URL`` is set."""
    from support_core.adapters.chroma_store import ChromaStore

    return ChromaStore.from_settings(settings)


def build_knowledge_base(settings: Settings) -> KnowledgeBase:
    return KnowledgeBase(settings, build_embedder(settings), build_vector_store(settings))


def build_memory(settings: Settings) -> MemoryStore:
    """Redis when ``SUPPORT_REDIS_URL`` is set, else SQLite; either behind the masking
    decorator, so every stored message is masked whoever writes it."""
    return RedactingMemory(_memory_backend(settings), Redactor.from_settings(settings))


def _memory_backend(settings: Settings) -> MemoryStore:
    if settings.redis_url:
        from support_core.adapters.memory_redis import RedisMemory

        return RedisMemory(
            settings.redis_url,
            settings.session_ttl_seconds,
            settings.history_ttl_days,
            settings.history_max_messages,
        )
    from support_core.adapters.memory_sqlite import SQLiteMemory

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteMemory(
        settings.memory_sqlite_path,
        settings.session_ttl_seconds,
        settings.history_ttl_days,
        settings.history_max_messages,
    )


def build_llm(settings: Settings, *, timeout: float | None = None,
              max_retries: int | None = None) -> LLMClient | None:
    if not settings.llm_enabled:
        return None
    from support_core.adapters.openai_llm import OpenAIChat

    assert settings.llm_model is not None
    return OpenAIChat(
        settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        timeout=settings.llm_timeout_seconds if timeout is None else timeout,
        max_retries=settings.llm_max_retries if max_retries is None else max_retries,
    )


def build_rewriter(settings: Settings) -> LLMQueryRewriter | None:
    """The follow-up rewriter when an LLM is set and rewriting is on (the pipeline and
    ``deskpilot eval-retrieval`` use the same one). Its own client: a short timeout and no
    retries, because the offline plan is a good answer too and the customer is waiting."""
    if not settings.llm_rewrite_queries:
        return None
    llm = build_llm(settings, timeout=settings.llm_rewrite_timeout_seconds, max_retries=0)
    return LLMQueryRewriter(llm) if llm is not None else None


def build_sentiment(
    settings: Settings, embedder: Embedder | None = None
) -> RuleSentimentAnalyzer | LLMSentimentAnalyzer | ModelSentimentAnalyzer:
    """LLM when configured (rules as its safety net); else the learned model over the KB's
    embedder (its cached query vectors); ``rules`` keeps the lexicon analyser for comparison."""
    rules = RuleSentimentAnalyzer()
    llm = build_llm(settings) if settings.use_llm_for(settings.sentiment_backend) else None
    if llm is not None:
        return LLMSentimentAnalyzer(llm, rules)
    if settings.sentiment_backend == "rules":
        return rules
    # The model was trained on all-MiniLM-L6-v2 vectors: reuse the KB's embedder (and its cached
    # query vector) only when it is that model; with remote embeddings, embed locally.
    same_model = settings.embedding_backend == "local" and settings.embedding_model.endswith(
        FRUSTRATION_EMBEDDING_MODEL)
    if embedder is None or not same_model:
        embedder = build_embedder(settings.model_copy(update={
            "embedding_backend": "local", "embedding_model": FRUSTRATION_EMBEDDING_MODEL}))
    return ModelSentimentAnalyzer(embedder.embed_query, rules=rules)


def build_store(settings: Settings) -> TicketStore:
    """PostgreSQL when ``SUPPORT_DATABASE_URL`` is set (a team sharing one desk), else the
    SQLite file in the data dir; either behind the masking decorator (masking at rest: every
    free-text field of every write, whoever calls)."""
    return RedactingTicketStore(_store_backend(settings), Redactor.from_settings(settings))


def _store_backend(settings: Settings) -> TicketStore:
    if settings.database_url:
        from support_core.adapters.ticket_store_postgres import PostgresTicketStore

        return PostgresTicketStore(settings.database_url, settings.database_timeout_seconds)
    from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteTicketStore(settings.sqlite_path, settings.database_timeout_seconds)


def build_users(settings: Settings, store: TicketStore | None = None) -> UserStore:
    """Staff users on the ticket store's database (so every process of a team shares them);
    an older ``desk.db`` in the data dir is imported once, audit log and macros included."""
    from support_core.desk_import import import_desk_db

    store = store if store is not None else build_store(settings)
    users = UserStore(
        store,
        idle_minutes=settings.auth_idle_minutes,
        max_failures=settings.auth_max_failures,
        backoff_seconds=settings.auth_backoff_seconds,
    )
    records = DeskRecords(users.db)  # its tables must exist before the import
    import_desk_db(settings.desk_sqlite_path, records.db)
    return users


@dataclass
class Service:
    """Everything the app and the CLI use, built once per process."""

    settings: Settings
    _intake_cache: tuple[tuple[tuple[str, ...], tuple[str, ...]], RuleIntake | LLMIntake] | None = (
        field(default=None, init=False, repr=False)
    )

    @cached_property
    def kb(self) -> KnowledgeBase:
        return build_knowledge_base(self.settings)

    @cached_property
    def memory(self) -> MemoryStore:
        return build_memory(self.settings)

    @cached_property
    def store(self) -> TicketStore:
        return build_store(self.settings)

    @cached_property
    def outcomes(self) -> OutcomeStore:
        return OutcomeStore(self.store)

    @cached_property
    def learning(self) -> LearningLoop:
        return LearningLoop(self.settings, self.store, self.kb)

    @cached_property
    def llm(self) -> LLMClient | None:
        return build_llm(self.settings)

    @cached_property
    def pipeline(self) -> SupportPipeline:
        settings, llm = self.settings, self.llm
        setup_tracing(settings)
        units = getattr(self.kb, "unit_vectors", None)
        scorer = None
        if settings.confidence_model == "calibrated":
            scorer = CalibratedScorer(self.kb.embedder, units, getattr(self.kb, "term_idf", None))
        composer = GroundedComposer(settings.confidence_floor, embedder=self.kb.embedder,
                                    units=units, following=getattr(self.kb, "next_chunk", None),
                                    scorer=scorer)
        guard = OutputGuard(self.kb.embedder)  # checks what the model wrote before it is sent
        responder = LLMResponder(llm, composer, guard=guard) if llm is not None else composer
        stages = Stages(
            kb=self.learning.searcher(),  # the KB plus human-verified retrieval feedback
            memory=self.memory,
            intake=self._intake,
            sentiment=build_sentiment(settings, self.kb.embedder),
            responder=responder,
            store=self.store,
            spans=span_collector(),
            rewrite=build_rewriter(settings),
        )
        return SupportPipeline(settings, stages)

    @cached_property
    def users(self) -> UserStore:
        return build_users(self.settings, self.store)

    @cached_property
    def staff_admin(self) -> StaffAdmin:
        return StaffAdmin(self.users)

    @cached_property
    def records(self) -> DeskRecords:
        self.users  # noqa: B018 - built first: an old desk.db is imported before we read
        return DeskRecords(self.store)  # the masking store: notes and macros are masked

    @cached_property
    def desk(self) -> AgentDesk:
        desk = AgentDesk(
            self.settings, self.store, self.memory, self.outcomes, self.users, self.records
        )
        desk.on_resolve.append(self.learning.recorder)
        return desk

    @cached_property
    def kb_admin(self) -> KnowledgeBaseAdmin:
        return KnowledgeBaseAdmin(self.kb, self.users)

    @cached_property
    def views(self) -> DeskViews:
        return DeskViews(self)

    def repair(self, stuck_seconds: int | None = None) -> RepairReport:
        """Escalate tickets a crash left unfinished (app start and ``deskpilot repair``)."""
        return sweep(self.store, stuck_seconds or self.settings.stuck_ticket_seconds,
                     frustration_threshold=self.settings.frustration_threshold)

    def _intake(self) -> RuleIntake | LLMIntake:
        """The intake for the KB's current categories and products; rebuilt (its keyword
        patterns recompiled) only when an upload or deletion changes them."""
        key = (tuple(self.kb.categories()), tuple(self.kb.products()))
        if self._intake_cache is not None and self._intake_cache[0] == key:
            return self._intake_cache[1]
        rules = RuleIntake(list(key[0]), list(key[1]))
        use_llm = self.settings.use_llm_for(self.settings.intake_backend)
        intake = LLMIntake(self.llm, rules) if use_llm and self.llm is not None else rules
        self._intake_cache = (key, intake)
        return intake


def build_service(settings: Settings | None = None) -> Service:
    install_log_redaction()  # no log line of this process carries a card, secret or contact
    return Service(settings or Settings())
