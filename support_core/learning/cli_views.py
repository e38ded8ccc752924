"""Text and JSON output of the learning-loop commands (kept out of ``cli.py``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from support_core.errors import InputError
from support_core.learning.loop import LearningLoop
from support_core.learning.regression import RegressionReport
from support_core.learning.replay import ReplayReport

Printer = Callable[[Any], None]


def run_gaps(loop: LearningLoop, args: argparse.Namespace, print_json: Printer) -> int:
    if args.action != "list" and not args.gap_id:
        raise InputError(f"Give the gap id: deskpilot gaps {args.action} GAP_ID.")
    if args.action == "publish":
        gap, article_id = loop.publish(args.gap_id, title=args.title)
        if args.json:
            print_json({"gap_id": gap.gap_id, "article_id": article_id,
                        "title": gap.suggested_title, "status": gap.status.value})
        else:
            print(f"Published {gap.gap_id} as article {article_id}: {gap.suggested_title}")
        return 0
    if args.action == "dismiss":
        gap = loop.dismiss(args.gap_id)
        print_json({"gap_id": gap.gap_id, "status": gap.status.value}) if args.json else print(
            f"Dismissed {gap.gap_id}.")
        return 0
    gaps = loop.gaps()
    if args.json:
        print_json([g.to_json() for g in gaps])
        return 0
    if not gaps:
        print("No knowledge gaps: every human resolution so far had a usable AI answer.")
    for g in gaps:
        print(f"{g.gap_id}  [{g.status.value}] x{g.count}  {g.suggested_title}")
        for q in g.questions[:3]:
            print(f"   asked: {q[:120]}")
        if g.agent_answers:
            print(f"   agent: {g.agent_answers[-1][:160]}")
        if g.article_id:
            print(f"   article: {g.article_id}")
    return 0


def print_regression(report: RegressionReport, as_json: bool, print_json: Printer) -> int:
    if as_json:
        print_json(report.to_json())
        return 0
    for c in report.results:
        mark = "answered" if c.now_answered else f"escalated ({c.now_rule})"
        cite = " cites the agent's article" if c.cites_agent_article else ""
        print(f"{c.ticket_id}  {mark}{cite}  {c.question[:80]}")
    print(f"cases {report.cases}, now answered {report.now_answered}, "
          f"citing the agent's article {report.cites_agent_article}")
    return 0


def print_replay(report: ReplayReport, as_json: bool, print_json: Printer) -> int:
    if as_json:
        print_json(report.to_json())
        return 0
    print(f"{report.tickets} tickets re-decided")
    for label, side in (("current", report.current), ("proposed", report.proposed)):
        queues = ", ".join(f"{q} {n}" for q, n in side.queues.items())
        print(f"{label:9} escalation rate {side.escalation_rate:.1%}  ({queues})")
    for ch in report.changed:
        print(f"  {ch.ticket_id}: {ch.current_queue} ({ch.current_rule}) -> "
              f"{ch.proposed_queue} ({ch.proposed_rule})  {ch.subject[:60]}")
    return 0
