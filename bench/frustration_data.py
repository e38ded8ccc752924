"""The labelled data the frustration model is trained and measured on, and its splits.

Read in place from ``../shared/data`` (never copied into the repository):

* GoEmotions: frustrated = labels include anger, annoyance or disappointment. Its own
  train/dev/test splits; train is subsampled (``GOEMOTIONS_TRAIN``) and dev/test are
  seeded subsamples (``EVAL_SAMPLE``) to keep embedding time on a small shared machine
  to minutes (``DESKPILOT_FULL_SPLITS=1`` measures the complete files).
* TweetEval sentiment: frustrated = negative. Only val and test are public here, so val
  is split 70/30 into train/dev (seeded) and test stays held out (a seeded subsample of
  ``EVAL_SAMPLE`` rows unless ``DESKPILOT_FULL_SPLITS=1``).
* uss_ccpe: dissatisfied user turns (rating <= 2). Split by dialogue 60/20/20 (seeded),
  so no conversation is on both sides of a split. :func:`replay` walks each dialogue as the
  pipeline would see it (the system's turns as the assistant's replies, the recorded mood
  on the reply after each customer turn), for training and measuring the session mood.

Embeddings (all-MiniLM-L6-v2, the KB's embedder) are cached outside the repository in
``$DESKPILOT_EMB_CACHE`` (default ``/tmp/deskpilot_frustration_emb``), keyed by the
texts' hash, so retraining and benchmarking embed each text once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from support_core.models import Message, SentimentResult

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = next((p for p in (ROOT.parent / "shared" / "data",
                     ROOT.parent.parent / "shared" / "data") if p.is_dir()),
                    ROOT.parent / "shared" / "data")  # a worktree sits one level deeper
CACHE = Path(os.environ.get("DESKPILOT_EMB_CACHE", "/tmp/deskpilot_frustration_emb"))
FRUSTRATED_EMOTIONS = {"anger", "annoyance", "disappointment"}
GOEMOTIONS_TRAIN = 3000
# Evaluation subsamples (seeded) so embedding fits a shared 2-core machine; set
# DESKPILOT_FULL_SPLITS=1 to embed and measure the complete dev/test files.
FULL = os.environ.get("DESKPILOT_FULL_SPLITS") == "1"
EVAL_SAMPLE = {("GoEmotions", "dev"): 1500, ("GoEmotions", "test"): 2000,
               ("TweetEval", "test"): 2000}
SEED = 13


def _sample(rows: list[dict[str, Any]], dataset: str, split: str) -> list[dict[str, Any]]:
    n = EVAL_SAMPLE.get((dataset, split))
    if FULL or n is None or len(rows) <= n:
        return rows
    keep = sorted(random.Random(SEED).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


@dataclass
class Split:
    """One split of one data set; ``context`` holds the earlier user turns (uss_ccpe)."""

    dataset: str
    split: str
    texts: list[str]
    labels: np.ndarray
    dialog: list[str] = field(default_factory=list)  # dialogue id per row (uss_ccpe)
    turn: list[int] = field(default_factory=list)


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def goemotions(data: Path) -> dict[str, Split]:
    out = {}
    for split in ("train", "dev", "test"):
        rows = _rows(data / "goemotions" / f"{split}.jsonl")
        if split == "train" and len(rows) > GOEMOTIONS_TRAIN:
            rows = random.Random(SEED).sample(rows, GOEMOTIONS_TRAIN)
        rows = _sample(rows, "GoEmotions", split)
        out[split] = Split("GoEmotions", split, [r["text"] for r in rows],
                           np.array([bool(FRUSTRATED_EMOTIONS & set(r["label"])) for r in rows]))
    return out


def tweeteval(data: Path) -> dict[str, Split]:
    val = _rows(data / "tweeteval_sentiment" / "val.jsonl")
    order = list(range(len(val)))
    random.Random(SEED).shuffle(order)
    cut = int(len(order) * 0.7)
    parts = {"train": [val[i] for i in sorted(order[:cut])],
             "dev": [val[i] for i in sorted(order[cut:])],
             "test": _sample(_rows(data / "tweeteval_sentiment" / "test.jsonl"), "TweetEval",
                             "test")}
    return {k: Split("TweetEval", k, [r["text"] for r in rows],
                     np.array([r["label"] == "negative" for r in rows]))
            for k, rows in parts.items()}


def ccpe(data: Path) -> dict[str, Split]:
    rows = _rows(data / "uss_ccpe" / "ccpe_user_turns.jsonl")
    dialogs = sorted({r["dialog_id"] for r in rows})
    random.Random(SEED).shuffle(dialogs)
    n = len(dialogs)
    side = {d: ("train" if i < 0.6 * n else "dev" if i < 0.8 * n else "test")
            for i, d in enumerate(dialogs)}
    out = {}
    for split in ("train", "dev", "test"):
        part = sorted((r for r in rows if side[r["dialog_id"]] == split),
                      key=lambda r: (r["dialog_id"], r["turn_index"]))
        out[split] = Split("uss_ccpe", split, [r["text"] for r in part],
                           np.array([bool(r["dissatisfied"]) for r in part]),
                           dialog=[r["dialog_id"] for r in part],
                           turn=[int(r["turn_index"]) for r in part])
    return out


def ccpe_dialogues(data: Path = DEFAULT_DATA) -> dict[str, list[dict[str, Any]]]:
    """Dialogue id -> its turns (role USER/SYSTEM, text), from ``ccpe_dialogues.jsonl``."""
    return {r["id"]: r["turns"] for r in _rows(data / "uss_ccpe" / "ccpe_dialogues.jsonl")}


def replay(split: Split, dialogues: dict[str, list[dict[str, Any]]],
           analyze: Callable[[str, list[Message]], SentimentResult],
           with_conversation: bool = True) -> list[SentimentResult]:
    """Score every user turn of ``split``. With the conversation, ``analyze`` gets the
    session so far as the pipeline passes it: the system's turns as assistant replies, an
    assistant message after each scored turn carrying the recorded mood and level
    (``frustration`` and ``sentiment_level`` metadata, as the pipeline stores them; empty
    text when the user spoke again without a system turn between), and the current
    message last. Without it, the message alone."""
    from support_core.models import Message, Role
    from support_core.sentiment_model import MOOD_KEY

    row = {(d, t): i for i, (d, t) in enumerate(zip(split.dialog, split.turn, strict=True))}
    out: list[SentimentResult | None] = [None] * len(split.texts)
    for dialog in dict.fromkeys(split.dialog):
        conversation: list[Message] = []
        for k, turn in enumerate(dialogues[dialog]):
            if turn["role"] != "USER":
                conversation.append(Message(role=Role.ASSISTANT, content=turn["text"]))
                continue
            msg = Message(role=Role.CUSTOMER, content=turn["text"])
            conversation.append(msg)
            i = row.get((dialog, k))
            if i is None:  # a user turn without a rating row: part of the context only
                continue
            result = analyze(split.texts[i], list(conversation) if with_conversation
                             else [msg])
            out[i] = result
            conversation.append(Message(role=Role.ASSISTANT, content="",
                                        metadata={MOOD_KEY: result.frustration_score,
                                                  "sentiment_level": result.level.value}))
    missing = [i for i, r in enumerate(out) if r is None]
    if missing:
        raise ValueError(f"{len(missing)} {split.split} rows not found in ccpe_dialogues.jsonl")
    return [r for r in out if r is not None]


def all_splits(data: Path = DEFAULT_DATA) -> dict[str, dict[str, Split]]:
    missing = [f for f in ("goemotions", "tweeteval_sentiment", "uss_ccpe")
               if not (data / f).is_dir()]
    if missing:
        raise SystemExit(f"Data not found: {', '.join(str(data / m) for m in missing)} "
                         "(see ../shared/data/README.md); pass --data DIR.")
    return {"GoEmotions": goemotions(data), "TweetEval": tweeteval(data), "uss_ccpe": ccpe(data)}


def _cache_path(texts: Sequence[str], tag: str) -> Path:
    digest = hashlib.sha1("\x00".join(texts).encode("utf-8")).hexdigest()[:16]
    return CACHE / f"{tag}-{digest}.npy"


def is_cached(texts: Sequence[str], tag: str) -> bool:
    return _cache_path(texts, tag).exists()


def embed_cached(texts: Sequence[str], tag: str) -> np.ndarray:
    """Normalised MiniLM vectors for ``texts``, cached in ``CACHE`` under their hash."""
    path = _cache_path(texts, tag)
    if path.exists():
        return np.load(path)
    from support_core.adapters.embeddings_local import LocalEmbedder

    started = time.perf_counter()
    vectors = LocalEmbedder(batch_size=64).embed(list(texts))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    print(f"  embedded {len(texts):,} texts ({tag}) in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return vectors


if __name__ == "__main__":  # warm the cache: python bench/frustration_data.py [NAME:SPLIT ...]
    sys.path.insert(0, str(ROOT))
    wanted = set(sys.argv[1:])
    for name, splits in all_splits().items():
        for split in splits.values():
            if not wanted or f"{name}:{split.split}" in wanted:
                embed_cached(split.texts, f"{name}-{split.split}")
