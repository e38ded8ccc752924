"""What every benchmark shares: where the data is, the machine line, and writing
its own section of docs/benchmarks.md without touching the others."""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from support_core.confidence import content_terms

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "benchmarks.md"


def require_data(*folders: str) -> Path:
    """The shared evaluation data, or exit 2 with a message saying what is missing."""
    missing = [f for f in folders if not (SHARED_DATA / f).is_dir()]
    if missing:
        print(f"Missing evaluation data under {SHARED_DATA}: {', '.join(missing)}. "
              "See ../shared/data/README.md.", file=sys.stderr)
        raise SystemExit(2)
    return SHARED_DATA


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line(script: str) -> str:
    """Machine, versions, load and the exact command, for the report."""
    try:
        import torch

        torch_version = f", torch {torch.__version__}"
    except ImportError:
        torch_version = ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", script, *sys.argv[1:]])
    return (
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, load average {load:.1f} at start; "
        f"Python {platform.python_version()}{torch_version}. "
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}`."
    )


def replace_section(name: str, body: str, doc: Path = DOC) -> None:
    """Swap the text between <!-- name:start --> and <!-- name:end -->; append if absent.
    The file is re-read right before writing, since other benchmarks write other sections."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_MARKER = re.compile(r"\[\d+\]")


def answer_terms(text: str) -> set[str]:
    """Stemmed content words of a reply or reference, links and citation markers removed."""
    return content_terms(_MARKER.sub(" ", _URL.sub(" ", _LINK_TARGET.sub("]", text))))


def reply_prf(reply: str, reference: str) -> tuple[float, float, float]:
    """Recall, precision and F1 of the reference answer's content words in the reply."""
    return terms_prf(answer_terms(reply), answer_terms(reference))


def terms_prf(got: set[str], want: set[str]) -> tuple[float, float, float]:
    """Recall, precision and F1 of ``want`` (reference terms) in ``got`` (reply terms)."""
    if not got or not want:
        return 0.0, 0.0, 0.0
    common = len(got & want)
    recall, precision = common / len(want), common / len(got)
    f1 = 2 * recall * precision / (recall + precision) if common else 0.0
    return recall, precision, f1
