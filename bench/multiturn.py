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

Every labelled row is scored (219 turns in the full set; ``--limit N`` takes the first N rows
by id per collection), each row's ``history`` replayed as its own session, then its query.
Scored on the labelled (last) turn, split into first turns (no history) and later turns:
hit@1 of the top retrieved article and of the first article the reply cited (no cited
article counts as a miss), over turns with gold passages; and the reply's content-word
recall / precision / F1 against the human reference answer (stemmed content words,
``support_core.confidence.content_terms``), over ANSWERABLE and PARTIAL turns.
Per answerability label: the share of labelled turns that got a clarifying question
(``support_core/clarify.py``; target >= 50 % of UNDERSPECIFIED, <= 5 % of ANSWERABLE) and the
share that got "not covered" or a handoff (the AI did not answer: UNANSWERABLE caught,
ANSWERABLE refused). Strategies: ``plan`` (the default,
``support_core/kb/conversation_query.py``), ``last`` (the last message alone) and ``joined``
(all customer turns as one query); each runs with clarification on, and (``--before``) the
same strategies with ``SUPPORT_CLARIFY_ENABLED=false`` in the same run.

    .venv/bin/python bench/multiturn.py [--limit 40] [--collections fiqa,clapnq]
        [--cache-dir /tmp/mt-cache] [--before plan|all|none] [--dump turns.jsonl]

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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from bench.common import machine_line, replace_section, reply_prf, require_data  # noqa: E402
from support_core import clarify, lifecycle  # noqa: E402
from support_core.adapters.embedding_cache import CachedEmbedder  # noqa: E402
from support_core.confidence import content_terms  # noqa: E402
from support_core.config import Settings  # noqa: E402
from support_core.kb.conversation_query import Conversation, refers_back  # noqa: E402
from support_core.kb.evaluation import load_corpus  # noqa: E402
from support_core.models import Ticket, TicketStatus  # noqa: E402
from support_core.wiring import Service, build_service  # noqa: E402

FOLDER = "mtragun_fiqa_clapnq"
STRATEGIES = ("plan", "last", "joined")
SCORED_ANSWERS = {"ANSWERABLE", "PARTIAL"}
LABELS = ("ANSWERABLE", "PARTIAL", "UNANSWERABLE", "UNDERSPECIFIED")
OFF = "-noclarify"  # variant suffix: the strategy with clarification switched off


@dataclass
class Turn:
    """One labelled (last) turn as the customer got it."""

    collection: str
    row_id: str
    kind: str  # first | later
    label: str
    action: str  # auto_reply | clarify | escalated
    answered: bool  # auto-reply with an answer (not "not covered")
    top: float | None  # hit@1 of the first retrieved article (rows with gold)
    cited: float | None  # hit@1 of the first cited article
    prf: tuple[float, float, float] | None  # reply vs reference (ANSWERABLE, PARTIAL)
    continuation: bool
    rule: str
    query: str
    features: dict[str, Any] = field(default_factory=dict)  # what clarification looked at


@dataclass
class Run:
    turns: list[Turn] = field(default_factory=list)
    ceilings: dict[str, list[float]] = field(default_factory=dict)
    later_ms: list[float] = field(default_factory=list)
    closed: int = 0  # escalations the bench closed so the AI could take the next turn
    clarified_history: int = 0  # clarifying questions asked on replayed (unscored) turns
    played: int = 0


def rows_of(data: Path, collection: str, limit: int) -> list[dict[str, Any]]:
    text = (data / f"queries_{collection}.jsonl").read_text(encoding="utf-8")
    rows = sorted((json.loads(line) for line in text.splitlines() if line.strip()),
                  key=lambda r: str(r["id"]))
    return rows[:limit] if limit else rows


def settings_for(base: Path, name: str, strategy: str, clarify: bool = True) -> Settings:
    return Settings(_env_file=None, data_dir=base / name,  # type: ignore[call-arg]
                    conversation_search=strategy, clarify_enabled=clarify)


def close_escalation(svc: Service, ticket_id: str) -> None:
    """What a specialist's answer does to the session: handoff resolved, ticket awaiting the
    customer, so the next message is the AI's again."""
    handoff = svc.store.active_handoff(ticket_id)
    if handoff is not None:
        svc.store.resolve_handoff(handoff.handoff_id, "bench-specialist")
    svc.store.update_ticket(ticket_id, lambda t: lifecycle.transition(
        t, TicketStatus.AWAITING_CUSTOMER, "bench-specialist", "bench: answered by a person")
        if t.status == TicketStatus.ESCALATED else t)


def play(svc: Service, customer: str, collection: str, row: dict[str, Any], run: Run) -> None:
    turns = [*Conversation.from_history(row["history"]).turns, row["query"]]
    for i, text in enumerate(turns):
        start = time.perf_counter()
        result = svc.pipeline.process_message(customer, "s", text[:3900])
        elapsed = (time.perf_counter() - start) * 1000
        last = i == len(turns) - 1
        if result.action == "escalated" and not last:
            close_escalation(svc, result.ticket.ticket_id)
            run.closed += 1
        if result.action == "clarify" and not last:
            run.clarified_history += 1
        run.played += 1
        if i > 0:
            run.later_ms.append(elapsed)
    ticket = result.ticket
    gold = set(row["gold_ids"])
    plan = ticket.search_plan
    replied = result.action == "auto_reply"
    top = cited = None
    if gold:
        first = ticket.retrieved[0].article_id if ticket.retrieved else None
        sources = ticket.draft.sources if ticket.draft and replied else []
        top = float(first in gold)
        cited = float(bool(sources) and sources[0].article_id in gold)
    labels = set(row["answerability"])
    run.turns.append(Turn(
        collection=collection, row_id=str(row["id"]),
        kind="first" if len(turns) == 1 else "later",
        label=next((x for x in LABELS if x in labels), "?"), action=result.action,
        answered=replied and bool(ticket.draft and ticket.draft.answered),
        top=top, cited=cited,
        prf=reply_prf(result.message, row["answer"]) if labels & SCORED_ANSWERS else None,
        continuation=bool(plan and plan.continuation),
        rule=ticket.escalation.rule if ticket.escalation else "", query=row["query"],
        features=clarify_features(row["query"], ticket)))


def clarify_features(text: str, ticket: Ticket) -> dict[str, Any]:
    """The evidence ``support_core.clarify`` decides from, for the ``--dump`` file."""
    plan = ticket.search_plan
    hits = ticket.retrieved
    _, gap = clarify.candidates(hits, clarify.Thresholds(margin=1.0))
    return {"terms": len(content_terms(text)), "refers_back": refers_back(text),
            "gap": gap, "current_article": bool(plan and plan.current_article),
            "fixed": bool(plan and plan.continuation and plan.current_article and hits
                          and hits[0].article_id == plan.current_article),
            "replaced": (ticket.escalation.inputs.get("replaced_rule", "")
                         if ticket.escalation else "")}


class QueryDiskCache(CachedEmbedder):
    """The embedding cache with query vectors kept on disk too: every variant and every
    re-run of the bench encodes the same customer turns, context queries and passages."""

    def embed_query(self, text: str) -> np.ndarray:
        return self._cached([text], "query", lambda texts: np.vstack(
            [self.inner.embed_query(t) for t in texts]))[0]


def variants(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """(name, strategy, clarification on) for every run of the bench."""
    out = [(s, s, True) for s in args.strategies]
    off = {"all": args.strategies, "plan": [s for s in args.strategies if s == "plan"],
           "none": []}[args.before]
    return out + [(s + OFF, s, False) for s in off]


def run_collection(data: Path, collection: str, args: argparse.Namespace, base: Path
                   ) -> dict[str, Run]:
    articles = load_corpus(data / f"corpus_{collection}.jsonl")
    kb_service = build_service(settings_for(base, f"{collection}-kb", "plan"))
    if args.cache_dir is not None:  # re-runs embed no passage again
        inner = getattr(kb_service.kb.embedder, "inner", kb_service.kb.embedder)
        kb_service.kb.embedder = QueryDiskCache(inner, args.cache_dir / "embedding_cache.db")
    t0 = time.perf_counter()
    kb_service.kb.ingest_articles(articles)
    print(f"{collection}: {len(articles)} passages, {kb_service.kb.store.count()} chunks in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    rows = rows_of(data, collection, args.limit)
    out: dict[str, Run] = {}
    for name, strategy, on in variants(args):
        svc = build_service(settings_for(base, f"{collection}-{name}", strategy, on))
        svc.__dict__["kb"] = kb_service.kb  # one index, fresh tickets and memory
        run = Run()
        t0 = time.perf_counter()
        for n, row in enumerate(rows):
            play(svc, f"mt-{collection}-{name}-{n}", collection, row, run)
        print(f"  {name}: {len(rows)} conversations, {run.played} turns in "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        out[name] = run
    if out:  # the search-only ceilings once per collection, beside the first variant
        first = next(iter(out.values()))
        first.ceilings = ceilings(kb_service.kb, rows, kb_service.settings.retrieval_k)
    return out


# What a query built from the conversation could at best add is the answer itself: the later
# turns searched (search alone, same index and k) with the human reference answer in hand.
CEILINGS = ("the turn + its reference answer", "the reference answer alone")


def ceilings(kb: Any, rows: Sequence[dict[str, Any]], k: int) -> dict[str, list[float]]:
    """hit@1 of the retriever on later turns given hindsight: an upper bound on what any
    query the desk builds from the conversation can reach with this retriever and index."""
    out: dict[str, list[float]] = {name: [] for name in CEILINGS}
    for row in rows:
        gold = set(row["gold_ids"])
        if not gold or not Conversation.from_history(row["history"]).turns:
            continue  # first turns have no conversation to read
        for name, query in zip(CEILINGS, (f"{row['query']} {row['answer']}", row["answer"]),
                               strict=True):
            hits = kb.search(query[:3900], k=k)
            out[name].append(float(bool(hits) and hits[0].article_id in gold))
    return out


def merge(parts: Sequence[dict[str, Run]]) -> dict[str, Run]:
    merged: dict[str, Run] = {}
    for part in parts:
        for name, run in part.items():
            m = merged.setdefault(name, Run())
            m.turns += run.turns
            m.later_ms += run.later_ms
            m.closed += run.closed
            m.clarified_history += run.clarified_history
            m.played += run.played
            for name, values in run.ceilings.items():
                m.ceilings.setdefault(name, []).extend(values)
    return merged


def mean(values: Sequence[float]) -> str:
    return f"{statistics.mean(values):.3f}" if values else "-"


def share(turns: Sequence[Turn], test: Callable[[Turn], bool]) -> str:
    if not turns:
        return "-"
    hit = sum(1 for t in turns if test(t))
    return f"{hit / len(turns):.0%} ({hit}/{len(turns)})"


def table(results: dict[str, Run]) -> list[str]:
    lines = [
        "| variant | turns | hit@1 top (n) | hit@1 cited | auto-replied | reply recall | "
        "reply precision | reply F1 (n) | judged continuation |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in results.items():
        for kind in ("first", "later"):
            ts = [t for t in run.turns if t.kind == kind]
            tops = [t.top for t in ts if t.top is not None]
            cited = [t.cited for t in ts if t.cited is not None]
            f1 = [t.prf for t in ts if t.prf is not None]
            r, p, f = (mean([x[i] for x in f1]) for i in range(3))
            lines.append(
                f"| {name} | {kind} | {mean(tops)} ({len(tops)}) | {mean(cited)} | "
                f"{mean([float(t.action == 'auto_reply') for t in ts])} | {r} | {p} | "
                f"{f} ({len(f1)}) | {mean([float(t.continuation) for t in ts])} |")
    return lines


def label_table(results: dict[str, Run]) -> list[str]:
    """Clarifying questions and refusals per answerability label."""
    head = " | ".join(f"{x} clarified | {x} not answered" for x in LABELS)
    lines = [f"| variant | {head} |", "|---|" + "---:|" * (2 * len(LABELS))]
    for name, run in results.items():
        cells = []
        for label in LABELS:
            ts = [t for t in run.turns if t.label == label]
            cells += [share(ts, lambda t: t.action == "clarify"),
                      share(ts, lambda t: t.action == "escalated" or (
                          t.action == "auto_reply" and not t.answered))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def report(per_collection: dict[str, dict[str, Run]], args: argparse.Namespace,
           seconds: float) -> str:
    body = ["## Multi-turn conversations through the pipeline (MTRAG-UN fiqa + clapnq)", "",
            "Each labelled row is played as one session of a new customer through "
            "`SupportPipeline.process_message` (default backends, no LLM): its earlier customer "
            "turns in order, then its query, which is scored: *first* = a conversation's first "
            "message, *later* = a turn with earlier customer turns. hit@1 top = the first "
            "retrieved article is a gold passage; hit@1 cited = the first article the "
            "auto-reply cited is (no reply, a clarifying question or no citation = miss); "
            "reply recall/precision/F1 = stemmed content words of what the customer got (the "
            "reply, the question or the holding reply) vs the human reference, ANSWERABLE and "
            "PARTIAL turns. Strategies (`SUPPORT_CONVERSATION_SEARCH`): **plan** (default: "
            "continuation or new topic, RRF of the context query, the latest message weighted "
            "by its own confidence and the last answer's article), **last** (last message "
            "alone), **joined** (all customer turns as one query). Variants ending in "
            f"`{OFF}` ran with `SUPPORT_CLARIFY_ENABLED=false` (before the clarifying "
            "question); the others with the default (on).", ""]
    merged = merge(list(per_collection.values()))
    body += ["### Both collections", "", *table(merged), ""]
    body += ["### Clarifying questions and refusals per answerability label (both "
             "collections)", "",
             "*clarified* = the labelled turn got one clarifying question (target: >= 50 % "
             "of UNDERSPECIFIED, <= 5 % of ANSWERABLE); *not answered* = it got \"not "
             "covered\" or a handoff to a person (UNANSWERABLE: caught; ANSWERABLE: refused).",
             "", *label_table(merged), ""]
    for collection, results in per_collection.items():
        body += [f"### {collection}", "", *table(results), ""]
    bounds = next((r.ceilings for r in merged.values() if r.ceilings), {})
    if bounds:
        body += ["Retrieval ceiling with hindsight (search only, same index): later turns "
                 "searched with " + "; with ".join(
                     f"{name}: hit@1 {mean(values)} ({len(values)})"
                     for name, values in bounds.items())
                 + ". No query built from the conversation can hand the retriever more than "
                 "the answer it is looking for.", ""]
    plan_later = merged.get("plan", Run()).later_ms
    if plan_later:
        ms = sorted(plan_later)
        p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
        body.append(f"Pipeline wall clock of follow-up turns (plan): median "
                    f"{statistics.median(ms):.0f} ms, p95 {p95:.0f} ms over {len(ms)} turns "
                    "(small KB, shared machine: see the pipeline section for the budget).")
    body.append("Escalations the bench closed as a specialist so the AI took the next turn: "
                + ", ".join(f"{n} {r.closed} of {r.played} turns" for n, r in merged.items())
                + ". Clarifying questions on replayed earlier turns (the data's next turn "
                "then stands as the answer): "
                + ", ".join(f"{n} {r.clarified_history}" for n, r in merged.items()) + ".")
    limit = f"first {args.limit} rows (by id) per collection" if args.limit else (
        "all labelled rows")
    body += ["", f"Sample: {limit}; whole run {seconds / 60:.1f} min.", "",
             machine_line("bench/multiturn.py")]
    return "\n".join(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="rows per collection (0 = all)")
    parser.add_argument("--collections", default="fiqa,clapnq")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--before", choices=("plan", "all", "none"), default="plan",
                        help="strategies also run with clarification off (default: plan)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep the embedding cache here between runs (default: none)")
    parser.add_argument("--dump", type=Path, default=None, help="write every scored turn here")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.strategies = [s for s in args.strategies.split(",") if s]
    data = require_data(FOLDER) / FOLDER
    base = Path(tempfile.mkdtemp(prefix="bench-multiturn-"))
    started = time.perf_counter()
    per_collection = {c: run_collection(data, c, args, base)
                      for c in args.collections.split(",") if c}
    body = report(per_collection, args, time.perf_counter() - started)
    print(body)
    if args.dump is not None:
        with args.dump.open("w", encoding="utf-8") as out:
            for results in per_collection.values():
                for name, run in results.items():
                    for t in run.turns:
                        out.write(json.dumps({"variant": name, **asdict(t)}) + "\n")
    if not args.no_write:
        replace_section("multiturn", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
