"""One typed settings object for all of Deskpilot.

Every field is read from the environment with the ``SUPPORT_`` prefix (or from a
``.env`` file in the working directory). ``SUPPORT_DATA_DIR=/tmp/x`` sets
``data_dir``. The README's configuration table is checked against this class by
``tests/test_config.py``, so a new setting must be documented there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SUPPORT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(Path("./data/runtime"), description="Where every embedded store lives.")
    kb_dir: Path = Field(Path("./data/kb"), description="The sample knowledge base (demo mode).")
    chroma_url: str | None = Field(None, description="Chroma server URL; unset = embedded.")
    chroma_collection: str = Field("support_kb", description="Chroma collection name.")
    redis_url: str | None = Field(None, description="Redis URL for memory; unset = SQLite.")
    database_url: str | None = Field(
        None,
        description="postgresql://... for tickets shared by a team; unset = SQLite file.",
        repr=False,  # it may hold a password
    )
    database_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Wait this long for a locked database, then fail."
    )
    stuck_ticket_seconds: int = Field(
        300, ge=10, description="Tickets left created/processing longer are escalated."
    )

    # --- embeddings ----------------------------------------------------------------------
    embedding_backend: Literal["local", "openai"] = Field("local", description="local or openai")
    embedding_model: str = Field(
        "all-MiniLM-L6-v2", description="Local model name, or the remote embedding model."
    )
    embedding_api_key: str | None = Field(None, description="Key for remote embeddings.")
    embedding_base_url: str | None = Field(None, description="OpenAI-compatible embeddings URL.")
    embedding_batch_size: int = Field(32, ge=1, le=1024, description="Texts per embed call.")

    # --- chunking and retrieval ------------------------------------------------------------
    chunk_size: int = Field(900, ge=100, le=8000, description="Max characters per chunk.")
    chunk_overlap: int = Field(120, ge=0, le=2000, description="Overlap when a section splits.")
    retrieval_k: int = Field(5, ge=1, le=50, description="Chunks handed to the responder.")
    retrieval_candidates: int = Field(50, ge=5, le=500, description="Candidates per retriever.")
    fusion: Literal["score", "rrf"] = Field(
        "score", description="Article fusion: normalised scores or reciprocal rank."
    )
    rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal-rank-fusion constant.")
    conversation_search: Literal["plan", "last", "joined"] = Field(
        "plan", description="Follow-ups: plan from the conversation, last message, or all joined."
    )
    clarify_enabled: bool = Field(
        True, description="Ask one clarifying question when a vague message fits several topics."
    )
    clarify_max_terms: int = Field(
        3, ge=0, le=20, description="Content words at or below which a message is vague."
    )
    clarify_margin: float = Field(
        0.1, ge=0, le=1, description="Relative score gap under which two topics are too close."
    )
    clarify_max_options: int = Field(3, ge=2, le=5, description="Topics named in the question.")
    clarify_min_similarity: float = Field(
        0.25, ge=0, le=1, description="A candidate topic needs at least this cosine to the query."
    )
    dense_weight: float = Field(1.0, ge=0.0, le=10.0, description="Fusion weight of dense.")
    bm25_weight: float = Field(1.0, ge=0.0, le=10.0, description="Fusion weight of BM25.")

    # --- LLM (optional) ------------------------------------------------------------------
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL.")
    llm_api_key: str | None = Field(None, description="API key (any string for Ollama/vLLM).")
    llm_model: str | None = Field(None, description="Model name; set it to switch the LLM on.")
    llm_timeout_seconds: float = Field(20.0, gt=0, description="Per-request LLM timeout.")
    llm_max_retries: int = Field(2, ge=0, le=10, description="LLM retries before fallback.")
    llm_rewrite_queries: bool = Field(
        True, description="With an LLM: a follow-up is searched as the model's standalone query."
    )
    llm_rewrite_timeout_seconds: float = Field(
        5.0, gt=0, description="Timeout of that rewrite (no retries); then the offline plan."
    )
    sentiment_backend: Literal["auto", "rules", "model", "llm"] = Field(
        "auto", description="auto = llm when an LLM is configured, else model; rules = lexicon."
    )
    intake_backend: Literal["auto", "rules", "llm"] = Field(
        "auto", description="auto = llm when an LLM is configured, else rules."
    )

    # --- memory ----------------------------------------------------------------------------
    session_ttl_seconds: int = Field(7200, ge=60, description="Session expiry after last msg.")
    history_ttl_days: int = Field(90, ge=1, description="How long customer history is kept.")
    history_max_messages: int = Field(500, ge=10, description="History cap per customer.")

    # --- escalation rules ----------------------------------------------------------------
    confidence_floor: float = Field(
        0.5, ge=0, le=1, description="Below: no answer, escalate to tier1."
    )
    confidence_model: Literal["formula", "calibrated"] = Field(
        "formula", description="formula = hand-weighted evidence; calibrated = fitted model "
        "with answer-passage features (models_data/abstention.json)."
    )
    confidence_threshold: float = Field(
        0.75, ge=0, le=1, description="Below, with high frustration: escalate."
    )
    frustration_threshold: float = Field(0.7, ge=0, le=1, description="High frustration.")
    repeat_contact_threshold: int = Field(3, ge=2, description="Contacts on one issue -> tier2.")

    # --- lifecycle and input limits ----------------------------------------------------------
    reopen_window_hours: float = Field(72.0, ge=0, description="Return within it reopens.")
    max_message_chars: int = Field(4000, ge=100, description="Longer messages are refused.")
    max_upload_mb: int = Field(25, ge=1, description="Largest accepted KB upload.")

    # --- staff sign-in, SLA and the desk ------------------------------------------------------
    auth_provider: Literal["password", "oidc"] = Field(
        "password", description="password (built-in users) or oidc (Streamlit st.login)."
    )
    auth_idle_minutes: float = Field(30.0, gt=0, description="Staff session idle expiry.")
    auth_max_failures: int = Field(5, ge=1, description="Failed sign-ins before backoff.")
    auth_backoff_seconds: float = Field(
        30.0, ge=0, description="First wait after too many failures; doubles each time."
    )
    sla_first_response_minutes: dict[str, float] = Field(
        default_factory=lambda: {"critical": 15.0, "high": 60.0, "medium": 240.0, "low": 1440.0},
        description="First-response target per priority (JSON).",
    )
    sla_resolution_minutes: dict[str, float] = Field(
        default_factory=lambda: {"critical": 240.0, "high": 480.0, "medium": 1440.0, "low": 4320.0},
        description="Resolution target per priority (JSON).",
    )
    sla_warning_share: float = Field(
        0.25, gt=0, lt=1, description="At risk when less than this share of a target is left."
    )
    sample_kb_autoload: bool = Field(
        True, description="Load the sample KB on first start when the KB is empty."
    )
    live_refresh_seconds: float = Field(
        3.0, ge=1, le=60, description="How often the chat and inbox check for news."
    )
    # --- privacy and safety ------------------------------------------------------------
    show_contact_details_to_agents: bool = Field(
        False, description="Agents see customers' emails and phones (the LLM never does)."
    )
    redaction_key: SecretStr | None = Field(
        None, description="HMAC key for consistent placeholders; unset = key file in data dir."
    )

    # --- observability ---------------------------------------------------------------------
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint.")

    @field_validator("sla_first_response_minutes", "sla_resolution_minutes")
    @classmethod
    def _every_priority(cls, value: dict[str, float]) -> dict[str, float]:
        wanted = {"critical", "high", "medium", "low"}
        if set(value) != wanted or any(v <= 0 for v in value.values()):
            raise ValueError("give a positive number of minutes for critical, high, medium, low")
        return value

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_model)

    def use_llm_for(self, backend: Literal["auto", "rules", "model", "llm"]) -> bool:
        return backend == "llm" or (backend == "auto" and self.llm_enabled)

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "deskpilot.db"

    @property
    def memory_sqlite_path(self) -> Path:
        return self.data_dir / "memory.db"

    @property
    def desk_sqlite_path(self) -> Path:
        """Where staff users, sessions, audit events and macros lived before they moved onto the
        ticket store's database; an existing file is imported once (``desk_import``)."""
        return self.data_dir / "desk.db"

    @property
    def embedding_cache_path(self) -> Path:
        return self.data_dir / "embedding_cache.db"
