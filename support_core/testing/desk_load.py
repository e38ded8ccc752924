"""Drive one desk from several processes and threads at once (race tests, stress test, bench).

Workers are plain functions of picklable arguments, so ``multiprocessing`` can start them with
``spawn``. They build a real :class:`~support_core.wiring.Service` from settings; embeddings
come from the fake OpenAI-wire server (``fake_openai``) so a worker does not load the local
model, and the knowledge base is ingested once (:func:`prepare_kb`) and only read afterwards.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support_core.config import Settings
from support_core.errors import AlreadyClaimed, DeskpilotError
from support_core.models import HandoffStatus, Role, TicketStatus

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_KB = ROOT / "data" / "kb"

ANGRY = "This is ridiculous!!! I want a human NOW, you charged me twice. Message {tag}"
QUESTION = "How do I rotate my API key? Message {tag}"


def desk_settings(
    data_dir: str | Path,
    embed_url: str,
    database_url: str | None = None,
    redis_url: str | None = None,
    kb_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Settings as a picklable dict (see :func:`build`)."""
    return {
        "data_dir": str(data_dir),
        "kb_dir": str(kb_dir or SAMPLE_KB),
        "embedding_backend": "openai",
        "embedding_base_url": embed_url,
        "embedding_api_key": "not-needed",
        "embedding_model": "fake-embedding",
        "database_url": database_url,
        "redis_url": redis_url,
        # the lexicon analyser: the learned one would load the local model in every worker
        "sentiment_backend": "rules",
    }


def build(settings: dict[str, Any]) -> Any:
    """A Service for ``settings`` (from :func:`desk_settings`)."""
    from support_core.wiring import build_service

    return build_service(Settings(_env_file=None, **settings))  # type: ignore[call-arg]


SMALL_KB = ("api-authentication-api-keys.md", "api-error-codes.md",
            "account-reset-password.md", "account-support-sla.md")


def small_kb(into: Path) -> Path:
    """A copy of four sample articles: enough to answer and to escalate, quick to ingest."""
    into.mkdir(parents=True, exist_ok=True)
    for name in SMALL_KB:
        shutil.copy(SAMPLE_KB / name, into / name)
    return into


def run_load(
    settings: dict[str, Any], processes: int, threads: int, operations: int, seed: int = 7,
    customers: Sequence[str] = ("cust-a", "cust-b"), sessions: Sequence[str] = ("s1", "s2"),
) -> tuple[list[LoadReport], float]:
    """The mixed load from ``processes`` spawned processes x ``threads`` threads; returns the
    reports and the seconds from the common start to the last worker's end."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 8  # every process has imported and built its service by then
    jobs = [(settings, f"p{p}", list(customers), list(sessions), operations, seed + p, start_at,
             threads) for p in range(processes)]
    with ctx.Pool(processes) as pool:
        results = pool.starmap(mixed_worker, jobs)
    elapsed = time.time() - start_at
    return [r for rs in results for r in rs], elapsed


@contextmanager
def ready_desk(
    backend: str, data_dir: Path, embed_url: str, redis_url: str | None = None,
    kb_dir: Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Settings for a desk on ``backend`` ("sqlite" or "postgres": a fresh database, dropped
    afterwards) with the knowledge base already ingested."""
    from support_core.testing.postgres import fresh_database

    database = fresh_database() if backend == "postgres" else nullcontext(None)
    with database as url:
        settings = desk_settings(data_dir, embed_url, url, redis_url=redis_url, kb_dir=kb_dir)
        prepare_kb(settings)
        add_agents(settings, ["Ann", *(f"agent p{p}t{t}" for p in range(4) for t in range(4))])
        yield settings


AGENT_PASSWORD = "load test password"


def add_agents(settings: dict[str, Any], names: Sequence[str]) -> None:
    """Staff users for the load's agents: desk actions are refused to unknown names."""
    users = build(settings).users
    known = {u.name for u in users.list()}
    for name in names:
        if name not in known:
            users.add(name, "agent", AGENT_PASSWORD)


def prepare_kb(settings: dict[str, Any]) -> int:
    """Ingest the sample KB once; return the chunk count."""
    from support_core.wiring import build_knowledge_base

    kb = build_knowledge_base(Settings(_env_file=None, **settings))  # type: ignore[call-arg]
    results = kb.ingest_paths([Path(settings["kb_dir"])])
    return sum(r.chunks for r in results)


def customer_worker(
    settings: dict[str, Any], customer: str, session: str, tags: Sequence[str],
    angry: bool = True, start_at: float = 0.0,
) -> list[str]:
    """Send one message per tag into one session; return the tags whose call raised."""
    svc = build(settings)
    _wait(start_at)
    failed = []
    for tag in tags:
        text = (ANGRY if angry else QUESTION).format(tag=tag)
        try:
            svc.pipeline.process_message(customer, session, text)
        except DeskpilotError as exc:
            failed.append(f"{tag}: {exc.user_message}")
    return failed


def claim_worker(settings: dict[str, Any], handoff_id: str, agent: str, start_at: float) -> bool:
    """Try to claim; True when this agent won."""
    svc = build(settings)
    _wait(start_at)
    try:
        return svc.desk.claim(handoff_id, agent).claimed_by == agent
    except AlreadyClaimed:
        return False


def _wait(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


# ----------------------------------------------------------------------------- mixed load
@dataclass
class LoadReport:
    """What one mixed-load worker did; the checker compares it with what was stored."""

    sent: dict[str, list[str]] = field(default_factory=dict)  # session -> customer tags, in order
    replies: list[str] = field(default_factory=list)  # agent reply tags that were accepted
    claims: dict[str, str] = field(default_factory=dict)  # handoff id -> agent who won
    resolved: list[str] = field(default_factory=list)  # handoff ids this worker resolved
    operations: int = 0
    errors: list[str] = field(default_factory=list)


def mixed_worker(
    settings: dict[str, Any], worker: str, customers: Sequence[str], sessions: Sequence[str],
    operations: int, seed: int, start_at: float = 0.0, threads: int = 1,
) -> list[LoadReport]:
    """One process of the load: ``threads`` threads sharing one Service (as Streamlit serves
    browser sessions), each doing ``operations`` random actions (see :func:`mixed_ops`)."""
    import threading

    svc = build(settings)
    reports = [LoadReport() for _ in range(threads)]
    _wait(start_at)
    runners = [
        threading.Thread(target=mixed_ops, args=(svc, f"{worker}t{i}", customers, sessions,
                                                 operations, seed * 100 + i, reports[i]))
        for i in range(threads)
    ]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    return reports


def mixed_ops(
    svc: Any, worker: str, customers: Sequence[str], sessions: Sequence[str], operations: int,
    seed: int, report: LoadReport,
) -> None:
    """``operations`` random actions on a shared desk: customer messages into shared sessions,
    claims, agent replies and resolves. Expected refusals (claimed by someone else, already
    resolved) are part of the load; anything else is reported as an error."""
    rng = random.Random(seed)
    agent = f"agent {worker}"
    for i in range(operations):
        kind = rng.choices(["message", "claim", "reply", "resolve"], [5, 2, 2, 1])[0]
        tag = f"{worker}-{i}"
        try:
            if kind == "message":
                customer, session = rng.choice(customers), rng.choice(sessions)
                text = (ANGRY if rng.random() < 0.5 else QUESTION).format(tag=tag)
                report.sent.setdefault(f"{customer}/{session}", []).append(tag)
                svc.pipeline.process_message(customer, session, text)
            else:
                _agent_action(svc, report, kind, agent, tag, rng)
        except (AlreadyClaimed, DeskpilotError) as exc:
            if not _expected(exc):
                report.errors.append(f"{kind}: {exc!r}")
        except Exception as exc:  # noqa: BLE001 - an unexpected crash is a finding to report
            report.errors.append(f"{kind}: {exc!r}")
        report.operations += 1


def _agent_action(svc: Any, report: LoadReport, kind: str, agent: str, tag: str,
                  rng: random.Random) -> None:
    if kind == "claim":
        queued = svc.store.list_handoffs(status=HandoffStatus.QUEUED)
        if queued:
            pkg = svc.desk.claim(rng.choice(queued).handoff_id, agent)
            if pkg.claimed_by == agent:
                report.claims[pkg.handoff_id] = agent
        return
    mine = svc.store.list_handoffs(status=HandoffStatus.CLAIMED, claimed_by=agent)
    if not mine:
        return
    pkg = rng.choice(mine)
    if kind == "reply":
        report.replies.append(tag)
        try:
            svc.desk.reply(pkg.handoff_id, agent, f"Agent reply {tag}")
        except DeskpilotError:
            report.replies.remove(tag)  # refused (e.g. resolved meanwhile): nothing to find
            raise
    else:
        svc.desk.resolve(pkg.handoff_id, agent)
        report.resolved.append(pkg.handoff_id)


def _expected(exc: Exception) -> bool:
    text = str(exc)
    return isinstance(exc, AlreadyClaimed) or "already resolved" in text or "Claim ticket" in text


def check_desk(svc: Any, reports: Sequence[LoadReport]) -> list[str]:
    """Everything the workers say they did, checked against the store. Returns problems."""
    from support_core import lifecycle

    problems: list[str] = []
    stored_customer: dict[str, list[str]] = {}
    stored_agent: list[str] = []
    tickets = svc.store.list_tickets(limit=100_000)
    for ticket in sorted(tickets, key=lambda t: t.created_at):
        key = f"{ticket.customer_id}/{ticket.session_id}"
        for m in ticket.messages:
            tag = m.content.rsplit(" ", 1)[-1]
            if m.role is Role.CUSTOMER:
                stored_customer.setdefault(key, []).append(tag)
            elif m.role is Role.AGENT:
                stored_agent.append(tag)
        problems += _illegal(ticket, lifecycle)
    for key, tags in _merged_sent(reports).items():
        got = stored_customer.get(key, [])
        if sorted(got) != sorted(tags):
            problems.append(f"{key}: sent {len(tags)} customer messages, stored {len(got)}")
        for worker_tags in _per_worker(reports, key):
            order = [t for t in got if t in set(worker_tags)]
            if order != worker_tags:
                problems.append(f"{key}: one worker's messages stored out of order")
    sent_replies = sorted(t for r in reports for t in r.replies)
    if sorted(stored_agent) != sent_replies:
        problems.append(f"agent replies: sent {len(sent_replies)}, stored {len(stored_agent)}")
    winners: dict[str, list[str]] = {}
    for r in reports:
        for handoff_id, agent in r.claims.items():
            winners.setdefault(handoff_id, []).append(agent)
    problems += [f"{h}: {len(w)} claim winners" for h, w in winners.items() if len(w) != 1]
    return problems + _event_problems(svc, tickets, winners)


def _event_problems(svc: Any, tickets: Sequence[Any], winners: dict[str, list[str]]) -> list[str]:
    """The reporting events agree with the stored tickets exactly: one message event per
    stored message, one creation per ticket, one claim event per claim won."""
    counts = svc.store.event_counts(None, None, include_demo=True)
    roles = [m.role for t in tickets for m in t.messages]
    expected = {"ticket_created": len(tickets), "customer_message": roles.count(Role.CUSTOMER),
                "human_replied": roles.count(Role.AGENT),
                "auto_replied": roles.count(Role.ASSISTANT)}
    problems = [f"{name} events: {counts.get(name, 0)} for {n} stored"
                for name, n in expected.items() if counts.get(name, 0) != n]
    if counts.get("claimed", 0) < len(winners):
        problems.append(f"claimed events: {counts.get('claimed', 0)} for {len(winners)} claims won")
    return problems


def _merged_sent(reports: Sequence[LoadReport]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for r in reports:
        for key, tags in r.sent.items():
            merged.setdefault(key, []).extend(tags)
    return merged


def _per_worker(reports: Sequence[LoadReport], key: str) -> list[list[str]]:
    return [r.sent[key] for r in reports if key in r.sent]


def _illegal(ticket: Any, lifecycle: Any) -> list[str]:
    """A legal ticket: a trail of allowed moves from creation, ending in its status, and not
    stuck before a reply (created/processing) once every worker has finished."""
    problems = []
    trail = ticket.transitions
    if not trail or trail[0].to_status is not TicketStatus.CREATED:
        problems.append(f"{ticket.ticket_id}: trail does not start at created")
    for before, after in zip(trail, trail[1:], strict=False):
        if after.from_status != before.to_status or not lifecycle.can_transition(
            before.to_status, after.to_status
        ):
            problems.append(f"{ticket.ticket_id}: illegal move {before.to_status}->{after}")
    if trail and trail[-1].to_status != ticket.status:
        problems.append(f"{ticket.ticket_id}: status {ticket.status} but trail ends elsewhere")
    if ticket.status in (TicketStatus.CREATED, TicketStatus.PROCESSING):
        problems.append(f"{ticket.ticket_id}: left in {ticket.status.value}")
    return problems

