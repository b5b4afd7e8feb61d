"""A knowledge base: ingestion (incremental, by content hash), the chunk catalog (SQLite),
a vector store, BM25, and search in ``bm25`` / ``dense`` / ``hybrid`` (RRF) modes.

    kb = KnowledgeBase.open("policies")            # $KAPIBARA_HOME/kb/policies/
    report = kb.ingest("docs/")                    # unchanged files are skipped
    hits = kb.search("退货需要几天？", k=5)         # hybrid by default

Layout of the folder: ``catalog.sqlite`` (files, chunks, tokens, metadata),
``vectors/`` (the embedded HNSW store, unless a server store URL is given) and
``embeddings.sqlite`` (the embedding cache).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kapibara.errors import ConfigError
from kapibara.rag.bm25 import BM25, tokenize
from kapibara.rag.chunking import chunk_text
from kapibara.rag.dedup import near_duplicates
from kapibara.rag.embedders import CachedEmbedder, Embedder, load_embedder
from kapibara.rag.fusion import rrf
from kapibara.rag.loaders import DEFAULT_MAX_BYTES, LoadError, iter_files, load_file
from kapibara.rag.stores import VectorStore, Where, matches, open_store
from kapibara.rag.types import Chunk, Document, Hit, IngestReport
from kapibara.settings import kapibara_home

Mode = Literal["bm25", "dense", "hybrid"]
Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)`` with stage in ``load``, ``embed``."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (source TEXT PRIMARY KEY, hash TEXT NOT NULL, n_chunks INTEGER, ingested_at REAL);
CREATE TABLE IF NOT EXISTS chunks (
  id TEXT PRIMARY KEY, file TEXT NOT NULL, source TEXT NOT NULL, title TEXT, heading TEXT,
  start INTEGER, "end" INTEGER, text TEXT NOT NULL, tokens TEXT NOT NULL, meta TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file);
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
"""


def kb_path(name: str) -> Path:
    """Folder of knowledge base ``name``: ``$KAPIBARA_HOME/kb/<name>``."""
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"invalid knowledge base name {name!r}", hint="use a plain name like 'policies'")
    return kapibara_home() / "kb" / name


def index_text(chunk: Chunk) -> str:
    """What is embedded/tokenised for a chunk: its heading path gives short chunks context."""
    head = chunk.heading.split(" > ")[-1] if chunk.heading else ""
    prefix = chunk.title if chunk.title and chunk.title not in chunk.text else ""
    if head and head not in chunk.text:
        prefix = f"{prefix} {head}".strip()
    return f"{prefix}\n{chunk.text}" if prefix else chunk.text


class KnowledgeBase:
    """Chunks + vectors + BM25 in one folder (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        embedder: Embedder | str | None = None,
        store: VectorStore | str | None = None,
        chunk_size: int = 200,
        chunk_overlap: int = 30,
        dedup_threshold: float = 0.85,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.chunk_size, self.chunk_overlap = chunk_size, chunk_overlap
        self.dedup_threshold = dedup_threshold
        self.max_file_bytes = max_file_bytes
        self._db = sqlite3.connect(str(self.path / "catalog.sqlite"), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        # A spec string is remembered so later opens need no flags.
        spec = embedder if isinstance(embedder, str) else None
        if spec:
            self._set_info("embedder", spec)
            self._db.commit()
        inner = embedder if embedder is not None and not isinstance(embedder, str) else load_embedder(
            spec or self._info("embedder") or "use"
        )
        saved = self._info("embedder_name")
        if saved and saved != inner.name:
            raise ConfigError(
                f"knowledge base {self.path} was built with embedder {saved}, not {inner.name}",
                hint="use the same embedder, or delete and re-ingest the knowledge base",
            )
        self.embedder = CachedEmbedder(inner, self.path / "embeddings.sqlite")
        self._store_arg = store if store is not None else self._info("store")
        self._store: VectorStore | None = store if store is not None and not isinstance(store, str) else None
        self._bm25: BM25 | None = None
        self._bm25_meta: list[dict[str, Any]] = []
        # Agents run tool calls concurrently; one SQLite connection must not be shared at once.
        self.lock = threading.RLock()

    @classmethod
    def open(cls, name: str, **kwargs: Any) -> KnowledgeBase:
        """Open (or create) the named knowledge base under ``$KAPIBARA_HOME/kb/``."""
        return cls(kb_path(name), **kwargs)

    # -- bookkeeping ---------------------------------------------------------------

    def _info(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_info(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, value))

    @property
    def store(self) -> VectorStore:
        """The vector store, opened on first use (its dimension comes from the embedder)."""
        if self._store is None:
            dim = int(self._info("dim") or 0) or self.embedder.embed_batch(["dim"]).shape[1]
            target = self._store_arg if isinstance(self._store_arg, str) else str(self.path / "vectors")
            self._store = open_store(target, dim)
        return self._store

    def close(self) -> None:
        """Close the catalog and caches."""
        self.embedder.close()
        self._db.close()

    # -- ingestion -----------------------------------------------------------------

    def ingest(self, path: str | Path, *, pattern: str = "*", progress: Progress | None = None) -> IngestReport:
        """Ingest a file or a directory incrementally; returns what was done and skipped.

        Unchanged files (same content hash) are skipped, changed files replaced, and files
        that disappeared from an ingested directory removed (``pattern``, e.g. ``"*.md"``,
        limits which files of a directory are considered). Bad files are reported in
        ``report.skipped``; nothing is written until every new chunk is embedded.
        """
        t0 = time.perf_counter()
        root = Path(path).resolve()
        if not root.exists():
            raise ConfigError(f"{path} does not exist", hint="give a file or a folder of documents")
        report = IngestReport()
        known = dict(self._db.execute("SELECT source, hash FROM files"))
        files = iter_files(root, pattern)
        docs_by_file: dict[str, list[Document]] = {}
        hashes: dict[str, str] = {}
        for n, f in enumerate(files, 1):
            key = str(f)
            if progress:
                progress("load", n, len(files))
            try:
                digest = hashlib.sha256(f.read_bytes()).hexdigest()
            except OSError as exc:
                report.skipped[key] = f"unreadable: {exc.strerror or exc}"
                continue
            if known.get(key) == digest:
                report.unchanged.append(key)
                continue
            try:
                docs_by_file[key] = load_file(f, max_bytes=self.max_file_bytes)
            except LoadError as exc:
                report.skipped[key] = str(exc)
                continue
            hashes[key] = digest
            (report.updated if key in known else report.added).append(key)
        if root.is_dir():
            prefix = str(root).rstrip("/") + "/"
            present = {str(f) for f in files}
            report.removed = [
                s for s in known if s.startswith(prefix) and s not in present and fnmatch.fnmatch(Path(s).name, pattern)
            ]
        self._apply(docs_by_file, hashes, report, progress)
        report.seconds = time.perf_counter() - t0
        return report

    def ingest_documents(
        self, docs: Iterable[Document], *, group: str = "documents", progress: Progress | None = None
    ) -> IngestReport:
        """Ingest in-memory documents as one unit named ``group`` (replaced on re-ingest)."""
        t0 = time.perf_counter()
        docs = list(docs)
        digest = hashlib.sha256(json.dumps([(d.source, d.text) for d in docs]).encode()).hexdigest()
        report = IngestReport()
        known = dict(self._db.execute("SELECT source, hash FROM files"))
        if known.get(group) == digest:
            report.unchanged.append(group)
        else:
            (report.updated if group in known else report.added).append(group)
            self._apply({group: docs}, {group: digest}, report, progress)
        report.seconds = time.perf_counter() - t0
        return report

    def _chunk(self, file: str, docs: list[Document]) -> list[Chunk]:
        out: list[Chunk] = []
        for doc in docs:
            meta: dict[str, Any] = {"source": doc.source, "title": doc.title, "format": doc.format}
            meta.update({k: v for k, v in doc.metadata.items() if isinstance(v, str | int | float | bool)})
            for seq, span in enumerate(chunk_text(doc.text, size=self.chunk_size, overlap=self.chunk_overlap)):
                cid = hashlib.sha1(f"{doc.source}\x00{seq}\x00{span.text}".encode()).hexdigest()[:20]
                out.append(Chunk(cid, doc.source, span.text, doc.title, span.heading, span.start, span.end, dict(meta)))
        return out

    def _apply(
        self,
        docs_by_file: dict[str, list[Document]],
        hashes: dict[str, str],
        report: IngestReport,
        progress: Progress | None,
    ) -> None:
        chunks_by_file = {f: self._chunk(f, d) for f, d in docs_by_file.items()}
        flat = [(f, c) for f, cs in chunks_by_file.items() for c in cs]
        # Near-duplicates among the new chunks are dropped (the first copy is kept).
        dups = set(near_duplicates([c.text for _, c in flat], threshold=self.dedup_threshold)) if flat else set()
        keep = [fc for i, fc in enumerate(flat) if i not in dups]
        # Identical chunk ids (same source, position and text) can only be stored once.
        keep = list({c.id: (f, c) for f, c in reversed(keep)}.values())[::-1]
        report.duplicates_dropped = len(dups)
        texts = [index_text(c) for _, c in keep]
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress("embed", done[0], len(texts))

        vectors = self.embedder.embed_batch(texts, progress=tick) if texts else None
        replaced = [*docs_by_file, *report.removed]
        old_ids = [
            r[0]
            for f in replaced
            for r in self._db.execute("SELECT id FROM chunks WHERE file = ?", (f,))
        ]
        # Vectors first (their store writes atomically), then the catalog in one transaction:
        # a crash in between leaves vectors the catalog does not know, which search ignores.
        new_ids = {c.id for _, c in keep}
        self.store.delete([i for i in old_ids if i not in new_ids])
        if vectors is not None and len(keep):
            self.store.add([c.id for _, c in keep], vectors, [c.metadata for _, c in keep])
        with self._db:
            for f in replaced:
                self._db.execute("DELETE FROM chunks WHERE file = ?", (f,))
                self._db.execute("DELETE FROM files WHERE source = ?", (f,))
            self._db.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (c.id, f, c.source, c.title, c.heading, c.start, c.end, c.text,
                     " ".join(tokenize(t)), json.dumps(c.metadata, ensure_ascii=False))
                    for (f, c), t in zip(keep, texts, strict=True)
                ],
            )
            counts: dict[str, int] = {}
            for f, _ in keep:
                counts[f] = counts.get(f, 0) + 1
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?)",
                [(f, hashes[f], counts.get(f, 0), time.time()) for f in docs_by_file],
            )
            if vectors is not None:
                self._set_info("dim", str(vectors.shape[1]))
            self._set_info("embedder_name", self.embedder.name)
            if isinstance(self._store_arg, str):
                self._set_info("store", self._store_arg)
        report.chunks_added = len(keep)
        self._bm25 = None

    def delete_source(self, source: str) -> int:
        """Remove one ingested file (or document group); returns the chunks removed."""
        ids = [r[0] for r in self._db.execute("SELECT id FROM chunks WHERE file = ?", (source,))]
        self.store.delete(ids)
        with self._db:
            self._db.execute("DELETE FROM chunks WHERE file = ?", (source,))
            self._db.execute("DELETE FROM files WHERE source = ?", (source,))
        self._bm25 = None
        return len(ids)

    # -- search --------------------------------------------------------------------

    def chunks(self, ids: list[str]) -> dict[str, Chunk]:
        """Chunks by id (unknown ids are absent)."""
        out: dict[str, Chunk] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f'SELECT id, source, text, title, heading, start, "end", meta FROM chunks WHERE id IN ({",".join("?" * len(part))})'
            for cid, src, text, title, heading, s, e, meta in self._db.execute(q, part):
                out[cid] = Chunk(cid, src, text, title or "", heading or "", s, e, json.loads(meta))
        return out

    def bm25(self) -> BM25:
        """The BM25 index over all chunks (rebuilt from stored tokens after changes)."""
        if self._bm25 is None:
            rows = self._db.execute("SELECT id, tokens, meta FROM chunks ORDER BY rowid").fetchall()
            self._bm25 = BM25([r[1].split() for r in rows], [r[0] for r in rows])
            self._bm25_meta = [json.loads(r[2]) for r in rows]
        return self._bm25

    def search_ids(
        self,
        query: str,
        k: int = 5,
        *,
        mode: Mode = "hybrid",
        where: Where | None = None,
        query_vector: np.ndarray | None = None,
        candidates: int | None = None,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[tuple[str, float, str]]:
        """``(chunk id, score, retriever)`` best first; ``query_vector`` skips query embedding.

        ``weights`` are the (BM25, dense) weights of the hybrid RRF fusion.
        """
        if mode not in ("bm25", "dense", "hybrid"):
            raise ConfigError(f"unknown search mode {mode!r}", hint="use bm25, dense or hybrid")
        n_cand = candidates or (max(k * 4, 30) if mode == "hybrid" else k)
        lex: list[tuple[str, float]] = []
        dense: list[tuple[str, float]] = []
        if mode in ("bm25", "hybrid"):
            bm = self.bm25()
            mask = np.array([matches(m, where) for m in self._bm25_meta], dtype=bool) if where else None
            lex = bm.search(query, n_cand, allowed=mask)
        if mode in ("dense", "hybrid"):
            vec = query_vector if query_vector is not None else self.embedder.inner.embed_batch([query])[0]
            dense = self.store.search(vec, n_cand, where)
        if mode == "bm25":
            return [(i, s, "bm25") for i, s in lex[:k]]
        if mode == "dense":
            return [(i, s, "dense") for i, s in dense[:k]]
        fused = rrf([[i for i, _ in lex], [i for i, _ in dense]], weights=list(weights))
        return [(i, s, "hybrid") for i, s in fused[:k]]

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        mode: Mode = "hybrid",
        where: Where | None = None,
        weights: tuple[float, float] = (1.0, 1.0),
    ) -> list[Hit]:
        """Retrieve the ``k`` best chunks for ``query`` (``weights``: BM25, dense in hybrid)."""
        with self.lock:
            ranked = self.search_ids(query, k, mode=mode, where=where, weights=weights)
            found = self.chunks([i for i, _, _ in ranked])
        # Ids the catalog does not know (a crash mid-ingest) are skipped, not errors.
        return [Hit(found[i], s, r) for i, s, r in ranked if i in found]

    def stats(self) -> dict[str, Any]:
        """Counts and sizes for ``kb stats``."""
        n_files = self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        n_chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {
            "path": str(self.path),
            "files": n_files,
            "chunks": n_chunks,
            "vectors": self.store.count() if n_chunks else 0,
            "embedder": self._info("embedder_name") or self.embedder.name,
            "store": self._info("store") or "embedded (hnsw + sqlite)",
            "bytes_on_disk": size,
        }

    def sources(self) -> list[str]:
        """Ingested files / document groups."""
        return [r[0] for r in self._db.execute("SELECT source FROM files ORDER BY source")]
