"""The knowledge base: ingest articles, keep them current, and search them.

Storage is split on purpose. The vector store (the ``VectorStore`` port; Chroma in the
wiring) holds every chunk with its vector, text and metadata; a small SQLite registry holds
one row per article (title, content hash, chunk count, when it was ingested). The content
hash makes re-ingest cheap and exact: an unchanged article is skipped without embedding
anything, a changed one loses *all* its old chunks before the new ones go in, so a shrunk
article leaves nothing stale.

Search is hybrid. Dense (cosine over chunk vectors) and BM25 each rank
``retrieval_candidates`` chunks under the same category/product filter; the candidates are
then fused per *article* (``support_core.kb.fusion``): an article's dense evidence is its
best chunk's cosine, its keyword evidence its best chunk's BM25 score, combined as a
weighted mean of min-max normalised scores (``fusion="score"``) or by weighted reciprocal
rank (``fusion="rrf"``). ``search`` and ``search_articles`` share that one ranking: the
best chunk of each distinct article comes first, so five hits show five articles where
five exist, and each such hit carries its article's best ranks and scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import sqlite_utils
from pydantic import BaseModel

from support_core.answer_select import unit_texts, units_key
from support_core.confidence import passage_terms
from support_core.config import Settings
from support_core.errors import DeskpilotError, IngestError, NotFound
from support_core.kb.bm25 import BM25Index
from support_core.kb.chunking import chunk_article, fit_to_token_limit
from support_core.kb.fusion import FusionParams, fuse_articles
from support_core.kb.loaders import SUPPORTED_SUFFIXES, load_bytes, load_file
from support_core.kb.safety import (
    PassageFlags,
    flag_rows,
    hidden_html_flags,
    identity_conflict,
    text_diff,
)
from support_core.kb.unit_vectors import UnitVectors
from support_core.models import (
    Article,
    ArticleInfo,
    Chunk,
    IngestResult,
    IngestStatus,
    SearchHit,
)
from support_core.ports import Embedder, VectorStore

Mode = Literal["hybrid", "dense", "bm25"]
Chunker = Callable[[Article, int, int], list[Chunk]]
UnitTexts = Callable[[str, Sequence[str], str], list[str]]  # (title, headings, text) -> texts
Progress = Callable[[int, int, str], None]
CHUNKER_VERSION = "structured-1"  # bump when chunking changes so re-ingest re-chunks


class KnowledgeBase:
    """Articles in, ranked chunks out. Safe to share between Streamlit sessions."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: VectorStore,
        registry_path: str | Path | None = None,
        *,
        chunker: Chunker = chunk_article,
        chunker_version: str = CHUNKER_VERSION,
        fit_to_model: bool = True,
        units: UnitTexts | None = unit_texts,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self._chunker = chunker
        self._chunker_version = chunker_version
        self._fit_to_model = fit_to_model
        path = Path(registry_path) if registry_path else settings.data_dir / "kb_registry.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
        self._articles.create(_REGISTRY_COLUMNS, pk="article_id", if_not_exists=True)
        self._lock = threading.RLock()
        self._catalogue: _Catalogue | None = None
        self.flags = PassageFlags(self._db)
        self.unit_texts = units  # None: no passage units stored (answers embed them per query)
        self.units = UnitVectors(self._db, self._lock)

    @property
    def _articles(self) -> sqlite_utils.db.Table:
        return sqlite_utils.db.Table(self._db, "articles")

    # ------------------------------------------------------------------------- ingest
    def ingest_paths(
        self,
        paths: Iterable[str | Path],
        category: str | None = None,
        product: str | None = None,
        progress: Progress | None = None,
        replace: bool | None = None,
    ) -> list[IngestResult]:
        """Ingest files and directories (recursively); one bad file never stops the batch.

        A changed article is updated from the file it came from; a *different* file claiming
        its id replaces it only with ``replace=True``.

        Articles are embedded in groups, so the model sees full batches instead of the
        three or four chunks of one article at a time."""
        files = expand_paths(paths)
        file_flags: dict[str, list[str]] = {}
        results: dict[int, IngestResult] = {}
        group: dict[int, Article] = {}
        for done, path in enumerate(files):
            if progress:
                progress(done, len(files), str(path))
            try:
                group[done] = load_file(path, category=category, product=product)
                if group[done].format == "html":
                    file_flags[str(path)] = hidden_html_flags(path.read_text(errors="replace"))
            except DeskpilotError as err:
                results[done] = _failed(str(path), err)
            if len(group) >= INGEST_GROUP or done == len(files) - 1:
                pairs = [(str(files[i]), article) for i, article in group.items()]
                results.update(
                    zip(group, self._ingest_group(pairs, replace, file_flags), strict=True)
                )
                group = {}
        if progress:
            progress(len(files), len(files), "")
        return [results[i] for i in range(len(files))]

    def ingest_upload(
        self, name: str, data: bytes, category: str | None = None, product: str | None = None,
        *, replace: bool = False, progress: Progress | None = None,
    ) -> IngestResult:
        """A file uploaded through the UI; refuses ones over ``max_upload_mb``, and one that
        would change an existing article unless the uploader chose ``replace``."""
        try:
            article = self._load_upload(name, data, category, product)
        except DeskpilotError as err:
            return _failed(name, err)
        flags = {name: _html_flags(name, data)}
        return self._ingest_group([(name, article)], replace, flags, progress)[0]

    def _load_upload(
        self, name: str, data: bytes, category: str | None, product: str | None
    ) -> Article:
        limit = self.settings.max_upload_mb * 1024 * 1024
        if len(data) > limit:
            problem = f"is larger than the {self.settings.max_upload_mb} MB upload limit"
            raise IngestError(name, problem)
        return load_bytes(name, data, category=category, product=product)

    def preview_upload(
        self, name: str, data: bytes, category: str | None = None, product: str | None = None
    ) -> UploadPreview:
        """What ingesting this upload would do, before anything is written: add, replace
        (with a diff of the article's text), unchanged, or refused (and why)."""
        try:
            article = self._load_upload(name, data, category, product)
        except DeskpilotError as err:
            return UploadPreview(source=name, action="refused", reason=err.user_message)
        article = article.model_copy(update=_labels(article.category, article.product))
        chunks = self._chunker(article, self.settings.chunk_size, self.settings.chunk_overlap)
        flags = [f"{r['chunk_id']}: {r['flags']}" for r in
                 flag_rows(chunks, _html_flags(name, data))]
        base = UploadPreview(source=name, action="add", article_id=article.article_id,
                             title=article.title, flags=flags)
        conflict = identity_conflict(article, self._rows())
        if conflict:
            return base.model_copy(update={"action": "refused", "reason": conflict})
        existing = self._registry_row(article.article_id)
        if existing is None:
            return base
        if existing["content_hash"] == self._content_hash(article):
            return base.model_copy(update={"action": "unchanged"})
        old = "\n\n".join(c.text for c in self.get_chunks(article.article_id))
        new = "\n\n".join(c.text for c in chunks)
        return base.model_copy(update={
            "action": "replace", "diff": text_diff(old, new),
            "reason": f"replaces '{existing['title']}' ({article.article_id})"})

    def ingest_article(self, article: Article) -> IngestResult:
        """Add, replace or skip one article by its content hash."""
        source = article.source_path or article.source_url or article.article_id
        result = self.ingest_articles([article], [source])[0]
        if result.status is IngestStatus.FAILED:  # the only failure left: nothing to index
            raise IngestError(source, NO_TEXT)
        return result

    def ingest_articles(
        self, articles: Sequence[Article], sources: Sequence[str] | None = None,
        replace: bool | None = None, file_flags: Mapping[str, list[str]] | None = None,
        progress: Progress | None = None, check_identity: bool = False,
    ) -> list[IngestResult]:
        """Several articles, embedded together in batches; results in the same order.
        ``progress(done, total, "embedding")`` is called per batch of chunks, then
        ``"embedding passages"`` per batch of their passage units. Files (uploads,
        paths) are checked against other articles' source_url and title (``check_identity``);
        programmatic corpora (evaluation sets, which may share titles) are not."""
        sources = sources or [a.source_path or a.source_url or a.article_id for a in articles]
        file_flags = file_flags or {}
        with self._lock:
            plans = [self._plan(src, a, replace, file_flags.get(src, []), check_identity)
                     for src, a in zip(sources, articles, strict=True)]
            todo = [p for p in plans if p.chunks]
            if todo:
                texts = [c.embedding_text() for p in todo for c in p.chunks]
                vectors = self._embed_in_batches(texts, progress)
                units = self._embed_units([c for p in todo for c in p.chunks], progress)
                start = 0
                for plan in todo:
                    end = start + len(plan.chunks)
                    self._replace(plan, vectors[start:end], units[start:end])
                    start = end
                self._catalogue = None
        return [p.result for p in plans]

    def _embed_in_batches(
        self, texts: list[str], progress: Progress | None, phase: str = "embedding"
    ) -> Any:
        """Embed in slices so a 1 MB article reports progress instead of one silent call."""
        if progress is None or len(texts) <= EMBED_SLICE:
            return self.embedder.embed(texts)
        import numpy as np

        parts = []
        for start in range(0, len(texts), EMBED_SLICE):
            progress(start, len(texts), phase)
            parts.append(self.embedder.embed(texts[start: start + EMBED_SLICE]))
        progress(len(texts), len(texts), phase)
        return np.vstack(parts)

    def _embed_units(
        self, chunks: Sequence[Chunk], progress: Progress | None
    ) -> list[tuple[str, str, Any]]:
        """Each chunk's passage units (``answer_select.unit_texts``) embedded in one batch
        with the others, so answering a question needs only the question's vector."""
        if self.unit_texts is None:
            return [(c.chunk_id, "", None) for c in chunks]
        per_chunk = [self.unit_texts(c.title, c.heading_path, c.text) for c in chunks]
        flat = [t for texts in per_chunk for t in texts]
        vectors: Any = (self._embed_in_batches(flat, progress, "embedding passages")
                        if flat else None)
        rows, start = [], 0
        for chunk, texts in zip(chunks, per_chunk, strict=True):
            matrix = vectors[start:start + len(texts)] if texts else None
            rows.append((chunk.chunk_id, units_key(texts), matrix))
            start += len(texts)
        return rows

    def term_idf(self) -> Mapping[str, float]:
        """Inverse document frequency of every content term (``confidence.content_terms``)
        over the chunks, computed once per catalogue; a term in no chunk is absent."""
        return self._current_catalogue().idf

    def unit_vectors(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, Any]]:
        """Stored passage-unit vectors of these chunks: ``chunk_id -> (key, matrix)``."""
        return self.units.get(chunk_ids)

    def next_chunk(self, chunk_id: str) -> tuple[str, str] | None:
        """Id and text of the chunk after this one in its article, if it continues the same
        section and is not quarantined (``answer_select`` continues a passage cut by the
        chunker there). Served from the in-memory catalogue: no store round trip."""
        catalogue = self._current_catalogue()
        chunk = catalogue.chunks.get(chunk_id)
        if chunk is None:
            return None
        following = catalogue.chunks.get(f"{chunk.article_id}:{chunk.position + 1}")
        if (following is None or following.chunk_id in catalogue.quarantined
                or following.heading_path != chunk.heading_path):
            return None
        return following.chunk_id, following.text

    def _ingest_group(
        self, group: list[tuple[str, Article]], replace: bool | None = None,
        file_flags: Mapping[str, list[str]] | None = None, progress: Progress | None = None,
    ) -> list[IngestResult]:
        if not group:
            return []
        try:
            return self.ingest_articles(
                [a for _, a in group], [s for s, _ in group], replace, file_flags, progress,
                check_identity=True,
            )
        except DeskpilotError as err:  # the embedder or the store is down: every file fails
            return [_failed(source, err) for source, _ in group]

    def _plan(
        self, source: str, article: Article, replace: bool | None = None,
        extra_flags: Sequence[str] = (), check_identity: bool = False,
    ) -> _Plan:
        """Decide what ingesting one article means; chunks are set only if it must be written.

        ``replace``: True = may change an existing article with this id; False = never (an
        upload whose uploader did not choose replace); None = only from the file it came from."""
        article = article.model_copy(update=_labels(article.category, article.product))
        digest = self._content_hash(article)
        existing = self._registry_row(article.article_id)
        if existing and existing["content_hash"] == digest:
            status, count = IngestStatus.UNCHANGED, existing["chunks"]
            return _Plan(article, digest, [], _result(source, status, article, count))
        refusal = identity_conflict(article, self._rows()) if check_identity else None
        if existing and refusal is None and not _may_replace(existing, article, replace):
            refusal = (f"would replace the existing article '{existing['title']}' "
                       f"({article.article_id}); choose replace to update it")
        if refusal:
            return _Plan(article, digest, [], _failed(source, IngestError(source, refusal)))
        chunks = self._chunk(article)
        if not chunks:
            return _Plan(article, digest, [], _failed(source, IngestError(source, NO_TEXT)))
        status = IngestStatus.UPDATED if existing else IngestStatus.ADDED
        result = _result(source, status, article, len(chunks))
        flagged = flag_rows(chunks, extra_flags)
        result.flags = [f"{r['chunk_id']}: {r['flags']}" for r in flagged]
        return _Plan(article, digest, chunks, result, flagged)

    def _rows(self) -> list[dict[str, Any]]:
        return list(self._db.query("SELECT article_id, title, source_url FROM articles"))

    def _chunk(self, article: Article) -> list[Chunk]:
        """Chunk, then make sure no chunk overflows the embedding model's token window."""
        chunks = self._chunker(article, self.settings.chunk_size, self.settings.chunk_overlap)
        count_tokens = getattr(self.embedder, "count_tokens", None)
        max_tokens = getattr(self.embedder, "max_tokens", None)
        if chunks and self._fit_to_model and count_tokens and max_tokens:
            chunks = fit_to_token_limit(chunks, count_tokens, int(max_tokens))
        return chunks

    def _replace(self, plan: _Plan, vectors: Any, units: Sequence[tuple[str, str, Any]]) -> None:
        """All old chunks (and their unit vectors) go first, so an article that shrank
        leaves none behind."""
        chunks = plan.chunks
        self.store.delete(where={"article_id": plan.article.article_id})
        self.store.upsert(
            [c.chunk_id for c in chunks],
            vectors,
            [c.text for c in chunks],
            [chunk_metadata(c) for c in chunks],
        )
        self._save_registry(plan.article, plan.digest, len(chunks))
        self.flags.replace_article(plan.article.article_id, plan.flagged)
        self.units.replace_article(
            plan.article.article_id, [row for row in units if row[2] is not None])

    def _content_hash(self, article: Article) -> str:
        """Anything that would change the stored chunks: content, chunking and model."""
        fields = article.model_dump(exclude={"source_path"})
        config = [self.settings.chunk_size, self.settings.chunk_overlap, self._chunker_version]
        payload = json.dumps([fields, config, self.embedder.name], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _save_registry(self, article: Article, digest: str, chunks: int) -> None:
        row = article.model_dump(exclude={"text"}) | {
            "content_hash": digest,
            "chunks": chunks,
            "ingested_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self._articles.upsert(row, pk="article_id")

    def delete_article(self, article_id: str) -> None:
        with self._lock:
            if self._registry_row(article_id) is None:
                raise NotFound(f"No knowledge-base article with id '{article_id}'.")
            self.store.delete(where={"article_id": article_id})
            self._articles.delete(article_id)
            self.flags.delete_article(article_id)
            self.units.delete_article(article_id)
            self._catalogue = None

    def flagged_passages(self, *, include_approved: bool = False) -> list[dict[str, Any]]:
        """Passages that read as instructions to a model (kept out of search until approved)."""
        return self.flags.list(include_approved=include_approved)

    def approve_passages(self, target: str, by: str) -> int:
        """An admin approves a flagged passage (chunk id) or all of an article's; it becomes
        searchable. Returns how many passages were approved."""
        if not by.strip():
            raise DeskpilotError("Say who approves the passage (an admin's name).")
        with self._lock:
            count = self.flags.approve(target, by.strip())
            if count == 0:
                raise NotFound(f"No flagged passage or article with id '{target}'.")
            self._catalogue = None
        return count

    # ------------------------------------------------------------------------- read
    def list_articles(self) -> list[ArticleInfo]:
        rows = self._db.query("SELECT * FROM articles ORDER BY title COLLATE NOCASE, article_id")
        return [ArticleInfo.model_validate(row) for row in rows]

    def get_chunks(self, article_id: str) -> list[Chunk]:
        rows = self.store.get(where={"article_id": article_id})
        return sorted((chunk_from_row(*row) for row in rows), key=lambda c: c.position)

    def categories(self) -> list[str]:
        return self._distinct("category")

    def products(self) -> list[str]:
        return self._distinct("product")

    def _distinct(self, column: str) -> list[str]:
        sql = f"SELECT DISTINCT {column} AS v FROM articles ORDER BY v"
        return [row["v"] for row in self._db.query(sql)]

    def _registry_row(self, article_id: str) -> dict[str, Any] | None:
        rows = list(self._db.query("SELECT * FROM articles WHERE article_id = ?", [article_id]))
        return rows[0] if rows else None

    # ------------------------------------------------------------------------- search
    def search(
        self,
        query: str,
        *,
        category: str | None = None,
        product: str | None = None,
        k: int = 5,
        mode: Mode = "hybrid",
    ) -> list[SearchHit]:
        """Best chunk of each distinct article first, then further chunks of those articles.

        The first hit of an article carries the article's evidence (its best dense and
        BM25 rank and score over all its chunks), so confidence sees the retrievers agree
        whenever their top chunks lie in one article, even in different chunks."""
        articles = self._ranked_articles(query, category, product, mode)
        rest = sorted((hit for group in articles for hit in group[1:]), key=_rest_order)
        return ([group[0] for group in articles] + rest)[:k]

    def search_articles(
        self,
        query: str,
        k: int = 10,
        *,
        category: str | None = None,
        product: str | None = None,
        mode: Mode = "hybrid",
    ) -> list[tuple[str, float]]:
        """Articles with their fused scores, in the very order ``search`` shows them."""
        articles = self._ranked_articles(query, category, product, mode)
        return [(group[0].article_id, group[0].fused_score) for group in articles[:k]]

    def _ranked_articles(
        self, query: str, category: str | None, product: str | None, mode: Mode
    ) -> list[list[SearchHit]]:
        if not query.strip():
            return []
        category, product = _labels(category, product).values()
        catalogue = self._current_catalogue()
        n = self.settings.retrieval_candidates
        dense = self._dense(query, n, category, product) if mode != "bm25" else []
        keyword = (
            catalogue.bm25.search(query, n, category=category, product=product)
            if mode != "dense"
            else []
        )
        return fuse_articles(_chunk_hits(catalogue, dense, keyword), self._fusion_params())

    def _fusion_params(self) -> FusionParams:
        s = self.settings
        return FusionParams(s.fusion, s.dense_weight, s.bm25_weight, s.rrf_k)

    def _dense(
        self, query: str, n: int, category: str | None, product: str | None
    ) -> list[tuple[str, float]]:
        vector = self.embedder.embed_query(query)
        return self.store.query(vector, n, where=where_filter(category, product))

    def _current_catalogue(self) -> _Catalogue:
        """Every chunk in memory for BM25 and hit assembly, rebuilt after any change."""
        with self._lock:
            catalogue = self._catalogue
            if catalogue is None or catalogue.size != self.store.count():
                rows = sorted(self.store.get(), key=lambda row: row[0])
                catalogue = _Catalogue([chunk_from_row(*row) for row in rows],
                                       self.flags.quarantined())
                self._catalogue = catalogue
            return catalogue


# ----------------------------------------------------------------------------- helpers
_REGISTRY_COLUMNS: dict[str, Any] = {
    "article_id": str,
    "title": str,
    "category": str,
    "product": str,
    "last_updated": str,
    "source_url": str,
    "source_path": str,
    "format": str,
    "content_hash": str,
    "chunks": int,
    "ingested_at": str,
}


NO_TEXT = "has no text to index"
INGEST_GROUP = 16  # articles embedded together by ingest_paths
EMBED_SLICE = 128  # chunks per embedding call when progress is reported


@dataclass
class _Plan:
    article: Article
    digest: str
    chunks: list[Chunk]
    result: IngestResult
    flagged: list[dict[str, str]] = field(default_factory=list)


class UploadPreview(BaseModel):
    """What an upload would do (``KnowledgeBase.preview_upload``), shown before applying it."""

    source: str
    action: Literal["add", "replace", "unchanged", "refused"]
    article_id: str | None = None
    title: str | None = None
    reason: str = ""
    diff: str = ""
    flags: list[str] = []


def _may_replace(existing: Mapping[str, Any], article: Article, replace: bool | None) -> bool:
    if replace is not None:
        return replace
    return not existing.get("source_path") or existing["source_path"] == article.source_path


def _html_flags(name: str, data: bytes) -> list[str]:
    if not name.lower().endswith((".html", ".htm")):
        return []
    return hidden_html_flags(data.decode("utf-8", errors="replace"))


class _Catalogue:
    def __init__(self, chunks: list[Chunk], quarantined: set[str] | None = None) -> None:
        self.quarantined = quarantined or set()
        self.chunks = {c.chunk_id: c for c in chunks}
        self.size = len(chunks)
        self.bm25 = BM25Index(chunks)

    @cached_property
    def idf(self) -> dict[str, float]:
        df: Counter[str] = Counter()
        for chunk in self.chunks.values():
            df.update(passage_terms(chunk.title, chunk.heading_path, chunk.text))
        n = max(1, self.size)
        return {t: math.log(1 + n / c) for t, c in df.items()}


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; directories expanded to their supported files (sorted, recursive),
    leaving out hidden files and READMEs, which describe a folder rather than help anyone."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if _is_article_file(p))
        else:
            files.append(path)  # missing or unsupported files fail with a clear message
    return files


def _is_article_file(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(".") or name.startswith("readme") or not path.is_file():
        return False
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def where_filter(category: str | None, product: str | None) -> dict[str, Any] | None:
    """The chunks of one category and/or product (the store's equality filter)."""
    where = {key: value for key, value in (("category", category), ("product", product)) if value}
    return where or None


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """A vector store's metadata holds scalars only, so the heading path travels as JSON."""
    meta = chunk.model_dump(exclude={"chunk_id", "text", "heading_path"})
    return meta | {"heading_path": json.dumps(chunk.heading_path, ensure_ascii=False)}


def chunk_from_row(chunk_id: str, text: str, meta: Mapping[str, Any]) -> Chunk:
    fields = dict(meta)
    fields["heading_path"] = json.loads(fields.get("heading_path") or "[]")
    return Chunk(chunk_id=chunk_id, text=text, **fields)


def _hit(chunk: Chunk) -> SearchHit:
    return SearchHit(
        chunk_id=chunk.chunk_id,
        article_id=chunk.article_id,
        title=chunk.title,
        heading_path=list(chunk.heading_path),
        text=chunk.text,
        category=chunk.category,
        product=chunk.product,
        source_url=chunk.source_url,
    )


def _chunk_hits(
    catalogue: _Catalogue,
    dense: list[tuple[str, float]],
    keyword: list[tuple[str, float]],
) -> list[SearchHit]:
    """One hit per candidate chunk, with its own rank and score from each retriever."""
    hits: dict[str, SearchHit] = {}
    for retriever, ranking in (("dense", dense), ("bm25", keyword)):
        for rank, (chunk_id, score) in enumerate(ranking, start=1):
            chunk = catalogue.chunks.get(chunk_id)
            if chunk is None or chunk_id in catalogue.quarantined:  # new elsewhere, or flagged
                continue
            hit = hits.setdefault(chunk_id, _hit(chunk))
            setattr(hit, f"{retriever}_score", score)
            setattr(hit, f"{retriever}_rank", rank)
    return list(hits.values())


def _rest_order(hit: SearchHit) -> tuple[float, str]:
    return (-hit.fused_score, hit.chunk_id)


def _labels(category: str | None, product: str | None) -> dict[str, Any]:
    """Filter keys compare lower-case, as the loaders store them."""
    clean = {"category": category, "product": product}
    return {key: (value.strip().lower() or None) if value else None for key, value in clean.items()}


def _result(source: str, status: IngestStatus, article: Article, chunks: int) -> IngestResult:
    return IngestResult(
        source=source,
        status=status,
        article_id=article.article_id,
        title=article.title,
        chunks=chunks,
    )


def _failed(source: str, err: DeskpilotError) -> IngestResult:
    return IngestResult(source=source, status=IngestStatus.FAILED, error=err.user_message)
