"""Which passage of the retrieved text answers the question: one contiguous, verbatim quote.

Candidate units are the sentences (prose, table rows, list items) and whole numbered-step
blocks of the best few hits, each hit on its own: a passage never crosses from one chunk,
let alone one article, into another. Every unit gets the lexical evidence the composer
already used (IDF-weighted shared content words, scaled to 0..1); with an embedder, every
unit is also scored by cosine similarity between the question and "title > headings: unit".
Those unit vectors are embedded once at ingest (``unit_texts``, stored by the knowledge
base, ``support_core.kb.unit_vectors``), so a question costs one matrix product; a KB built
before that falls back to embedding a few units per question (each hit's lead and the
lexically most promising). The best unit is then extended with
the earlier units of its section (back to its heading) and the units that follow it in the
same chunk and section while the passage stays within ``WORD_BUDGET`` words. The passage is
the chunk's own text over that span (verbatim, sentences too short to be units included).
A passage that reaches the end of its chunk was cut by the chunker, not by the author: with
a ``following`` lookup (``KnowledgeBase.next_chunk``) it continues into the next chunk of
the same section, past the chunker's overlap: a step list to its last step, prose within
the budget. Still one article, one section, one contiguous quote.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from support_core.confidence import best_hits, content_terms
from support_core.models import SearchHit
from support_core.ports import Embedder

PASSAGE_HITS = 3  # how many of the best hits are quoted from
# Fallback latency (KB without stored units): units encoded per question cost MiniLM on 2 cores
# ~45 ms for 4 x 26 words (12 x 40: ~200 ms); bench/pipeline.py holds the budget.
EMBED_UNITS = 4  # fallback: units embedded per question: each hit's lead, then lexically best
EMBED_WORDS = 26  # words of a unit the model reads (after its heading path)
OVERLAP_CHARS = 400  # longest repeated text looked for where one chunk continues another
MIN_OVERLAP = 20
MAX_CONTINUED = 8  # chunks a split step list is followed through
# Words of the quoted passage, about one chunk (900 characters). On a seeded half of WixQA
# (bench/answer_quality.py; seed 7, 80 questions) 160 and 200 tied (selection F1 0.464 vs
# 0.465, 120: 0.437) once passages continue into the next chunk; the shorter one reads better.
WORD_BUDGET = 160
# Unit score weights; W_RANK favours better hits. Retrieval ranks whole chunks well (hybrid,
# article-fused), so it outweighs one sentence's similarity: on WixQA the chunk holding the
# best-scoring unit scored below the top hit itself (F1 0.412 vs 0.428) at W_RANK 0.1;
# 0.4 lifts the selected passage 0.406 -> 0.417 (bench/answer_quality.py).
W_DENSE, W_LEX, W_RANK = 0.6, 0.3, 0.4

# chunk ids -> (units_key of the embedded texts, their vectors), for the chunks that have them
UnitLookup = Callable[[Sequence[str]], Mapping[str, tuple[str, np.ndarray]]]
# chunk id -> (id, text) of the chunk that follows it in its article's same section, or None
NextChunk = Callable[[str], tuple[str, str] | None]

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
    section: int = 0  # units under one heading share it; a passage never crosses a heading


@dataclass(frozen=True)
class Passage:
    hit: SearchHit
    text: str
    steps: bool  # a whole numbered-step block (quoted alone, as a list)
    anchor: str = ""  # the unit that scored best; ``text`` is it with its context


def select_passage(
    question: str, hits: Sequence[SearchHit], embedder: Embedder | None = None,
    stored: UnitLookup | None = None, *, embed_units: int | None = EMBED_UNITS,
    following: NextChunk | None = None,
) -> Passage | None:
    """The contiguous passage of one hit that best answers ``question``, or None.

    ``stored`` looks up unit vectors embedded at ingest (``KnowledgeBase.unit_vectors``);
    hits without them (a KB built before units were stored) have ``embed_units`` of their
    units embedded now (None: all of them, as at ingest).

    ``following`` gives the next chunk of a hit's article section: a passage that runs to
    the end of its chunk was cut by the chunker, not by the author, so it continues there
    (a step list to its last step, prose within ``WORD_BUDGET``)."""
    ranked = best_hits(hits, PASSAGE_HITS)
    per_hit = [units_of(h.text, i) for i, h in enumerate(ranked)]
    units = [u for hit_units in per_hit for u in hit_units]
    if not units:
        return None
    lexical = _lexical(question, units)
    score = [lexical[k] + W_RANK * _rank_prior(u.hit_index) for k, u in enumerate(units)]
    if embedder is not None:
        dense = _dense(question, ranked, per_hit, lexical, embedder, stored, embed_units)
        score = [W_LEX * lexical[k] + W_RANK * _rank_prior(u.hit_index) + W_DENSE * d
                 if d is not None else -1.0  # not embedded: not comparable
                 for k, (u, d) in enumerate(zip(units, dense, strict=True))]
    best = max(range(len(units)), key=lambda k: (score[k], -k))
    unit = units[best]
    hit = ranked[unit.hit_index]
    own = per_hit[unit.hit_index]
    ends_chunk = own[-1] is unit
    if unit.steps:
        text = unit.text
        if ends_chunk and following is not None:
            text = _continue_steps(text, hit, following)
        return Passage(hit=hit, text=text, steps=True, anchor=unit.text)
    picked = _extend(units, best)
    text = _verbatim(hit.text, picked)
    if picked[-1] is own[-1]:  # only text too short to be a unit may follow: keep it
        text = _to_chunk_end(hit.text, text)
    if following is not None and hit.text.rstrip().endswith(text):  # cut by the chunker
        if picked[-1].steps:
            text = _continue_steps(text, hit, following)
        else:
            words = sum(len(u.text.split()) for u in picked)
            text = _continue_prose(text, hit, following, WORD_BUDGET - words)
    return Passage(hit=hit, text=text, steps=False, anchor=unit.text)


def answer_first(question: str, hits: Sequence[SearchHit], embedder: Embedder | None = None,
                 stored: UnitLookup | None = None, following: NextChunk | None = None
                 ) -> list[SearchHit]:
    """The hits in the order the composer would quote them, for a model that phrases the
    answer (the LLM path uses the same selection as the offline reply): the chunk holding
    the selected passage first, carried on with the text the passage continues into when
    the chunker cut it (a split step list reaches the model whole), then the other hits in
    rank order. Texts stay verbatim; nothing is dropped."""
    ranked = best_hits(hits, len(hits))
    passage = select_passage(question, ranked, embedder, stored, following=following)
    if passage is None:
        return ranked
    chosen = passage.hit
    text = carried_on(chosen.text, passage.text)
    first = chosen if text == chosen.text else chosen.model_copy(update={"text": text})
    return [first, *(h for h in ranked if h.chunk_id != chosen.chunk_id)]


def carried_on(chunk: str, quote: str, probe: int = 40) -> str:
    """``chunk`` followed by what ``quote`` (a passage that starts in it) says after the
    chunk's end; ``chunk`` itself when the quote ends inside it."""
    end = chunk.rstrip()
    tail = end[-probe:]
    at = quote.find(tail) if len(tail) >= MIN_OVERLAP else -1
    if at < 0 or quote in chunk:
        return chunk
    rest = quote[at + len(tail):]
    return end + rest if rest.strip() else chunk


def unit_texts(title: str, heading_path: Sequence[str], text: str) -> list[str]:
    """What the model reads for each unit of a chunk, in ``units_of`` order: the heading
    path as context, then the unit's first ``EMBED_WORDS`` words. Ingest embeds exactly
    these, so stored and query-time vectors are interchangeable."""
    return _embed_texts(title, heading_path, units_of(text))


def units_key(texts: Sequence[str]) -> str:
    """Identifies the exact unit texts a stored matrix was computed from."""
    return hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:24]


def matching_vectors(row: tuple[str, np.ndarray] | None, texts: Sequence[str]
                     ) -> np.ndarray | None:
    """The stored unit matrix ``row`` if it was computed from exactly ``texts``, else None
    (the chunk changed since ingest, or the KB predates stored units)."""
    if row is None or row[0] != units_key(texts) or row[1].shape[0] != len(texts):
        return None
    return row[1]


def _embed_texts(title: str, heading_path: Sequence[str], units: Sequence[Unit]) -> list[str]:
    heading = _heading(title, heading_path)
    return [f"{heading}: {' '.join(u.text.split()[:EMBED_WORDS])}" for u in units]


def units_of(text: str, hit_index: int = 0) -> list[Unit]:
    """Sentences, table rows, list items and whole numbered-step blocks, in reading order."""
    units: list[Unit] = []
    paragraph = section = 0
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
                units.append(Unit(hit_index, len(units), paragraph, sentence.strip(),
                                  section=section))

    i, in_code = 0, False
    while i < len(lines):
        raw = lines[i]
        line = raw.strip()
        if _NUMBERED.match(raw) and not in_code:
            block, j = _steps_block(lines, i)
            if sum(bool(_NUMBERED.match(x)) for x in block) >= 2:
                flush()
                paragraph += 1
                units.append(Unit(hit_index, len(units), paragraph, "\n".join(block), True,
                                  section))
                i = j
                continue
        if line.startswith("```"):
            in_code = not in_code
            flush()
        elif in_code or not line or line.startswith("#"):
            flush()
            section += bool(line.startswith("#") and not in_code)
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


def _to_embed(units: Sequence[Unit], lexical: Sequence[float], limit: int | None) -> list[int]:
    """Each hit's lead unit, then the lexically best others, ``limit`` in all (None: all)."""
    if limit is None:
        return list(range(len(units)))
    leads = {u.hit_index: k for k, u in reversed(list(enumerate(units)))}
    chosen = set(leads.values())
    rest = sorted((k for k in range(len(units)) if k not in chosen),
                  key=lambda k: (-lexical[k], units[k].hit_index, k))
    chosen.update(rest[:max(0, limit - len(chosen))])
    return sorted(chosen)


def _dense(
    question: str, hits: Sequence[SearchHit], per_hit: Sequence[Sequence[Unit]],
    lexical: Sequence[float], embedder: Embedder, stored: UnitLookup | None,
    embed_units: int | None,
) -> list[float | None]:
    """Cosine of the question with each unit: stored vectors where their key matches the
    texts derived now, the rest embedded at query time (a limited few), None if neither."""
    query = np.asarray(embedder.embed_query(question), dtype=np.float32)
    found = stored([h.chunk_id for h in hits]) if stored is not None else {}
    dense: list[float | None] = []
    todo: list[tuple[int, str]] = []  # (position in dense, text) still to embed
    for hit, units in zip(hits, per_hit, strict=True):
        texts = _embed_texts(hit.title, hit.heading_path, units)
        matrix = matching_vectors(found.get(hit.chunk_id), texts)
        if matrix is not None:
            dense.extend(float(x) for x in matrix @ query)
        else:
            todo.extend((len(dense) + j, t) for j, t in enumerate(texts))
            dense.extend([None] * len(units))
    if todo:
        flat = [u for units in per_hit for u in units]
        positions = [p for p, _ in todo]
        pick = _to_embed([flat[p] for p in positions], [lexical[p] for p in positions],
                         embed_units)
        texts = [todo[i][1] for i in pick]
        vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
        for i, sim in zip(pick, vectors @ query, strict=True):
            dense[positions[i]] = float(sim)
    return dense


def _heading(title: str, heading_path: Sequence[str]) -> str:
    path = [h for h in heading_path if h != title]
    return " > ".join([title, *path])


def _extend(units: Sequence[Unit], best: int) -> list[Unit]:
    """The best unit with the units before it in its section (their context) and those after
    it in the same chunk and section (step blocks included), within ``WORD_BUDGET`` words."""
    anchor = units[best]
    picked = [anchor]
    words = len(anchor.text.split())
    for unit in reversed(units[:best]):
        n = len(unit.text.split())
        if not _same_block(unit, anchor) or words + n > WORD_BUDGET:
            break
        picked.insert(0, unit)
        words += n
    for unit in units[best + 1:]:
        n = len(unit.text.split())
        if not _same_block(unit, anchor) or words + n > WORD_BUDGET:
            break
        picked.append(unit)
        words += n
    return picked


def _same_block(unit: Unit, anchor: Unit) -> bool:
    return unit.hit_index == anchor.hit_index and unit.section == anchor.section


def _after_overlap(previous: str, following: str) -> str:
    """``following`` without the text it repeats from the end of ``previous`` (the chunker's
    overlap): the longest prefix of it that ``previous`` ends with is dropped."""
    tail = previous.rstrip()
    for k in range(min(len(following), len(tail), OVERLAP_CHARS), MIN_OVERLAP - 1, -1):
        head = following[:k].rstrip()
        if len(head) >= MIN_OVERLAP and tail.endswith(head):
            return following[k:]
    return following


def _next_text(chunk_id: str, text: str, following: NextChunk) -> tuple[str, str]:
    """The next chunk's id and its text after the overlap with ``text``; ("", "") if none."""
    nxt = following(chunk_id)
    return (nxt[0], _after_overlap(text, nxt[1])) if nxt else ("", "")


def _continue_steps(block: str, hit: SearchHit, following: NextChunk) -> str:
    """A step block that ends its chunk, with the steps the following chunks of the section
    continue it with (a list the chunker split over several chunks is quoted to its end)."""
    chunk_id, text = hit.chunk_id, hit.text
    for _ in range(MAX_CONTINUED):
        chunk_id, rest = _next_text(chunk_id, text, following)
        lines = rest.lstrip("\n").splitlines()
        nested = bool(lines) and lines[0][:1].isspace() and bool(lines[0].strip())
        if not lines or not (_NUMBERED.match(lines[0]) or nested):  # a step, or a line
            break  # nested under the last step (the chunker cut between them)
        more, end = _steps_block(lines, 0)
        block += "\n" + "\n".join(more)
        if any(line.strip() for line in lines[end:]):  # the list ends inside this chunk
            break
        text = rest  # its tail is what the next chunk repeats
    return block


def _continue_prose(text: str, hit: SearchHit, following: NextChunk, budget: int) -> str:
    """Prose that ends its chunk, continued with the next chunk's leading units (no step
    block, no new section) while ``budget`` words remain; verbatim."""
    _, rest = _next_text(hit.chunk_id, hit.text, following)
    more: list[Unit] = []
    for unit in units_of(rest):
        n = len(unit.text.split())
        if unit.steps or unit.section != 0 or n > budget:
            break
        more.append(unit)
        budget -= n
    if not more:
        return text
    gap = "\n\n" if re.match(r"\s*\n", rest) or rest.lstrip().startswith("#") else " "
    return text + gap + _verbatim(rest, more)


def _to_chunk_end(chunk: str, text: str) -> str:
    """``text`` (a verbatim slice of ``chunk``) with the rest of the chunk after it, unless
    that rest starts a new section or a code block."""
    start = chunk.find(text)
    rest = chunk[start + len(text):] if start >= 0 else ""
    if not rest.strip() or re.search(r"^\s*(#|```)", rest, re.MULTILINE):
        return text
    return chunk[start:].rstrip()


def _joined(units: Sequence[Unit]) -> str:
    text = units[0].text
    for prev, unit in zip(units, units[1:], strict=False):
        text += (" " if unit.paragraph == prev.paragraph else "\n\n") + unit.text
    return text


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(r"\s+".join(re.escape(w) for w in text.split()))


def _verbatim(chunk: str, picked: Sequence[Unit]) -> str:
    """The chunk's own text from the first picked unit to the end of the last: the sentences
    too short to be units (\"Click Connect.\") and the original line breaks stay in. Units
    rewritten from the source (table rows, list items without their marker) that cannot be
    found fall back to the units joined."""
    first = _pattern(picked[0].text).search(chunk)
    if first is None:
        return _joined(picked)
    last = _pattern(picked[-1].text).search(chunk, first.start())
    if last is None or last.end() < first.end():
        return _joined(picked)
    return chunk[first.start():last.end()].strip()
