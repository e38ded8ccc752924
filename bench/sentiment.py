"""How well does the sentiment analyser spot frustrated messages?

Two public data sets, one message at a time, no conversation or history:

* GoEmotions (Reddit comments): frustrated = the labels include anger, annoyance
  or disappointment.
* TweetEval sentiment (tweets): frustrated = labelled negative.

Two methods: (a) the VADER lexicon alone (compound <= -0.05, its documented
cut-off) and (b) ``RuleSentimentAnalyzer`` (level frustrated, angry or urgent, or
frustration >= the router's frustration threshold). Thresholds are chosen on the
dev/val splits only (``--sweep`` prints that choice); the figures reported are on
the test splits.

    .venv/bin/python bench/sentiment.py            # test figures, writes docs/benchmarks.md
    .venv/bin/python bench/sentiment.py --sweep    # also sweep frustrated_compound on dev/val

Writes its section of docs/benchmarks.md (``--no-write`` to only print).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cpu_model, replace_section  # noqa: E402
from support_core.config import Settings
from support_core.models import SentimentLevel
from support_core.sentiment import Evidence, RuleSentimentAnalyzer, SentimentThresholds

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- sentiment:start -->", "<!-- sentiment:end -->"
FRUSTRATED_EMOTIONS = {"anger", "annoyance", "disappointment"}
NEGATIVE_LEVELS = {SentimentLevel.FRUSTRATED, SentimentLevel.ANGRY, SentimentLevel.URGENT}
SWEEP = (-0.05, -0.1, -0.15, -0.2, -0.25, -0.3, -0.35, -0.4, -0.5)


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str
    dev: str
    test: str
    positive: Callable[[dict[str, Any]], bool]
    rule: str  # how the positive class is defined, for the report


DATASETS = (
    Dataset("GoEmotions", "goemotions", "dev.jsonl", "test.jsonl",
            lambda row: bool(FRUSTRATED_EMOTIONS & set(row["label"])),
            "labels include anger, annoyance or disappointment"),
    Dataset("TweetEval sentiment", "tweeteval_sentiment", "val.jsonl", "test.jsonl",
            lambda row: row["label"] == "negative", "label is negative"),
)


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float


def prf(truth: Sequence[bool], predicted: Sequence[bool]) -> Scores:
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    fp = sum(p and not t for t, p in zip(truth, predicted, strict=True))
    fn = sum(t and not p for t, p in zip(truth, predicted, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1)


def load(path: Path, limit: int | None) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return rows[:limit] if limit else rows


def gather(rows: Sequence[dict[str, Any]], analyzer: RuleSentimentAnalyzer) -> list[Evidence]:
    """The rule evidence of each message (VADER + phrase signals), computed once."""
    return [analyzer.evidence(row["text"], []) for row in rows]


def vader_predictions(evidence: Sequence[Evidence]) -> list[bool]:
    return [ev.compound <= -0.05 for ev in evidence]


def analyzer_predictions(
    evidence: Sequence[Evidence], thresholds: SentimentThresholds, frustration_threshold: float
) -> list[bool]:
    decide = RuleSentimentAnalyzer(thresholds).decide
    results = [decide(ev) for ev in evidence]
    return [r.level in NEGATIVE_LEVELS or r.frustration_score >= frustration_threshold
            for r in results]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data = Path(args.data)
    missing = [d.folder for d in DATASETS if not (data / d.folder / d.test).exists()]
    if missing:
        print(f"Data not found: {', '.join(str(data / m) for m in missing)}.\n"
              "This benchmark reads ../shared/data/{goemotions,tweeteval_sentiment} "
              "(see ../shared/data/README.md); pass --data DIR to point elsewhere.",
              file=sys.stderr)
        return 2
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    base = RuleSentimentAnalyzer()
    lines = _report_head(args, settings, base.thresholds)
    if args.sweep:
        lines += sweep(data, base, settings.frustration_threshold, args.limit)
    lines += evaluate(data, base, settings.frustration_threshold, args.limit)
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        replace_section("sentiment", body, BENCHMARKS)
        print(f"\nWrote the sentiment section of {os.path.relpath(BENCHMARKS, Path.cwd())}")
    return 0


def evaluate(data: Path, base: RuleSentimentAnalyzer, frustration_threshold: float,
             limit: int | None) -> list[str]:
    lines = ["| data set (test split) | messages | frustrated | method | precision | recall "
             "| F1 |", "|---|---:|---:|---|---:|---:|---:|"]
    for ds in DATASETS:
        rows = load(data / ds.folder / ds.test, limit)
        truth = [ds.positive(r) for r in rows]
        started = time.perf_counter()
        evidence = gather(rows, base)
        ours = analyzer_predictions(evidence, base.thresholds, frustration_threshold)
        rate = len(rows) / (time.perf_counter() - started)
        for method, predicted in (("VADER alone (compound <= -0.05)", vader_predictions(evidence)),
                                  ("RuleSentimentAnalyzer", ours)):
            s = prf(truth, predicted)
            lines.append(f"| {ds.name} | {len(rows):,} | {sum(truth):,} | {method} | "
                         f"{s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} |")
        print(f"  {ds.name}: {rate:,.0f} messages/s through the analyser", file=sys.stderr)
    return lines + ["", "Limits: these are general social-media texts seen one at a time, so they "
                    "measure the tone part only. The support signals (legal threats, double "
                    "charges, repeated contact ...) and the history floor, which are the point "
                    "of the analyser, are checked by tests/test_sentiment.py, not by these "
                    "figures.", ""]


def sweep(data: Path, base: RuleSentimentAnalyzer, frustration_threshold: float,
          limit: int | None) -> list[str]:
    """F1 on the dev/val splits for each candidate ``frustrated_compound``."""
    table = {ds.name: _sweep_one(ds, data, base, frustration_threshold, limit) for ds in DATASETS}
    means = {c: sum(t[c] for t in table.values()) / len(table) for c in SWEEP}
    best = max(SWEEP, key=lambda c: means[c])
    lines = ["Dev/val sweep of `frustrated_compound` (F1 of RuleSentimentAnalyzer; the test "
             "splits are not used):", "",
             "| frustrated_compound | " + " | ".join(table) + " | mean |",
             "|---:|" + "---:|" * (len(table) + 1)]
    for c in SWEEP:
        cells = " | ".join(f"{t[c]:.3f}" for t in table.values())
        mark = " (best)" if c == best else ""
        lines.append(f"| {c:+.2f}{mark} | {cells} | {means[c]:.3f} |")
    current = base.thresholds.frustrated_compound
    lines += ["", f"Best on dev/val: {best:+.2f}; the analyser's default is {current:+.2f}.", ""]
    return lines


def _sweep_one(ds: Dataset, data: Path, base: RuleSentimentAnalyzer,
               frustration_threshold: float, limit: int | None) -> dict[float, float]:
    rows = load(data / ds.folder / ds.dev, limit)
    truth = [ds.positive(r) for r in rows]
    evidence = gather(rows, base)
    return {c: prf(truth, analyzer_predictions(
        evidence, replace(base.thresholds, frustrated_compound=c), frustration_threshold)).f1
        for c in SWEEP}


def _report_head(args: argparse.Namespace, settings: Settings,
                 th: SentimentThresholds) -> list[str]:
    command = "`.venv/bin/python bench/sentiment.py" + (" --sweep" if args.sweep else "") + (
        f" --limit {args.limit}" if args.limit else "") + "`"
    positives = "; ".join(f"{d.name}: {d.rule}" for d in DATASETS)
    return [
        "## Sentiment: frustration detection (single message, no history)", "",
        f"Command: {command}",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores (shared), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}.",
        f"Frustrated (positive class): {positives}.",
        "RuleSentimentAnalyzer counts as frustrated when its level is frustrated, angry or "
        f"urgent, or its frustration score is >= {settings.frustration_threshold} (router "
        f"threshold); frustrated_compound = {th.frustrated_compound:+.2f}, chosen on the "
        "dev/val splits.", "",
    ]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding the data sets")
    p.add_argument("--sweep", action="store_true", help="also sweep thresholds on dev/val")
    p.add_argument("--limit", type=int, default=None, help="first N rows per split (smoke runs)")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p


if __name__ == "__main__":
    sys.exit(main())
