"""A batch of uploads is ingested file by file on a real knowledge base: one bad file or a
crash in one never costs the others, and progress is reported before each file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support_core import kb_view
from support_core.kb.loaders import SUPPORTED_SUFFIXES
from support_core.models import IngestStatus
from support_core.wiring import build_service
from tests.conftest import make_settings
from tests.desk_helpers import PASSWORD


def test_upload_types_are_the_loaders_suffixes() -> None:
    assert {f".{t}" for t in kb_view.UPLOAD_TYPES} == SUPPORTED_SUFFIXES


def test_a_batch_keeps_going_past_a_bad_file_and_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = build_service(make_settings(tmp_path / "data", chunk_size=200))
    admin = svc.users.principal(svc.users.add("ada", "admin", PASSWORD).name)
    real = svc.kb.ingest_upload

    def crash_on_boom(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "boom.md":
            raise RuntimeError("disk on fire")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(svc.kb, "ingest_upload", crash_on_boom)
    seen: list[tuple[float, str]] = []
    files = [("refunds.md", b"# Refunds\n\nAsk for a refund within 30 days."),
             ("notes.exe", b"MZ"), ("boom.md", b"# Boom\n\ntext"),
             ("reset.md", b"# Password reset\n\nUse the reset link.")]
    results = kb_view.ingest_batch(svc.kb_admin, admin, files, "billing", None,
                                   progress=lambda share, text: seen.append((share, text)))
    assert [r.status for r in results] == [IngestStatus.ADDED, IngestStatus.FAILED,
                                           IngestStatus.FAILED, IngestStatus.ADDED]
    assert results[2].error == kb_view.UNEXPECTED and "exe" in (results[1].error or "")
    assert seen[0] == (0.0, "Ingesting refunds.md (1/4)") and seen[-1] == (1.0, "Done")
    assert [s for s, _ in seen] == [0.0, 0.25, 0.5, 0.75, 1.0]
    infos = svc.kb.list_articles()
    assert kb_view.kb_summary(infos, svc.kb.categories(), svc.kb.products()).startswith(
        "2 articles · ")


def test_a_batch_without_a_signed_in_admin_fails_each_file_with_a_reason(tmp_path: Path) -> None:
    svc = build_service(make_settings(tmp_path / "data"))
    results = kb_view.ingest_batch(svc.kb_admin, None, [("a.md", b"# A\n\ntext")], None, None)
    assert results[0].status is IngestStatus.FAILED and results[0].error
    assert svc.kb.list_articles() == []
