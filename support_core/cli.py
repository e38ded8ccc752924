"""``python -m support_core`` / ``deskpilot``: a thin command line over the service.

Every command turns a ``DeskpilotError`` into a one-line message on stderr and
exit code 2; ``--json`` output is one JSON document (or one per line for
``sentiment --file``) so scripts can rely on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from support_core.chat_view import NOT_SOLVED
from support_core.config import Settings
from support_core.errors import DeskpilotError

Handler = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Handler] = {}


def command(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def _service(settings: Settings) -> Any:
    from support_core.wiring import build_service

    return build_service(settings)


# ---------------------------------------------------------------------------- knowledge base
@command("ingest")
def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from support_core.wiring import build_knowledge_base

    kb = build_knowledge_base(settings)
    bar = tqdm(total=0, unit="file", desc="Ingesting", file=sys.stderr, disable=args.json)

    def progress(done: int, total: int, name: str) -> None:
        bar.total = total
        bar.set_postfix_str(Path(name).name[:40])
        bar.update(done - bar.n)

    results = kb.ingest_paths(
        [Path(p) for p in args.paths],
        category=args.category,
        product=args.product,
        progress=progress,
        replace=True if args.replace else None,
    )
    bar.close()
    if args.json:
        _print_json([r.model_dump(mode="json") for r in results])
    else:
        for r in results:
            detail = r.error if r.error else f"{r.chunks} chunks"
            print(f"{r.status.value:9} {r.source}  ({detail})")
            for flag in r.flags:
                print(f"          flagged, held until approved: {flag}")
        counts = {
            s: sum(1 for r in results if r.status.value == s)
            for s in ("added", "updated", "unchanged", "failed")
        }
        chunks = sum(r.chunks for r in results if r.status.value != "failed")
        print(", ".join(f"{v} {k}" for k, v in counts.items()) + f"; {chunks} chunks")
    return 1 if results and all(r.status.value == "failed" for r in results) else 0


@command("flagged")
def _flagged(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.wiring import build_knowledge_base

    rows = build_knowledge_base(settings).flagged_passages(include_approved=args.all)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("No flagged passages.")
    for r in rows:
        state = f"approved by {r['approved_by']}" if r["approved_by"] else "held"
        print(f"{r['chunk_id']}  [{r['flags']}]  {state}\n   {r['excerpt'][:160]!r}")
    return 0


@command("approve")
def _approve(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.wiring import build_knowledge_base

    n = build_knowledge_base(settings).approve_passages(args.target, args.by)
    print(f"Approved {n} passage(s); they are searchable now.")
    return 0


@command("search")
def _search(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.wiring import build_knowledge_base

    hits = build_knowledge_base(settings).search(
        args.query, category=args.category, product=args.product, k=args.k
    )
    if args.json:
        _print_json([h.model_dump(mode="json") for h in hits])
        return 0
    if not hits:
        print("No matching articles. Is the knowledge base ingested? (deskpilot ingest data/kb)")
    for i, h in enumerate(hits, 1):
        dense = f"{h.dense_score:.3f}" if h.dense_score is not None else "-"
        bm25 = f"{h.bm25_score:.2f}" if h.bm25_score is not None else "-"
        path = " > ".join(h.heading_path)
        print(
            f"{i}. {h.title}  [{h.category}/{h.product}]  fused={h.fused_score:.4f} "
            f"dense={dense} bm25={bm25}\n   {path}\n   {h.text[:200].replace(chr(10), ' ')}"
        )
    return 0


@command("eval-retrieval")
def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.kb.evaluation import evaluate_retrieval

    for p in (args.corpus, args.queries):
        if not Path(p).is_file():
            raise DeskpilotError(f"File not found: {p}")
    from support_core.wiring import build_rewriter

    report = evaluate_retrieval(
        Path(args.corpus), Path(args.queries), k=args.k, mode=args.mode, settings=settings,
        history=not args.no_history, rewrite=build_rewriter(settings),
    )
    keys = ["hit@1", "ndcg@10", "recall@1", "recall@5", "recall@10", "mrr@10", "queries",
            "with_history"]
    if args.json:
        _print_json({k: report[k] for k in keys})
    else:
        for k in keys:
            v = report[k]
            print(f"{k:10} {v:.4f}" if isinstance(v, float) else f"{k:10} {v}")
    return 0


# ---------------------------------------------------------------------------- customer side
@command("ask")
def _ask(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    session = args.session or f"cli-{args.customer}"
    result = svc.pipeline.process_message(
        args.customer, session, args.message, category=args.category
    )
    if args.json:
        _print_json(result.to_public_json())
        return 0
    data = result.to_public_json()
    print(result.text_with_sources())
    print(
        f"\n[{data['action']}] ticket={data['ticket_id']} confidence={data['confidence']:.2f} "
        f"sentiment={data['sentiment']['level']} "
        f"frustration={data['sentiment']['frustration_score']:.2f}"
    )
    if result.action == "escalated":
        e = data["escalation"]
        print(f"escalated to {e['queue']} ({e['priority']}): {e['reason']}")
    if result.action == "auto_reply" and result.ticket.draft and result.ticket.draft.answered:
        print(f"{NOT_SOLVED} (--session {session})")
    if result.action == "clarify":
        options = (result.ticket.escalation.inputs.get("options") or []
                   if result.ticket.escalation else [])
        for n, option in enumerate(options, 1):
            print(f"  {n}. {option['label']}")
        print(f"answer in the same session (--session {session}): a number, a topic or more "
              "detail")
    return 0


@command("sentiment")
def _sentiment(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.wiring import build_sentiment

    analyzer = build_sentiment(settings)
    if args.file:
        for line in Path(args.file).read_text(encoding="utf-8").splitlines():
            if line.strip():
                result = analyzer.analyze(json.loads(line)["text"], [])
                print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
        return 0
    if args.text is None:
        raise DeskpilotError("Give the text to score, or --file ROWS.jsonl.")
    result = analyzer.analyze(args.text, [])
    if args.json:
        _print_json(result.model_dump(mode="json"))
    else:
        print(
            f"{result.level.value} (confidence {result.confidence:.2f}, "
            f"frustration {result.frustration_score:.2f}) signals: "
            f"{', '.join(result.signals) or 'none'}"
        )
    return 0


# ---------------------------------------------------------------------------- human side
@command("handoffs")
def _handoffs(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.models import HandoffStatus, Queue

    svc = _service(settings)
    items = svc.desk.queue(
        queue=Queue(args.queue) if args.queue else None,
        status=HandoffStatus(args.status) if args.status else None,
    )
    if not args.status:  # by default, only what still needs a human
        items = [h for h in items if h.status != HandoffStatus.RESOLVED]
    if args.json:
        _print_json(svc.views.handoffs_json(items))
        return 0
    if not items:
        print("No handoffs waiting.")
    for h in items:
        who = f" claimed by {h.claimed_by}" if h.claimed_by else ""
        print(
            f"{h.handoff_id}  {h.queue.value:7} {h.priority.value:8} {h.status.value}{who}  "
            f"ticket={h.ticket_id} customer={h.customer_id}\n   {h.reason}"
        )
    return 0


@command("claim")
def _claim(args: argparse.Namespace, settings: Settings) -> int:
    pkg = _service(settings).desk.claim(args.handoff_id, args.agent)
    print(f"{args.agent} claimed {pkg.handoff_id} (ticket {pkg.ticket_id}).")
    if pkg.draft:
        draft = pkg.draft
        print(f"\nAI draft (confidence {draft.confidence:.2f}):\n{draft.text_with_sources()}")
    print(f"\nSuggested action: {pkg.suggested_action}")
    return 0


@command("reply")
def _reply(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    desk = svc.desk
    if args.macro and args.message:
        raise DeskpilotError("Give either the reply text or --macro, not both.")
    if not args.macro and not args.message:
        raise DeskpilotError("Give the reply text, or --macro NAME.")
    text = desk.fill_macro(args.macro, args.handoff_id, args.agent) if args.macro else args.message
    cited = svc.learning.check_citations(args.cite) if args.cite else None
    ticket = desk.reply(args.handoff_id, args.agent, text, cited_articles=cited)
    print(f"Reply sent on ticket {ticket.ticket_id}; status {ticket.status.value}.")
    return 0


@command("note")
def _note(args: argparse.Namespace, settings: Settings) -> int:
    _service(settings).desk.add_note(args.handoff_id, args.agent, args.text)
    print(f"Internal note added to {args.handoff_id} (not shown to the customer).")
    return 0


@command("reassign")
def _reassign(args: argparse.Namespace, settings: Settings) -> int:
    desk = _service(settings).desk
    if args.to:
        pkg = desk.reassign(args.handoff_id, args.to, args.manager)
        print(f"{pkg.handoff_id} is now claimed by {pkg.claimed_by}.")
    else:
        desk.release(args.handoff_id, args.manager)
        print(f"{args.handoff_id} is back in the queue.")
    return 0


# ---------------------------------------------------------------------------- staff and macros
@command("users")
def _users(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.wiring import build_users

    users = build_users(settings)
    if args.users_command == "add":
        if not args.password_stdin:
            raise DeskpilotError("Pass the password on standard input with --password-stdin.")
        password = sys.stdin.readline().rstrip("\r\n")
        user = users.add(args.name, args.role, password)
        print(f"Added {user.role.value} {user.name}.")
    elif args.users_command == "disable":
        user = users.disable(args.name)
        print(f"Disabled {user.name}; their sessions are ended.")
    else:
        rows = [u.model_dump(mode="json", include={"name", "role", "active", "created_at"})
                for u in users.list()]  # fmt: skip
        if args.json:
            _print_json(rows)
        elif not rows:
            print("No users yet. Add the first admin: deskpilot users add NAME --role admin "
                  "--password-stdin")
        for r in rows if not args.json else []:
            print(f"{r['name']:24} {r['role']:8} {'active' if r['active'] else 'disabled'}")
    return 0


@command("macros")
def _macros(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.wiring import build_service

    records = build_service(settings).records
    if args.macros_command == "add":
        macro = records.save_macro(args.name, args.text, by="cli")
        print(f"Saved macro {macro.name}.")
        return 0
    macros = [m.model_dump(mode="json") for m in records.macros()]
    if args.json:
        _print_json(macros)
    elif not macros:
        print("No macros yet: deskpilot macros add NAME TEXT")
    for m in macros if not args.json else []:
        print(f"{m['name']}: {m['text']}")
    return 0


@command("resolve")
def _resolve(args: argparse.Namespace, settings: Settings) -> int:
    ticket = _service(settings).desk.resolve(args.handoff_id, args.agent, args.note or "")
    print(f"Ticket {ticket.ticket_id} resolved.")
    return 0


@command("csat")
def _csat(args: argparse.Namespace, settings: Settings) -> int:
    _service(settings).desk.rate(args.ticket_id, args.score, args.comment or "")
    print(f"Recorded a {args.score}/5 rating for {args.ticket_id}.")
    return 0


@command("metrics")
def _metrics(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.models import utcnow

    until = utcnow()
    svc = _service(settings)
    metrics = svc.outcomes.metrics(until - timedelta(days=args.days), until)
    data = metrics.model_dump(mode="json")
    data.update(svc.learning.metrics(svc.outcomes, until - timedelta(days=args.days), until))
    data["sla_attainment"] = svc.views.sla_attainment(until - timedelta(days=args.days), until)
    if args.json:
        _print_json(data)
    else:
        for k, v in data.items():
            print(f"{k:32} {v}")
    return 0


# ---------------------------------------------------------------------------- learning loop
@command("gaps")
def _gaps(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.learning.cli_views import run_gaps

    return run_gaps(_service(settings).learning, args, _print_json)


@command("regression")
def _regression(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.learning.cli_views import print_regression

    svc = _service(settings)
    return print_regression(svc.learning.regression(svc.pipeline), args.json, _print_json)


@command("replay")
def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.learning.cli_views import print_replay
    from support_core.learning.replay import parse_assignments

    changes = parse_assignments(args.set or [])
    report = _service(settings).learning.replay(changes, days=args.days)
    return print_replay(report, args.json, _print_json)


@command("demo")
def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from support_core.demo import load_demo, remove_demo

    svc = _service(settings)
    if args.remove:
        print(remove_demo(svc))
        return 0
    print(load_demo(svc, progress=lambda i, n, what: print(f"[{i}/{n}] {what}", file=sys.stderr)))
    return 0


@command("repair")
def _repair(args: argparse.Namespace, settings: Settings) -> int:
    report = _service(settings).repair(args.stuck_seconds)
    if args.json:
        _print_json(report.model_dump(mode="json"))
    else:
        print(report.summary())
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deskpilot", description="Deskpilot support desk")
    p.add_argument("--data-dir", help="override SUPPORT_DATA_DIR for this command")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", help="add or update knowledge-base articles")
    s.add_argument("paths", nargs="+", help="files or folders (.md .txt .html .pdf)")
    s.add_argument("--category"), s.add_argument("--product")
    s.add_argument("--json", action="store_true")
    s.add_argument("--replace", action="store_true",
                   help="let these files replace existing articles with the same id")

    s = sub.add_parser("flagged", help="passages held out of search as instruction-like")
    s.add_argument("--all", action="store_true", help="include approved ones")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("approve", help="approve a flagged passage (chunk id) or article")
    s.add_argument("target"), s.add_argument("--by", required=True)

    s = sub.add_parser("search", help="hybrid search of the knowledge base")
    s.add_argument("query"), s.add_argument("--category"), s.add_argument("--product")
    s.add_argument("-k", type=int, default=5), s.add_argument("--json", action="store_true")

    s = sub.add_parser("eval-retrieval", help="measure retrieval on a corpus + queries (JSONL)")
    s.add_argument("--corpus", required=True), s.add_argument("--queries", required=True)
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    s.add_argument("--no-history", action="store_true",
                   help="search each row's last message alone, ignoring its history")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("ask", help="send a customer message through the pipeline")
    s.add_argument("--customer", required=True), s.add_argument("--session")
    (
        s.add_argument("--category"),
        s.add_argument("message"),
        s.add_argument("--json", action="store_true"),
    )

    s = sub.add_parser("sentiment", help="score text alone")
    s.add_argument("text", nargs="?"), s.add_argument("--file", help='JSONL rows {"text": ...}')
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("handoffs", help="list open handoffs (queued or claimed)")
    s.add_argument("--queue", choices=["tier1", "tier2", "manager"])
    s.add_argument("--status", choices=["queued", "claimed", "resolved"])
    s.add_argument("--json", action="store_true")

    for name, helptext in (("claim", "claim a handoff"), ("resolve", "resolve a handoff")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("handoff_id"), s.add_argument("--agent", required=True)
        if name == "resolve":
            s.add_argument("--note")

    s = sub.add_parser("reply", help="send an agent reply to the customer")
    (
        s.add_argument("handoff_id"),
        s.add_argument("--agent", required=True),
        s.add_argument("message", nargs="?"),
    )
    s.add_argument("--cite", action="append", metavar="ARTICLE_ID",
                   help="cite a knowledge-base article (repeatable)")
    s.add_argument("--macro", help="reply with this macro, its placeholders filled in")

    s = sub.add_parser("note", help="add an internal note (never shown to the customer)")
    s.add_argument("handoff_id"), s.add_argument("--agent", required=True), s.add_argument("text")

    s = sub.add_parser("reassign", help="(managers) hand a ticket to another agent, or release it")
    s.add_argument("handoff_id"), s.add_argument("--manager", required=True)
    s.add_argument("--to", help="the agent to give it to; without it the ticket is released")

    s = sub.add_parser("users", help="staff accounts: add, list, disable")
    users = s.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    u = users.add_parser("add", help="add a user (password read from standard input)")
    u.add_argument("name"), u.add_argument("--role", required=True,
                                           choices=["agent", "manager", "admin"])
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    u = users.add_parser("list", help="names and roles (never the password hash)")
    u.add_argument("--json", action="store_true")
    u = users.add_parser("disable", help="disable a user and end their sessions")
    u.add_argument("name")

    s = sub.add_parser("macros", help="reply templates: add, list")
    macros = s.add_subparsers(dest="macros_command", required=True, metavar="ACTION")
    m = macros.add_parser("add", help="add or replace a macro")
    m.add_argument("name"), m.add_argument("text")
    m = macros.add_parser("list", help="all macros")
    m.add_argument("--json", action="store_true")

    s = sub.add_parser("csat", help="record a 1-5 rating for a resolved ticket")
    s.add_argument("ticket_id"), s.add_argument("score", type=int), s.add_argument("--comment")

    s = sub.add_parser("metrics", help="support metrics over the last N days")
    s.add_argument("--days", type=int, default=30), s.add_argument("--json", action="store_true")

    s = sub.add_parser("repair", help="escalate stuck tickets and requeue invisible ones")
    s.add_argument("--stuck-seconds", type=int, help="default: SUPPORT_STUCK_TICKET_SECONDS")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("gaps", help="knowledge gaps from resolutions; publish or dismiss one")
    s.add_argument("action", nargs="?", choices=["list", "publish", "dismiss"], default="list")
    s.add_argument("gap_id", nargs="?"), s.add_argument("--title")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("regression", help="would the AI now answer what people answered?")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("replay", help="re-decide past tickets under proposed router thresholds")
    s.add_argument("--days", type=float, default=30)
    s.add_argument("--set", action="append", metavar="NAME=VALUE")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("demo", help="load (or --remove) the labelled demo data")
    s.add_argument("--remove", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `reply ID --agent A "TEXT"`: argparse matches an optional positional (the text is
    # optional with --macro) before it sees --agent, and leaves the text over
    if args.command == "reply" and args.message is None and len(extra) == 1:
        args.message, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = Settings(data_dir=Path(args.data_dir)) if args.data_dir else Settings()
        return COMMANDS[args.command](args, settings)
    except DeskpilotError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
