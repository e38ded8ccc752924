"""Desk timings on the demo data set: loading it, and the reads behind the inbox.

Builds a fresh data dir (so the sample KB is embedded once, as on a first start, unless
``--reuse-kb DIR`` points at a data dir whose KB is already indexed), loads the demo data
through the same ``load_demo`` the sidebar button calls, then times the inbox's reads
(queue with SLA sweep, the open ticket with notes) and the metrics view. Writes the
``desk`` section of docs/benchmarks.md.

    .venv/bin/python bench/desk.py [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine_line, replace_section  # noqa: E402
from support_core.config import Settings  # noqa: E402
from support_core.demo import load_demo  # noqa: E402
from support_core.models import utcnow  # noqa: E402
from support_core.views import InboxView  # noqa: E402
from support_core.wiring import build_service  # noqa: E402


def timed(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    try:
        settings = Settings(_env_file=None, data_dir=data, kb_dir=ROOT / "data" / "kb")  # type: ignore[call-arg]
        svc = build_service(settings)
        start = time.perf_counter()
        svc.kb.ingest_paths([settings.kb_dir])
        kb_seconds = time.perf_counter() - start
        start = time.perf_counter()
        steps: list[float] = []
        load_demo(svc, lambda i, n, what: steps.append(time.perf_counter() - start))
        demo_seconds = time.perf_counter() - start
        admin = svc.users.principal(svc.users.add("bench", "admin", "bench-password").name)
        handoffs = svc.views.inbox(admin, InboxView.OPEN)
        first = handoffs[0].handoff_id
        now = utcnow()
        inbox = timed(lambda: svc.views.inbox(admin, InboxView.OPEN), args.runs)
        detail = timed(lambda: svc.views.handoff(admin, first), args.runs)
        metrics = timed(lambda: svc.views.metrics(admin, now.replace(year=now.year - 1), now,
                                                  True), args.runs)  # fmt: skip
        tickets = len(svc.store.list_tickets(limit=10_000))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    body = "\n".join([
        "## Desk: demo data load and the inbox's reads",
        "",
        machine_line("bench/desk.py"),
        "",
        "| measure | value |",
        "|---|---:|",
        f"| sample KB ingest on a fresh data dir (first start, embeddings computed) | "
        f"{kb_seconds:.1f} s |",
        f"| `load_demo` ({tickets} tickets, {len(handoffs)} open handoffs), KB already loaded | "
        f"{demo_seconds:.1f} s |",
        f"| inbox queue read incl. SLA sweep (median / max of {args.runs}) | "
        f"{inbox[0]:.1f} / {inbox[1]:.1f} ms |",
        f"| open ticket with notes (median / max) | {detail[0]:.1f} / {detail[1]:.1f} ms |",
        f"| metrics view incl. SLA attainment and ticket table (median / max) | "
        f"{metrics[0]:.1f} / {metrics[1]:.1f} ms |",
        "",
        "The sidebar's **Load demo data** runs `load_demo`; a first start adds the KB ingest "
        "when the KB is empty. Page load in the browser adds Streamlit's rerun and drawing: "
        "see the browser test's timings in test-output/browser/timings.md.",
    ])
    replace_section("desk", body)
    print(body)


if __name__ == "__main__":
    main()
