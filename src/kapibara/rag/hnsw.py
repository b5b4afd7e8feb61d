"""On-disk HNSW index (Hierarchical Navigable Small World graphs, Malkov & Yashunin 2016).

The graph itself is ``chroma-hnswlib``, a maintained binary wheel of hnswlib (C++, no
compiler needed); this module adds what an embedded store needs around it: atomic
persistence (``fileio.atomic_path``: temp file + ``os.replace``), growth, tombstone
deletes, and ``exact_search`` (numpy brute force) to measure the graph's recall against.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kapibara.errors import require
from kapibara.fileio import atomic_path


def exact_search(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` rows of ``matrix`` by inner product: ``(indices, scores)`` per query row."""
    q = np.atleast_2d(query).astype(np.float32)
    scores = q @ matrix.T
    k = min(k, matrix.shape[0])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(scores, idx, axis=1)


class HnswIndex:
    """Inner-product HNSW over unit vectors, addressed by integer labels.

    ``M`` (graph degree) and ``ef_construction`` trade build time for recall; ``ef`` is the
    search beam width (higher = better recall, slower). ``ef`` is never below ``k``.
    """

    def __init__(
        self,
        dim: int,
        path: str | os.PathLike[str] | None = None,
        *,
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 64,
        threads: int = 1,
    ) -> None:
        self._hnswlib = require("hnswlib", "chroma-hnswlib", "rag")
        self.dim = dim
        self.path = Path(path) if path else None
        self.M = M
        self.ef_construction = ef_construction
        self.ef = ef
        self.threads = threads
        self._deleted: set[int] = set()
        self._index: Any = None
        if self.path and self.path.exists():
            self._load()
        else:
            self._new(1024)

    def _new(self, capacity: int) -> None:
        self._index = self._hnswlib.Index(space="ip", dim=self.dim)
        self._index.init_index(max_elements=capacity, ef_construction=self.ef_construction, M=self.M)
        self._index.set_num_threads(self.threads)

    def _meta_path(self) -> Path:
        assert self.path is not None
        return self.path.with_suffix(".json")

    def _load(self) -> None:
        assert self.path is not None
        meta = json.loads(self._meta_path().read_text()) if self._meta_path().exists() else {}
        self.M = meta.get("M", self.M)
        self.ef_construction = meta.get("ef_construction", self.ef_construction)
        self._deleted = set(meta.get("deleted", []))
        self._index = self._hnswlib.Index(space="ip", dim=self.dim)
        self._index.load_index(str(self.path), max_elements=max(1024, meta.get("capacity", 1024)))
        self._index.set_num_threads(self.threads)

    def __len__(self) -> int:
        """Live (not deleted) vectors."""
        return int(self._index.get_current_count()) - len(self._deleted)

    def add(self, labels: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Insert vectors under new integer labels (grows the index as needed)."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if len(vectors) == 0:
            return
        need = self._index.get_current_count() + len(vectors)
        cap = self._index.get_max_elements()
        if need > cap:
            self._index.resize_index(max(need, cap * 2))
        self._index.add_items(vectors, np.asarray(labels, dtype=np.int64), num_threads=self.threads)

    def delete(self, labels: list[int]) -> None:
        """Tombstone labels: they stay in the graph for navigation but are never returned."""
        for label in labels:
            if label not in self._deleted:
                self._index.mark_deleted(int(label))
                self._deleted.add(int(label))

    def search(
        self, query: np.ndarray, k: int, *, ef: int | None = None, allowed: Callable[[int], bool] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-``k``: ``(labels, scores)`` with scores = inner product."""
        live = len(self)
        k = min(k, live)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        self._index.set_ef(max(ef or self.ef, k))
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        while True:
            try:
                labels, dist = self._index.knn_query(q, k=k, num_threads=1, filter=allowed)
                break
            except RuntimeError:
                # hnswlib cannot fill k results (filter too tight); ask for fewer.
                if k == 1:
                    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
                k = max(1, k // 2)
        return labels[0].astype(np.int64), (1.0 - dist[0]).astype(np.float32)

    def save(self) -> None:
        """Write the index and its metadata atomically: a crash leaves the previous files.

        Both temp files are written before either is renamed, the index first, so a
        failed write changes nothing.
        """
        if self.path is None:
            return
        meta = {
            "dim": self.dim,
            "M": self.M,
            "ef_construction": self.ef_construction,
            "capacity": int(self._index.get_max_elements()),
            "deleted": sorted(self._deleted),
        }
        # Exits run inner first: the index is renamed, then its metadata.
        with atomic_path(self._meta_path()) as meta_tmp, atomic_path(self.path) as index_tmp:
            self._index.save_index(str(index_tmp))
            meta_tmp.write_text(json.dumps(meta))
