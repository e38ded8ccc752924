"""PII redaction quality: recall on public-format test values, false positives on look-alikes.

The cases (tests/fixtures/pii_cases.jsonl) are built from published formats: card-brand test
numbers, example IBANs, documented key shapes, example emails and phones, and look-alikes that
must stay readable (order and invoice ids, dates, tracking numbers, amounts, versions).

    .venv/bin/python bench/pii.py            # prints and writes the `pii` section
    .venv/bin/python bench/pii.py --no-write # prints only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, machine_line, replace_section  # noqa: E402
from support_core.redaction import Finding, find_pii  # noqa: E402

CASES = ROOT / "tests" / "fixtures" / "pii_cases.jsonl"


@dataclass
class Score:
    expected: int = 0
    found: int = 0
    findings: int = 0
    false_positives: int = 0
    negative_texts: int = 0
    negative_texts_touched: int = 0
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    per_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [found, expected]


def load_cases(path: Path = CASES) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _covers(f: Finding, kind: str, start: int, end: int) -> bool:
    return f.kind == kind and f.start <= start + 1 and f.end >= end - 1 and f.end > start


def score(cases: list[dict[str, object]]) -> Score:
    s = Score()
    for case in cases:
        text = str(case["text"])
        expect = [tuple(e) for e in case["expect"]]  # type: ignore[union-attr]
        findings = find_pii(text)
        s.findings += len(findings)
        matched: set[int] = set()
        for kind, value in expect:
            start = text.find(value)
            end = start + len(value)
            s.expected += 1
            hit = next((i for i, f in enumerate(findings) if _covers(f, kind, start, end)), None)
            counts = s.per_kind.setdefault(kind, [0, 0])
            counts[1] += 1
            if hit is None:
                s.misses.append(f"{kind} in {text!r}")
            else:
                s.found += 1
                counts[0] += 1
                matched.add(hit)
        extra = [f for i, f in enumerate(findings) if i not in matched]
        s.false_positives += len(extra)
        s.extras += [f"{f.kind} {text[f.start:f.end]!r} in {text!r}" for f in extra]
        if not expect:
            s.negative_texts += 1
            s.negative_texts_touched += bool(findings)
    return s


def report(s: Score, seconds: float, n_cases: int) -> str:
    rows = "\n".join(
        f"| {kind} | {found}/{total} |" for kind, (found, total) in sorted(s.per_kind.items())
    )
    misses = "\n".join(f"- missed: {m}" for m in s.misses) or "- none missed"
    extras = "\n".join(f"- false positive: {e}" for e in s.extras) or "- no false positives"
    return f"""## PII redaction: recall and false positives

{machine_line("bench/pii.py")}

{n_cases} cases from `tests/fixtures/pii_cases.jsonl` (public test card numbers of 9 brands,
example IBANs, documented key/token shapes, emails, phones, SSN-like ids; and
{s.negative_texts} look-alike texts that must stay readable: order/invoice/ticket ids, dates,
tracking numbers, amounts, versions, UUIDs). A value counts as found when a finding of the same
kind covers it. `support_core.redaction.find_pii`, {1000 * seconds / n_cases:.2f} ms per text.

| measure | value |
|---|---|
| recall (values found / expected) | {s.found}/{s.expected} = {s.found / max(1, s.expected):.3f} |
| false positives (findings not expected) | {s.false_positives} of {s.findings} findings |
| look-alike texts changed | {s.negative_texts_touched}/{s.negative_texts} |

| kind | found/expected |
|---|---|
{rows}

{misses}
{extras}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    cases = load_cases()
    started = time.perf_counter()
    s = score(cases)
    seconds = time.perf_counter() - started
    body = report(s, seconds, len(cases))
    print(body)
    if not args.no_write:
        replace_section("pii", body)


if __name__ == "__main__":
    main()
