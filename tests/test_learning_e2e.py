"""The issue's "done when" script, through the command line, from a fresh data dir:
ingest the sample KB; a question the KB does not cover is escalated; an agent claims,
replies and resolves; ``gaps --json`` lists it; ``gaps publish``; a new customer's same
question is auto-answered citing the new article; ``regression --json`` counts it;
``replay --set frustration_threshold=0.3 --json`` shows more escalations. Run with memory
in SQLite and in a real Redis server."""

from __future__ import annotations

import io
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from support_core.cli import main
from tests.conftest import SAMPLE_KB

pytestmark = pytest.mark.slow

QUESTION = "Can I pay my Orbitly invoice with cryptocurrency like bitcoin?"
ANSWER = ("We do not accept cryptocurrency. Orbitly invoices can be paid by credit card, debit "
          "card or bank transfer (SEPA or ACH); bitcoin and other crypto are not supported.")
MILD = "Ugh, still confused and a bit annoyed: how do I get a refund?"


def cli(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> Any:
    code = main(["--data-dir", str(data), *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out) if "--json" in argv else out


@pytest.mark.parametrize("memory", ["sqlite", "redis"])
def test_done_when_script(memory: str, tmp_path: Path, sample_kb_dir: Path,
                          monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    if memory == "redis":
        monkeypatch.setenv("SUPPORT_REDIS_URL",
                           os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    data = tmp_path / "data"
    data.mkdir()
    # a warm embedding cache only saves time: every chunk is still chunked and indexed anew
    shutil.copy(sample_kb_dir / "embedding_cache.db", data / "embedding_cache.db")
    run = uuid.uuid4().hex[:6]

    ingested = cli(capsys, data, "ingest", str(SAMPLE_KB), "--json")
    assert ingested and all(r["status"] == "added" for r in ingested)

    asked = cli(capsys, data, "ask", "--customer", f"first-{run}", QUESTION, "--json")
    assert asked["action"] == "escalated"
    cli(capsys, data, "ask", "--customer", f"mild-{run}", MILD, "--json")
    handoff = cli(capsys, data, "handoffs", "--json")[0]["handoff_id"]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["--data-dir", str(data), "users", "add", "ana", "--role", "agent",
                 "--password-stdin"]) == 0
    capsys.readouterr()
    cli(capsys, data, "claim", handoff, "--agent", "ana")
    cli(capsys, data, "reply", handoff, "--agent", "ana", ANSWER)
    cli(capsys, data, "resolve", handoff, "--agent", "ana")

    gaps = cli(capsys, data, "gaps", "--json")
    assert len(gaps) == 1 and gaps[0]["status"] == "open" and gaps[0]["count"] == 1
    assert gaps[0]["questions"] == [QUESTION] and gaps[0]["agent_answers"] == [ANSWER]

    published = cli(capsys, data, "gaps", "publish", gaps[0]["gap_id"], "--json")
    article_id = published["article_id"]
    assert cli(capsys, data, "gaps", "--json")[0]["status"] == "published"

    again = cli(capsys, data, "ask", "--customer", f"second-{run}", QUESTION, "--json")
    assert again["action"] == "auto_reply"
    assert article_id in [s["article_id"] for s in again["sources"]]

    report = cli(capsys, data, "regression", "--json")
    assert (report["cases"], report["now_answered"], report["cites_agent_article"]) == (1, 1, 1)

    replayed = cli(capsys, data, "replay", "--set", "frustration_threshold=0.3", "--json")
    assert replayed["tickets"] == 3
    assert replayed["proposed"]["escalation_rate"] > replayed["current"]["escalation_rate"]
    assert replayed["changed"] and set(replayed["proposed"]["queues"]) >= {"auto", "tier1"}

    metrics = cli(capsys, data, "metrics", "--json")
    assert metrics["time_to_first_human_reply"]["count"] == 1
    assert metrics["draft_use"]["counts"]["discarded"] == 1
    assert "csat_by_reason" in metrics


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 sample_kb_dir: Path) -> None:
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "gaps", "publish"]) == 2
    assert "Give the gap id" in capsys.readouterr().err
    assert main(["--data-dir", str(data), "gaps", "dismiss", "gap-nope"]) == 2
    assert "no knowledge gap gap-nope" in capsys.readouterr().err
    assert main(["--data-dir", str(data), "replay", "--set", "speed=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Use --set NAME=VALUE") and err.count("\n") == 1
    assert main(["--data-dir", str(data), "reply", "hof_x", "--agent", "ana", "hi",
                 "--cite", "no-such-article"]) == 2
    assert "No knowledge-base article with id no-such-article" in capsys.readouterr().err
