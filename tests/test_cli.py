"""The command line end to end on a temporary data directory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support_core.chat_view import NOT_SOLVED
from support_core.cli import COMMANDS, build_parser, main
from tests.conftest import ROOT, SAMPLE_KB

pytestmark = pytest.mark.slow

ARTICLES = [
    "api-authentication-api-keys.md",
    "billing-request-refund.md",
    "billing-refund-policy.md",
    "integrations-google-drive.html",
    "account-change-email.txt",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_user(capsys: pytest.CaptureFixture[str], data: str, name: str, role: str) -> None:
    """``deskpilot users add NAME --role ROLE --password-stdin`` with a real stdin."""
    import io

    old, sys.stdin = sys.stdin, io.StringIO("a long enough password\n")
    try:
        code, _, err = run(capsys, "--data-dir", data, "users", "add", name, "--role", role,
                           "--password-stdin")
    finally:
        sys.stdin = old
    assert code == 0, err


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    src = tmp_path / "articles"
    src.mkdir()
    for name in ARTICLES:
        shutil.copy(SAMPLE_KB / name, src / name)
    (src / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    return src


def test_ingest_reports_each_file_and_never_stops_on_a_bad_one(tmp_path, kb_dir, capsys) -> None:
    data = str(tmp_path / "data")
    code, out, _ = run(capsys, "--data-dir", data, "ingest", str(kb_dir), "--json")
    rows = {Path(r["source"]).name: r for r in json.loads(out)}
    assert code == 0
    assert rows["broken.pdf"]["status"] == "failed" and "broken.pdf" in rows["broken.pdf"]["error"]
    assert all(rows[n]["status"] == "added" and rows[n]["chunks"] > 0 for n in ARTICLES)

    code, out, _ = run(capsys, "--data-dir", data, "ingest", str(kb_dir))
    assert "0 added, 0 updated, 5 unchanged, 1 failed" in out


def test_search_filters_and_json(tmp_path, kb_dir, capsys) -> None:
    data = str(tmp_path / "data")
    run(capsys, "--data-dir", data, "ingest", str(kb_dir))
    code, out, _ = run(
        capsys, "--data-dir", data, "search", "how long does a refund take", "--json", "-k", "3"
    )
    hits = json.loads(out)
    assert code == 0 and hits and hits[0]["category"] == "billing"
    assert {"dense_score", "bm25_score", "fused_score", "heading_path"} <= set(hits[0])
    code, out, _ = run(
        capsys, "--data-dir", data, "search", "refund", "--category", "api", "--json"
    )
    assert all(h["category"] == "api" for h in json.loads(out))


def test_eval_retrieval_prints_the_metrics(tmp_path, capsys) -> None:
    corpus, queries = tmp_path / "c.jsonl", tmp_path / "q.jsonl"
    docs = [
        ("a", "Reset your password", "Use the forgot password link on the sign-in page."),
        ("b", "Refunds", "Annual plans are refundable within 14 days of the charge."),
        ("c", "Rate limits", "The API allows 300 requests per minute on the Team plan."),
    ]
    corpus.write_text("\n".join(json.dumps({"id": i, "title": t, "text": x}) for i, t, x in docs))
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"id": "q1", "query": "I forgot my password", "gold_ids": ["a"]},
                {"id": "q2", "query": "how many API requests per minute", "gold_ids": ["c"]},
            ]
        )
    )
    data = tmp_path / "app-data"
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(data),
        "eval-retrieval",
        "--corpus",
        str(corpus),
        "--queries",
        str(queries),
        "--json",
    )
    report = json.loads(out)
    assert code == 0
    assert set(report) == {"hit@1", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10",
                           "queries", "with_history"}
    assert report["queries"] == 2 and report["recall@1"] == 1.0 and report["hit@1"] == 1.0
    assert report["with_history"] == 0
    assert not data.exists()  # never touches the app's data directory


def test_ask_json_and_the_human_side(tmp_path, kb_dir, capsys) -> None:
    data = str(tmp_path / "data")
    run(capsys, "--data-dir", data, "ingest", str(kb_dir))
    code, out, _ = run(
        capsys,
        "--data-dir",
        data,
        "ask",
        "--customer",
        "c1",
        "--json",
        "I want a refund NOW!!! You charged me twice, I'm calling my lawyer.",
    )
    res = json.loads(out)
    assert code == 0
    assert set(res) == {
        "ticket_id",
        "action",
        "message",
        "confidence",
        "sources",
        "sentiment",
        "escalation",
    }
    assert res["action"] == "escalated" and res["escalation"]["queue"] == "manager"
    assert set(res["sentiment"]) == {"level", "frustration_score", "signals"}

    _, out, _ = run(capsys, "--data-dir", data, "handoffs", "--json")
    row = json.loads(out)[0]
    handoff_id = row["handoff_id"]
    assert {"first_response_due", "resolution_due", "breached"} <= set(row)
    assert row["breached"] is False  # just handed off: the clocks are running
    code, _, err = run(capsys, "--data-dir", data, "claim", handoff_id, "--agent", "ana")
    assert code == 2 and "no active user" in err and err.count("\n") == 1  # not a user yet
    for name in ("ana", "bo"):
        add_user(capsys, data, name, "agent")
    assert run(capsys, "--data-dir", data, "claim", handoff_id, "--agent", "ana")[0] == 0
    code, _, err = run(capsys, "--data-dir", data, "claim", handoff_id, "--agent", "bo")
    assert code == 2 and "ana" in err
    assert (
        run(capsys, "--data-dir", data, "reply", handoff_id, "--agent", "ana", "Refund issued.")[0]
        == 0
    )
    assert run(capsys, "--data-dir", data, "resolve", handoff_id, "--agent", "ana")[0] == 0
    assert json.loads(run(capsys, "--data-dir", data, "handoffs", "--json")[1]) == []
    assert run(capsys, "--data-dir", data, "csat", res["ticket_id"], "5")[0] == 0
    code, out, _ = run(capsys, "--data-dir", data, "metrics", "--days", "7", "--json")
    metrics = json.loads(out)
    assert metrics["tickets"] == 1 and metrics["avg_csat"] == 5
    manager = metrics["sla_attainment"]["critical"]  # the lawyer threat went out as critical
    assert manager["handoffs"] == 1 and manager["first_response_attainment"] == 1.0


def test_ask_prints_the_reply_with_its_source_list(tmp_path, kb_dir, capsys) -> None:
    """Plain text joins body and sources at this edge; the JSON keeps them apart."""
    data = str(tmp_path / "data")
    run(capsys, "--data-dir", data, "ingest", str(kb_dir))
    code, out, _ = run(capsys, "--data-dir", data, "ask", "--customer", "c2",
                       "How do I rotate my API key?")
    body, _, listed = out.partition("\n\nSources:\n")
    assert code == 0 and "[1]" in body
    assert re.match(r"\[1\] \S", listed)
    assert f"{NOT_SOLVED} (--session cli-c2)" in listed  # after the reply, not inside it
    assert NOT_SOLVED not in body
    code, out, _ = run(capsys, "--data-dir", data, "ask", "--customer", "c3", "--json",
                       "How do I rotate my API key?")
    res = json.loads(out)
    assert "Sources:" not in res["message"] and res["sources"][0]["title"] in listed


def test_sentiment_text_and_file(tmp_path, capsys) -> None:
    code, out, _ = run(capsys, "sentiment", "I will sue you if this is not fixed", "--json")
    assert code == 0 and "legal_threat" in json.loads(out)["signals"]
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "Thanks, that worked!"}\n{"text": "WHY IS THIS STILL BROKEN!!!"}\n')
    code, out, _ = run(capsys, "sentiment", "--file", str(rows))
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["level"] for r in results][0] == "positive"
    assert results[1]["level"] in ("angry", "frustrated")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["ask", "--customer", "c1", ""], "empty"),
        (["ask", "--customer", "bad id with spaces", "hi"], "customer id"),
        (["csat", "tkt_missing", "5"], "tkt_missing"),
        (["eval-retrieval", "--corpus", "/nope.jsonl", "--queries", "/nope.jsonl"], "not found"),
    ],
)
def test_errors_are_one_clear_line_and_exit_2(tmp_path, capsys, argv, needle) -> None:
    code, _, err = run(capsys, "--data-dir", str(tmp_path), *argv)
    assert code == 2
    assert needle.lower() in err.lower() and "Traceback" not in err


def test_module_entry_point_runs_as_a_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "support_core", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    parser_commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert parser_commands == set(COMMANDS)
    for name in COMMANDS:
        assert re.search(rf"deskpilot {re.escape(name)}\b", readme), f"README lacks `{name}`"
