"""Which passage of the retrieved text answers the question: one contiguous, verbatim quote.

Candidate units are the sentences (prose, table rows, list items) and whole numbered-step
blocks of the best few hits, each hit on its own: a passage never crosses from one chunk,
let alone one article, into another. Every unit gets the lexical evidence the composer
already used (IDF-weighted shared content words, scaled to 0..1); with an embedder, the
few lexically most promising units of each hit plus each hit's lead are also scored by
cosine similarity between the question and "title > headings: unit" (one batched call,
the question vector comes from the embedder's cache). The best unit is then extended with
the earlier sentences of its paragraph and the units that follow it in the same chunk
while the passage stays within ``WORD_BUDGET`` words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from support_core.confidence import best_hits, content_terms
from support_core.models import SearchHit
from support_core.ports import Embedder

PASSAGE_HITS = 3  # how many of the best hits are quoted from
# Latency: the units are encoded per question (MiniLM on 2 cores: 12 units x 40 words ~200 ms,
# 4 x 26 ~45 ms), and a batch is padded to its longest text; bench/pipeline.py holds the budget.
EMBED_UNITS = 4  # units embedded per question: each hit's lead, then the lexically best
EMBED_WORDS = 26  # words of a unit the model reads (after its heading path)
WORD_BUDGET = 120  # words of the quoted passage, about one help-center answer paragraph
W_DENSE, W_LEX, W_RANK = 0.6, 0.3, 0.1  # unit score weights; W_RANK favours better hits

_NUMBERED = re.compile(r"^\s*\d+[.)]\s+\S")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*`])")


@dataclass(frozen=True)
class Unit:
    hit_index: int  # position in the ranked hits
    order: int  # position in its hit, reading order
    paragraph: int  # units of one paragraph join with a space, others with a blank line
    text: str
    steps: bool = False


@dataclass(frozen=True)
class Passage:
    hit: SearchHit
    text: str
    steps: bool  # a whole numbered-step block (quoted alone, as a list)
    anchor: str = ""  # the unit that scored best; ``text`` is it with its context


def select_passage(
    question: str, hits: Sequence[SearchHit], embedder: Embedder | None = None
) -> Passage | None:
    """The contiguous passage of one hit that best answers ``question``, or None."""
    ranked = best_hits(hits, PASSAGE_HITS)
    units = [u for i, h in enumerate(ranked) for u in units_of(h.text, i)]
    if not units:
        return None
    lexical = _lexical(question, units)
    score = [lexical[k] + W_RANK * _rank_prior(u.hit_index) for k, u in enumerate(units)]
    if embedder is not None:
        picked = _to_embed(units, lexical)
        dense = _dense(question, [units[k] for k in picked], ranked, embedder)
        score = [W_LEX * lexical[k] + W_RANK * _rank_prior(u.hit_index) for k, u in
                 enumerate(units)]
        for k, sim in zip(picked, dense, strict=True):
            score[k] += W_DENSE * sim
        for k in set(range(len(units))) - set(picked):
            score[k] = -1.0  # not embedded: not comparable
    best = max(range(len(units)), key=lambda k: (score[k], -k))
    unit = units[best]
    hit = ranked[unit.hit_index]
    if unit.steps:
        return Passage(hit=hit, text=unit.text, steps=True, anchor=unit.text)
    return Passage(hit=hit, text=_extend(question, units, best), steps=False, anchor=unit.text)


def units_of(text: str, hit_index: int = 0) -> list[Unit]:
    """Sentences, table rows, list items and whole numbered-step blocks, in reading order."""
    units: list[Unit] = []
    paragraph = 0
    current: list[str] = []
    lines = text.splitlines()

    def flush() -> None:
        nonlocal paragraph, current
        joined = " ".join(current).strip()
        current = []
        if not joined:
            return
        paragraph += 1
        for sentence in _SENTENCE_END.split(joined):
            if len(sentence.split()) >= 4:
                units.append(Unit(hit_index, len(units), paragraph, sentence.strip()))

    i, in_code = 0, False
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        if _NUMBERED.match(raw) and not in_code:
            block, j = _steps_block(lines, i)
            if sum(bool(_NUMBERED.match(x)) for x in block) >= 2:
                flush()
                paragraph += 1
                units.append(Unit(hit_index, len(units), paragraph, "\n".join(block), True))
                i = j
                continue
        if line.startswith("```"):
            in_code = not in_code
            flush()
        elif in_code or not line or line.startswith("#"):
            flush()
        elif line.startswith("|"):
            flush()
            current = [_table_row(line)]
            flush()
        elif _BULLET.match(raw):
            flush()
            current = [_BULLET.sub("", raw, count=1).strip()]
            flush()
        else:
            current.append(line)
        i += 1
    flush()
    seen: set[str] = set()
    return [u for u in units if not (u.text in seen or seen.add(u.text))]  # type: ignore[func-returns-value]


def _steps_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """Numbered lines from ``start`` with anything indented under them, verbatim."""
    block: list[str] = []
    j = start
    while j < len(lines):
        line = lines[j]
        if line.strip() and not (_NUMBERED.match(line) or line[:1].isspace()):
            break
        block.append(line)
        j += 1
    while block and not block[-1].strip():
        block.pop()
    return block, j


def _table_row(line: str) -> str:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return "" if all(set(c) <= set("-: ") for c in cells) else ": ".join(cells)


def _lexical(question: str, units: Sequence[Unit]) -> list[float]:
    """IDF-weighted shared content words with the question, scaled so the best unit is 1."""
    wanted = content_terms(question)
    terms = [content_terms(u.text) & wanted for u in units]
    df = Counter(t for ts in terms for t in ts)
    raw = [sum(math.log(1 + len(units) / df[t]) for t in ts) for ts in terms]
    top = max(raw, default=0.0)
    return [r / top if top else 0.0 for r in raw]


def _rank_prior(hit_index: int) -> float:
    return 1.0 - hit_index / PASSAGE_HITS


def _to_embed(units: Sequence[Unit], lexical: Sequence[float]) -> list[int]:
    """Each hit's lead unit, then the lexically best others, ``EMBED_UNITS`` in all."""
    leads = {u.hit_index: k for k, u in reversed(list(enumerate(units)))}
    chosen = set(leads.values())
    rest = sorted((k for k in range(len(units)) if k not in chosen),
                  key=lambda k: (-lexical[k], units[k].hit_index, k))
    chosen.update(rest[:max(0, EMBED_UNITS - len(chosen))])
    return sorted(chosen)


def _dense(question: str, units: Sequence[Unit], hits: Sequence[SearchHit],
           embedder: Embedder) -> list[float]:
    texts = [f"{_heading(hits[u.hit_index])}: {' '.join(u.text.split()[:EMBED_WORDS])}"
             for u in units]
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    query = np.asarray(embedder.embed_query(question), dtype=np.float32)
    return [float(x) for x in vectors @ query]


def _heading(hit: SearchHit) -> str:
    path = [h for h in hit.heading_path if h != hit.title]
    return " > ".join([hit.title, *path])


def _extend(question: str, units: Sequence[Unit], best: int) -> str:
    """The best unit with the earlier sentences of its paragraph (their context) and the
    units that follow it in the same chunk (step blocks included), within ``WORD_BUDGET``."""
    anchor = units[best]
    picked = [anchor]
    words = len(anchor.text.split())
    for unit in reversed(units[:best]):
        n = len(unit.text.split())
        if unit.paragraph != anchor.paragraph or words + n > WORD_BUDGET:
            break
        picked.insert(0, unit)
        words += n
    for unit in units[best + 1:]:
        n = len(unit.text.split())
        if unit.hit_index != anchor.hit_index or words + n > WORD_BUDGET:
            break
        picked.append(unit)
        words += n
    text = picked[0].text
    for prev, unit in zip(picked, picked[1:], strict=False):
        text += (" " if unit.paragraph == prev.paragraph else "\n\n") + unit.text
    return text
