"""Running for a team: separate app processes with their own data dirs share one desk through
SUPPORT_DATABASE_URL (PostgreSQL) and SUPPORT_REDIS_URL. A ticket escalated by one process is
claimable from the others, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from support_core.testing import desk_load
from support_core.testing.fake_openai import FakeOpenAIServer
from support_core.testing.postgres import fresh_database

pytestmark = [pytest.mark.timeout(300), pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("SUPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "support_core", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_share_one_desk_and_one_claim_wins(tmp_path: Path) -> None:
    customer = f"team-{uuid.uuid4().hex[:6]}"
    with FakeOpenAIServer(lambda request: "unused") as server, fresh_database() as url:
        kb_settings = desk_load.desk_settings(tmp_path / "front", server.base_url,
                                              kb_dir=desk_load.small_kb(tmp_path / "kb"))
        desk_load.prepare_kb(kb_settings)
        base = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
        base.update(
            PYTHONPATH=str(ROOT), SUPPORT_DATABASE_URL=url, SUPPORT_REDIS_URL=REDIS_URL,
            SUPPORT_EMBEDDING_BACKEND="openai", SUPPORT_EMBEDDING_BASE_URL=server.base_url,
            SUPPORT_EMBEDDING_API_KEY="not-needed", SUPPORT_EMBEDDING_MODEL="fake-embedding",
        )
        front = base | {"SUPPORT_DATA_DIR": str(tmp_path / "front")}
        asked = cli(front, "ask", "--customer", customer, "--json",
                    desk_load.ANGRY.format(tag="team"))
        out, err = asked.communicate(timeout=180)
        assert asked.returncode == 0, err
        ticket_id = json.loads(out)["ticket_id"]

        # Two other processes, each with its own (empty) data dir: only the database is shared.
        backs = [base | {"SUPPORT_DATA_DIR": str(tmp_path / f"back{i}")} for i in range(2)]
        listed = cli(backs[0], "handoffs", "--json")
        out, err = listed.communicate(timeout=180)
        assert listed.returncode == 0, err
        handoff = next(h for h in json.loads(out) if h["ticket_id"] == ticket_id)
        # staff accounts live in the shared database: added once, known to every process
        desk_load.add_agents({**kb_settings, "database_url": url}, ["Agent 0", "Agent 1"])
        claims = [cli(env, "claim", handoff["handoff_id"], "--agent", f"Agent {i}")
                  for i, env in enumerate(backs)]
        results = [(p.wait(timeout=180), *p.communicate()) for p in claims]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, _, err in results if code == 2)
    assert "already claimed" in loser and len(loser.strip().splitlines()) == 1
    assert not (tmp_path / "back0" / "deskpilot.db").exists()
