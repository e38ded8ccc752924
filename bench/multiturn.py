"""Multi-turn conversations through the full pipeline: does a follow-up find the right article?

Data: ``../shared/data/mtragun_fiqa_clapnq`` (MTRAG-UN, public): per collection a corpus of
passages and one labelled row per conversation, ``query`` being its last customer turn and
``history`` the turns before it. Each collection's corpus is ingested into its own fresh
knowledge base; then, for each search strategy (``Settings.conversation_search``) on a
fresh ticket store and memory, every conversation is played as one session of a new
customer: its customer turns from ``history`` in order, then ``query``, each through
``SupportPipeline.process_message``. The pipeline's own replies stand in for the agent's
turns of the data. When a turn escalates, the bench closes the handoff as a specialist
would (handoff resolved, ticket back to awaiting the customer) so that the AI handles the
next turn too; how often that happened is reported.

Scored on the labelled (last) turn, split into first turns (no history) and later turns:
hit@1 of the top retrieved article and of the first article the reply cited (no cited
article counts as a miss), over turns with gold passages; and the reply's content-word
recall / precision / F1 against the human reference answer (stemmed content words,
``support_core.confidence.content_terms``), over ANSWERABLE and PARTIAL turns.
Strategies: ``plan`` (the default, ``support_core/kb/conversation_query.py``), ``last``
(the last message alone) and ``joined`` (all customer turns as one query).

    .venv/bin/python bench/multiturn.py [--limit 40] [--collections fiqa,clapnq]

Writes the "multiturn" section of docs/benchmarks.md (``--no-write`` to only print).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import machine_line, replace_section, reply_prf, require_data  # noqa: E402
from support_core import lifecycle  # noqa: E402
from support_core.config import Settings  # noqa: E402
from support_core.kb.conversation_query import Conversation  # noqa: E402
from support_core.kb.evaluation import load_corpus  # noqa: E402
from support_core.models import TicketStatus  # noqa: E402
from support_core.wiring import Service, build_service  # noqa: E402

FOLDER = "mtragun_fiqa_clapnq"
STRATEGIES = ("plan", "last", "joined")
SCORED_ANSWERS = {"ANSWERABLE", "PARTIAL"}


@dataclass
class Scores:
    """Per strategy and turn kind (first / later)."""

    top: list[float] = field(default_factory=list)
    cited: list[float] = field(default_factory=list)
    f1: list[tuple[float, float, float]] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    continuation: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    closed: int = 0  # escalations the bench closed so the AI could take the next turn
    turns: int = 0


def rows_of(data: Path, collection: str, limit: int) -> list[dict[str, Any]]:
    text = (data / f"queries_{collection}.jsonl").read_text(encoding="utf-8")
    rows = sorted((json.loads(line) for line in text.splitlines() if line.strip()),
                  key=lambda r: str(r["id"]))
    return rows[:limit] if limit else rows


def settings_for(base: Path, name: str, strategy: str) -> Settings:
    return Settings(_env_file=None, data_dir=base / name,  # type: ignore[call-arg]
                    conversation_search=strategy)


def close_escalation(svc: Service, ticket_id: str) -> None:
    """What a specialist's answer does to the session: handoff resolved, ticket awaiting the
    customer, so the next message is the AI's again."""
    handoff = svc.store.active_handoff(ticket_id)
    if handoff is not None:
        svc.store.resolve_handoff(handoff.handoff_id, "bench-specialist")
    svc.store.update_ticket(ticket_id, lambda t: lifecycle.transition(
        t, TicketStatus.AWAITING_CUSTOMER, "bench-specialist", "bench: answered by a person")
        if t.status == TicketStatus.ESCALATED else t)


def play(svc: Service, customer: str, row: dict[str, Any], scores: dict[str, Scores]) -> None:
    turns = [*Conversation.from_history(row["history"]).turns, row["query"]]
    kind = "first" if len(turns) == 1 else "later"
    bucket = scores[kind]
    for i, text in enumerate(turns):
        start = time.perf_counter()
        result = svc.pipeline.process_message(customer, "s", text[:3900])
        elapsed = (time.perf_counter() - start) * 1000
        last = i == len(turns) - 1
        if result.action == "escalated" and not last:
            close_escalation(svc, result.ticket.ticket_id)
            bucket.closed += 1
        bucket.turns += 1
        if i > 0:
            scores["later"].ms.append(elapsed)
    ticket = result.ticket
    gold = set(row["gold_ids"])
    plan = ticket.search_plan
    bucket.continuation.append(float(bool(plan and plan.continuation)))
    bucket.answered.append(float(result.action == "auto_reply"))
    if gold:
        top = ticket.retrieved[0].article_id if ticket.retrieved else None
        sources = ticket.draft.sources if ticket.draft and result.action == "auto_reply" else []
        bucket.top.append(float(top in gold))
        bucket.cited.append(float(bool(sources) and sources[0].article_id in gold))
    if set(row["answerability"]) & SCORED_ANSWERS:
        bucket.f1.append(reply_prf(result.message, row["answer"]))


def run_collection(data: Path, collection: str, args: argparse.Namespace, base: Path
                   ) -> dict[str, dict[str, Scores]]:
    articles = load_corpus(data / f"corpus_{collection}.jsonl")
    kb_service = build_service(settings_for(base, f"{collection}-kb", "plan"))
    t0 = time.perf_counter()
    kb_service.kb.ingest_articles(articles)
    print(f"{collection}: {len(articles)} passages, {kb_service.kb.store.count()} chunks in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows = rows_of(data, collection, args.limit)
    out: dict[str, dict[str, Scores]] = {}
    for strategy in args.strategies:
        svc = build_service(settings_for(base, f"{collection}-{strategy}", strategy))
        svc.__dict__["kb"] = kb_service.kb  # one index, fresh tickets and memory
        scores = {"first": Scores(), "later": Scores()}
        t0 = time.perf_counter()
        for n, row in enumerate(rows):
            play(svc, f"mt-{collection}-{strategy}-{n}", row, scores)
        print(f"  {strategy}: {len(rows)} conversations in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        out[strategy] = scores
    return out


def merge(parts: Sequence[dict[str, dict[str, Scores]]]) -> dict[str, dict[str, Scores]]:
    merged: dict[str, dict[str, Scores]] = {}
    for part in parts:
        for strategy, kinds in part.items():
            for kind, s in kinds.items():
                m = merged.setdefault(strategy, {}).setdefault(kind, Scores())
                for name in ("top", "cited", "f1", "answered", "continuation", "ms"):
                    getattr(m, name).extend(getattr(s, name))
                m.closed += s.closed
                m.turns += s.turns
    return merged


def mean(values: Sequence[float]) -> str:
    return f"{statistics.mean(values):.3f}" if values else "-"


def table(results: dict[str, dict[str, Scores]]) -> list[str]:
    lines = [
        "| strategy | turns | hit@1 top (n) | hit@1 cited | auto-replied | reply recall | "
        "reply precision | reply F1 (n) | judged continuation |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for strategy, kinds in results.items():
        for kind in ("first", "later"):
            s = kinds[kind]
            r, p, f = (mean([x[i] for x in s.f1]) for i in range(3))
            lines.append(
                f"| {strategy} | {kind} | {mean(s.top)} ({len(s.top)}) | {mean(s.cited)} | "
                f"{mean(s.answered)} | {r} | {p} | {f} ({len(s.f1)}) | {mean(s.continuation)} |")
    return lines


def report(per_collection: dict[str, dict[str, dict[str, Scores]]], args: argparse.Namespace
           ) -> str:
    body = ["## Multi-turn conversations through the pipeline (MTRAG-UN fiqa + clapnq)", "",
            "Each conversation is played turn by turn as one session of a new customer through "
            "`SupportPipeline.process_message` (default backends, no LLM); scored on its "
            "labelled last turn: *first* = a conversation's first message, *later* = a turn "
            "with earlier customer turns. hit@1 top = the first retrieved article is a gold "
            "passage; hit@1 cited = the first article the auto-reply cited is (no reply or no "
            "citation = miss); reply recall/precision/F1 = stemmed content words of what the "
            "customer got vs the human reference, ANSWERABLE and PARTIAL turns. Strategies "
            "(`SUPPORT_CONVERSATION_SEARCH`): **plan** (default: continuation or new topic, "
            "RRF of the context query, the latest message weighted by its own confidence and "
            "the last answer's article), **last** (last message alone), **joined** (all "
            "customer turns as one query).", ""]
    merged = merge(list(per_collection.values()))
    body += ["### Both collections", "", *table(merged), ""]
    for collection, results in per_collection.items():
        body += [f"### {collection}", "", *table(results), ""]
    plan_later = merged.get("plan", {}).get("later")
    if plan_later and plan_later.ms:
        ms = sorted(plan_later.ms)
        p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
        body.append(f"Pipeline wall clock of follow-up turns (plan): median "
                    f"{statistics.median(ms):.0f} ms, p95 {p95:.0f} ms over {len(ms)} turns "
                    "(small KB, shared machine: see the pipeline section for the budget).")
    closed = {s: sum(k.closed for k in kinds.values()) for s, kinds in merged.items()}
    turns = {s: sum(k.turns for k in kinds.values()) for s, kinds in merged.items()}
    body.append("Escalations the bench closed as a specialist so the AI took the next turn: "
                + ", ".join(f"{s} {closed[s]} of {turns[s]} turns" for s in closed) + ".")
    limit = f"first {args.limit} conversations (by id) per collection" if args.limit else (
        "all conversations")
    body += ["", f"Sample: {limit}.", "", machine_line("bench/multiturn.py")]
    return "\n".join(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="conversations per collection")
    parser.add_argument("--collections", default="fiqa,clapnq")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.strategies = [s for s in args.strategies.split(",") if s]
    data = require_data(FOLDER) / FOLDER
    base = Path(tempfile.mkdtemp(prefix="bench-multiturn-"))
    per_collection = {c: run_collection(data, c, args, base)
                      for c in args.collections.split(",") if c}
    body = report(per_collection, args)
    print(body)
    if not args.no_write:
        replace_section("multiturn", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
