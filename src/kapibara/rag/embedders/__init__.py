"""Embedders: one method, ``embed_batch(texts) -> (n, dim) float32`` L2-normalised rows.

Specs for ``load_embedder``:
    use                          the bundled multilingual Universal Sentence Encoder (default)
    st:/path/to/model            a sentence-transformers model directory (e.g. bge-m3)
    openai:MODEL@http://host/v1  any OpenAI-compatible ``/v1/embeddings`` server
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from kapibara.errors import ConfigError


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    name: str

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` float32 array of L2-normalised rows."""
        ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache keyed by ``sha256(model name + text)`` and
    batches calls, so re-ingesting unchanged text costs no model time."""

    def __init__(self, inner: Embedder, path: str | os.PathLike[str], *, batch_size: int = 32) -> None:
        self.inner = inner
        self.name = inner.name
        self.batch_size = batch_size
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self.hits = 0
        self.misses = 0

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.name}\x00{text}".encode()).hexdigest()

    def embed_batch(
        self, texts: list[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed ``texts``, reading cached vectors and computing the rest in batches."""
        keys = [self._key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            q = f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(part))})"
            for k, blob in self._db.execute(q, part):
                found[k] = np.frombuffer(blob, dtype=np.float32)
        todo = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        if progress and len(texts) > len(todo):
            progress(len(texts) - len(todo))
        for b in range(0, len(todo), self.batch_size):
            idx = todo[b : b + self.batch_size]
            vecs = normalize(self.inner.embed_batch([texts[i] for i in idx]))
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO emb VALUES (?, ?)",
                    [(keys[i], v.tobytes()) for i, v in zip(idx, vecs, strict=True)],
                )
            for i, v in zip(idx, vecs, strict=True):
                found[keys[i]] = v
            if progress:
                progress(len(idx))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def close(self) -> None:
        self._db.close()


def load_embedder(spec: str = "use") -> Embedder:
    """Build an embedder from a spec string (see the module docstring)."""
    kind, _, rest = spec.partition(":")
    if kind == "use":
        from kapibara.rag.embedders.usem import UseEmbedder

        return UseEmbedder()
    if kind == "st" and rest:
        from kapibara.rag.embedders.sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(rest)
    if kind == "openai" and "@" in rest:
        from kapibara.rag.embedders.openai import OpenAIEmbedder

        model, _, url = rest.partition("@")
        return OpenAIEmbedder(model, url)
    raise ConfigError(
        f"unknown embedder spec {spec!r}",
        hint="use 'use', 'st:/path/to/model' or 'openai:MODEL@http://host:port/v1'",
    )
