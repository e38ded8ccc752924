"""The desk's CLI commands: users, macros, reply with a macro, notes, reassignment."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from support_core.cli import main
from tests.conftest import make_settings
from tests.desk_helpers import desk_service, escalate


def run(capsys, data: Path, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    old = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--data-dir", str(data), *argv])
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def test_users_add_list_disable_never_show_the_hash(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    code, out, _ = run(capsys, data, "users", "add", "Ana Lima", "--role", "manager",
                       "--password-stdin", stdin="s3cret-enough\n")  # fmt: skip
    assert code == 0 and "manager Ana Lima" in out
    code, _, err = run(capsys, data, "users", "add", "bo", "--role", "agent", "--password-stdin",
                       stdin="short\n")  # fmt: skip
    assert code == 2 and "at least 8" in err and err.count("\n") == 1
    code, _, err = run(capsys, data, "users", "add", "Ana Lima", "--role", "agent",
                       "--password-stdin", stdin="s3cret-enough\n")  # fmt: skip
    assert code == 2 and "already" in err
    code, out, _ = run(capsys, data, "users", "list", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["role"], r["active"]) for r in rows] == [("Ana Lima", "manager", True)]
    assert "argon2" not in out and "hash" not in out
    assert run(capsys, data, "users", "disable", "Ana Lima")[0] == 0
    assert "disabled" in run(capsys, data, "users", "list")[1]
    code, _, err = run(capsys, data, "users", "disable", "nobody")
    assert code == 2 and "no user named nobody" in err


def test_macros_add_list_refuse_unknown_placeholders(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    code, _, err = run(capsys, data, "macros", "add", "bad", "Hello {name}")
    assert code == 2 and err.startswith("error: Unknown placeholder {name}")
    assert err.count("\n") == 1
    assert run(capsys, data, "macros", "add", "thanks", "Thanks {customer_name}!")[0] == 0
    code, out, _ = run(capsys, data, "macros", "list", "--json")
    rows = [(m["name"], m["text"]) for m in json.loads(out)]
    assert rows == [("thanks", "Thanks {customer_name}!")]


def test_reply_with_a_macro_note_and_reassign(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    svc = desk_service(make_settings(data))
    h = escalate(svc, customer="cust-7")
    for name, role in (("ana", "agent"), ("bo", "agent"), ("max", "manager")):
        assert run(capsys, data, "users", "add", name, "--role", role, "--password-stdin",
                   stdin="long enough pw\n")[0] == 0  # fmt: skip
    run(capsys, data, "macros", "add", "hello", "Hi {customer_name}, {agent_name} here.")
    assert run(capsys, data, "claim", h.handoff_id, "--agent", "ana")[0] == 0
    code, _, err = run(capsys, data, "reassign", h.handoff_id, "--manager", "ana", "--to", "bo")
    assert code == 2 and "manager" in err
    assert run(capsys, data, "reassign", h.handoff_id, "--manager", "max", "--to", "bo")[0] == 0
    assert run(capsys, data, "note", h.handoff_id, "--agent", "bo", "VIP, be quick")[0] == 0
    code, _, err = run(capsys, data, "reply", h.handoff_id, "--agent", "bo", "--macro", "nope")
    assert code == 2 and "no macro named 'nope'" in err
    assert run(capsys, data, "reply", h.handoff_id, "--agent", "bo", "--macro", "hello")[0] == 0
    convo = svc.desk.conversation("cust-7", "s1")
    assert convo[-1].content == "Hi cust-7, bo here." and convo[-1].metadata["agent"] == "bo"
    assert all("VIP" not in m.content for m in convo)
    kinds = [(e.kind, e.actor) for e in svc.records.events(handoff_id=h.handoff_id)]
    assert kinds == [("claim", "ana"), ("reassign", "max"), ("note", "bo"), ("reply", "bo")]
    code, _, err = run(capsys, data, "reply", h.handoff_id, "--agent", "bo")
    assert code == 2 and "--macro" in err
