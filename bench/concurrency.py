"""Many people on one desk: operations/s and lost updates, per ticket-store backend.

Spawned processes x threads (threads share one Service, as Streamlit serves browser sessions)
do a random mix of operations on one desk: customer messages into a few shared sessions
(half answered, half escalated), claims, agent replies and resolves, with Redis memory.
Afterwards every message, reply and claim the workers report is checked against the store
(``desk_load.check_desk``): present exactly once, in order, legal ticket states, one winner
per claim. Embeddings come from the local fake OpenAI-wire server, so the figures measure the
desk (store, locks, pipeline stages), not the embedding model.

    .venv/bin/python bench/concurrency.py [--processes 3] [--threads 2] [--ops 90]
        [--backends sqlite postgres] [--redis-url redis://127.0.0.1:6379/0]

Writes the "concurrency" section of docs/benchmarks.md (``--no-write`` to only print).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from bench.common import machine_line, replace_section  # noqa: E402
from support_core.testing import desk_load  # noqa: E402
from support_core.testing.fake_openai import FakeOpenAIServer  # noqa: E402

# Measured on main at 61fa75c (before this change) by tests/test_races.py, same machine.
BEFORE_ROWS = [
    ("agent reply sent while the customer writes again",
     "8 of 10 replies vanished from the ticket", "0 / 0"),
    ("two messages in one session at the same instant (two services)",
     "0 of 20 messages, but 9 of 10 sessions got a duplicate ticket", "0 / 0, one ticket"),
    ("4 processes x 5 messages into one session",
     "12 of 20 messages lost, no error raised", "0 / 0, in order"),
]
# The same command on the same machine, run from an export of main at b66c936 (before the
# event log) right after the run above.
PREVIOUS = [
    "Before the event log (main at b66c936: the outcome row rewritten after every message), the "
    "same command run on this machine right after, 2026-12-02 18:48 UTC, load average 12.5 at "
    "start: SQLite 540 operations in 36.3 s (14.9/s), PostgreSQL 540 in 36.2 s (14.9/s), nothing "
    "lost. The event log costs nothing measurable here (the earlier 5.5 and 7.6/s were measured "
    "at load 20.8).",
]
BEFORE = "\n".join([
    "Before the store became append-safe (main at 61fa75c, `tests/test_races.py` on SQLite,",
    "10 trials each, threads of one process unless noted):",
    "",
    "| race | lost before | lost after (SQLite / PostgreSQL) |",
    "|---|---|---|",
    *(f"| {race} | {before} | {after} |" for race, before, after in BEFORE_ROWS),
])


def run_backend(backend: str, args: argparse.Namespace, server: FakeOpenAIServer) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        kb = desk_load.small_kb(Path(tmp) / "kb")
        with desk_load.ready_desk(backend, Path(tmp) / "d", server.base_url, args.redis_url,
                                  kb) as settings:
            run = uuid.uuid4().hex[:6]
            reports, seconds = desk_load.run_load(
                settings, args.processes, args.threads, args.ops,
                customers=[f"bench-a{run}", f"bench-b{run}"], sessions=["s1", "s2"],
            )
            problems = desk_load.check_desk(desk_load.build(settings), reports)
    ops = sum(r.operations for r in reports)
    return {
        "backend": backend, "ops": ops, "seconds": seconds, "rate": ops / seconds,
        "messages": sum(len(t) for r in reports for t in r.sent.values()),
        "claims": sum(len(r.claims) for r in reports),
        "replies": sum(len(r.replies) for r in reports),
        "resolves": sum(len(r.resolved) for r in reports),
        "errors": sum(len(r.errors) for r in reports), "problems": problems,
    }


def report(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "## Concurrency: many people on one desk",
        "",
        machine_line("bench/concurrency.py"),
        "",
        f"{args.processes} spawned processes x {args.threads} threads, {args.ops} random "
        "operations each, on 2 customers x 2 shared sessions, Redis memory; embeddings from the "
        "fake OpenAI-wire server (so this measures the desk, not the model). Afterwards every "
        "reported message, reply and claim is checked against the store, and the reporting "
        "events (one per stored ticket, message and claim, written in each change's "
        "transaction) must match those counts exactly.",
        "",
        "| backend | operations | seconds | operations/s | customer messages | claims won | "
        "agent replies | resolves | unexpected errors | lost / duplicated / out of order / "
        "illegal states |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['ops']} | {r['seconds']:.1f} | {r['rate']:.1f} | "
            f"{r['messages']} | {r['claims']} | {r['replies']} | {r['resolves']} | "
            f"{r['errors']} | {len(r['problems'])} |"
        )
    for r in rows:
        for problem in r["problems"][:10]:
            lines.append(f"- {r['backend']}: {problem}")
    lines += ["", *PREVIOUS, "", BEFORE]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ops", type=int, default=90, help="operations per thread")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with FakeOpenAIServer(lambda request: "unused") as server:
        rows = [run_backend(b, args, server) for b in args.backends]
    body = report(rows, args)
    print(body)
    if not args.no_write:
        replace_section("concurrency", body)


if __name__ == "__main__":
    main()
