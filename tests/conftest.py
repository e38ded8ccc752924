"""Shared fixtures: real backends in temporary directories.

The sample knowledge base is embedded once per test session (it is the slow
part) and shared read-only; every test gets its own ticket store and memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from support_core.config import Settings  # noqa: E402
from tests.store_backends import open_store  # noqa: E402, F401 (SQLite and PostgreSQL stores)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_KB = ROOT / "data" / "kb"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer's SUPPORT_* variables or .env leak into a test."""
    for key in list(os.environ):
        if key.startswith("SUPPORT_") and key != "SUPPORT_TEST_REDIS_URL":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def local_embedder():  # type: ignore[no-untyped-def]
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    from support_core.adapters.embeddings_local import LocalEmbedder

    return LocalEmbedder("all-MiniLM-L6-v2")


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, kb_dir=SAMPLE_KB, **overrides)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def sample_kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose Chroma index holds the sample KB (built once per session)."""
    from support_core.wiring import build_knowledge_base

    data_dir = tmp_path_factory.mktemp("sample-kb")
    kb = build_knowledge_base(make_settings(data_dir))
    results = kb.ingest_paths([SAMPLE_KB])
    failed = [r for r in results if r.status.value == "failed"]
    assert not failed, failed
    return data_dir


@pytest.fixture(scope="session")
def sample_kb(sample_kb_dir: Path):  # type: ignore[no-untyped-def]
    from support_core.wiring import build_knowledge_base

    return build_knowledge_base(make_settings(sample_kb_dir))


@pytest.fixture
def service_factory(tmp_path: Path, sample_kb) -> Iterator:  # type: ignore[no-untyped-def]
    """Build a Service on a fresh data dir that reuses the session's sample KB."""
    from support_core.wiring import build_service

    made = []

    def make(**overrides: object):  # type: ignore[no-untyped-def]
        svc = build_service(make_settings(tmp_path / f"svc{len(made)}", **overrides))
        svc.__dict__["kb"] = sample_kb  # cached_property slot: share the embedded KB
        made.append(svc)
        return svc

    yield make


@pytest.fixture
def service(service_factory):  # type: ignore[no-untyped-def]
    return service_factory()
