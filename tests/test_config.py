"""Settings: environment, .env, and the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from support_core.config import Settings
from tests.conftest import ROOT


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"SUPPORT_{n.upper()}"
        for n in Settings.model_fields
        if f"`SUPPORT_{n.upper()}`" not in readme
    ]
    assert not missing


def test_environment_and_dotenv_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SUPPORT_CONFIDENCE_FLOOR=0.3\nSUPPORT_LLM_MODEL=llama3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORT_REDIS_URL", "redis://example:6379/0")
    s = Settings()
    assert s.confidence_floor == 0.3 and s.llm_enabled and s.redis_url == "redis://example:6379/0"
    assert s.use_llm_for("auto") and not s.use_llm_for("rules")


def test_defaults_need_no_key_and_no_server() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert not s.llm_enabled and s.redis_url is None and s.chroma_url is None
    assert s.embedding_backend == "local"


@pytest.mark.parametrize(
    "field, value", [("confidence_floor", 1.5), ("chunk_size", 10), ("repeat_contact_threshold", 1)]
)
def test_out_of_range_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]
