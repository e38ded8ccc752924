"""Every failure ends visible: typed storage errors with one line, normalized text, a ticket
never left unfinished after its message was saved, and the repair command."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from support_core import lifecycle
from support_core.adapters.ticket_store_sqlite import SQLiteTicketStore
from support_core.cli import main
from support_core.errors import StorageBusy, StorageFull
from support_core.models import HandoffStatus, Message, Role, Ticket, TicketStatus, utcnow
from support_core.testing import desk_load
from support_core.testing.fake_openai import FakeOpenAIServer
from support_core.validation import clean_message, normalize_text
from tests.test_store import package

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with FakeOpenAIServer(lambda request: "unused") as server:
        settings = desk_load.desk_settings(tmp_path_factory.mktemp("desk"), server.base_url)
        desk_load.prepare_kb(settings)
        yield settings


# ----------------------------------------------------------------------------- text
def test_text_is_normalized_before_it_is_stored(desk: dict[str, Any]) -> None:
    assert normalize_text("caf\udce9 ok\x00!") == "caf\ufffd ok!"
    assert clean_message("  I paid \udcff twice\x00  ", 100) == "I paid \ufffd twice"
    svc = desk_load.build(desk)
    result = svc.pipeline.process_message("cust-s", "s1", "Refund \udcc3 please\x00")
    stored = svc.store.get_ticket(result.ticket.ticket_id)
    assert stored.messages[0].content == "Refund \ufffd please"


# ----------------------------------------------------------------------------- storage errors
def test_a_full_disk_is_a_typed_error_with_one_line(tmp_path: Path) -> None:
    store = SQLiteTicketStore(tmp_path / "t.db")
    pages = store.db.conn.execute("PRAGMA page_count").fetchone()[0]
    store.db.conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: "full"
    ticket = Ticket(customer_id="c", session_id="s")
    ticket.messages.append(Message(role=Role.CUSTOMER, content="x" * 200_000))
    with pytest.raises(StorageFull) as err:
        store.save_ticket(ticket)
    assert "full" in str(err.value) and "\n" not in str(err.value)
    assert ticket.version == 0  # nothing was counted as saved


def test_a_database_locked_past_the_timeout_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SQLiteTicketStore(path, timeout=0.3)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageBusy, match="locked"):
            store.save_ticket(Ticket(customer_id="c", session_id="s"))
    finally:
        holder.rollback()
    store.save_ticket(Ticket(customer_id="c", session_id="s"))  # fine once released


def test_cli_reports_a_locked_database_in_one_line_with_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = SQLiteTicketStore(data / "deskpilot.db")
    pkg = store.enqueue_handoff(package())
    holder = sqlite3.connect(data / "deskpilot.db")
    holder.execute("BEGIN IMMEDIATE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORT_")}
    env.update(PYTHONPATH=str(ROOT), SUPPORT_DATABASE_TIMEOUT_SECONDS="0.5")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "support_core", "--data-dir", str(data), "claim",
             pkg.handoff_id, "--agent", "Ann"],
            capture_output=True, text=True, env=env, timeout=120,
        )
    finally:
        holder.rollback()
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "locked" in lines[0]
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- never unfinished
def test_failing_to_queue_the_handoff_still_ends_escalated_and_repair_requeues(
    desk: dict[str, Any],
) -> None:
    svc = desk_load.build(desk)
    svc.store.db.conn.execute(
        "CREATE TRIGGER refuse_handoffs BEFORE INSERT ON handoffs "
        "BEGIN SELECT RAISE(ABORT, 'queue unavailable'); END"
    )
    result = svc.pipeline.process_message("cust-h", "s1", desk_load.ANGRY.format(tag="x"))
    stored = svc.store.get_ticket(result.ticket.ticket_id)
    assert stored.status is TicketStatus.ESCALATED  # final and visible, not 'created'
    assert any(e.stage == "handoff.enqueue" for e in stored.stage_errors)
    assert svc.store.active_handoff(stored.ticket_id) is None
    svc.store.db.conn.execute("DROP TRIGGER refuse_handoffs")
    assert main(["--data-dir", desk["data_dir"], "repair"]) == 0
    handoff = svc.store.active_handoff(stored.ticket_id)
    assert handoff is not None and handoff.status is HandoffStatus.QUEUED


def test_an_unexpected_crash_after_saving_escalates_with_its_reason(
    desk: dict[str, Any],
) -> None:
    svc = desk_load.build(desk)

    # A bug outside any stage guard (here: in the sentiment step itself) is the worst case.
    svc.pipeline._analyze = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
    result = svc.pipeline.process_message("cust-c", "s1", "How do I rotate my API key?")
    stored = svc.store.get_ticket(result.ticket.ticket_id)
    assert result.action == "escalated" and stored.status is TicketStatus.ESCALATED
    assert "boom" in stored.escalation.reason  # type: ignore[union-attr]
    assert svc.store.active_handoff(stored.ticket_id) is not None


def test_repair_command_escalates_a_ticket_a_crash_left_processing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    store = SQLiteTicketStore(data / "deskpilot.db")
    ticket = lifecycle.transition(Ticket(customer_id="c", session_id="s"), TicketStatus.PROCESSING)
    ticket.updated_at = utcnow() - timedelta(hours=1)
    store.save_ticket(ticket)
    assert main(["--data-dir", str(data), "repair", "--json"]) == 0
    assert ticket.ticket_id in capsys.readouterr().out
    assert store.get_ticket(ticket.ticket_id).status is TicketStatus.ESCALATED
    assert main(["--data-dir", str(data), "repair"]) == 0
    assert "Escalated 0 stuck" in capsys.readouterr().out
