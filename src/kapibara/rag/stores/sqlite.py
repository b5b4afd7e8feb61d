"""The embedded store: an HNSW graph file plus SQLite for ids and metadata.

Writes are ordered so a crash never leaves a half-written index: the HNSW file is
replaced atomically first, then the SQLite transaction commits. Labels the graph holds
but SQLite does not know (a crash between the two) are ignored by search.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from kapibara.rag.hnsw import HnswIndex
from kapibara.rag.stores.base import Where, matches


class SqliteHnswStore:
    """Persistent vectors in ``folder/``: ``hnsw.bin`` (+ ``.json``) and ``vectors.sqlite``."""

    def __init__(self, folder: Path, dim: int, *, M: int = 16, ef_construction: int = 200, ef: int = 64) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self._db = sqlite3.connect(str(self.folder / "vectors.sqlite"), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vec (label INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, meta TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT)")
        self._db.commit()
        self.index = HnswIndex(dim, self.folder / "hnsw.bin", M=M, ef_construction=ef_construction, ef=ef)
        self._label_id: dict[int, str] = {}
        self._id_label: dict[str, int] = {}
        self._meta: dict[int, dict[str, Any]] = {}
        for label, cid, meta in self._db.execute("SELECT label, id, meta FROM vec"):
            self._label_id[label] = cid
            self._id_label[cid] = label
            self._meta[label] = json.loads(meta)
        row = self._db.execute("SELECT value FROM info WHERE key='next_label'").fetchone()
        self._next = int(row[0]) if row else 0

    def count(self) -> int:
        """Live vectors."""
        return len(self._label_id)

    def add(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        """Insert or replace; a replaced id's old vector becomes a tombstone."""
        if not ids:
            return
        old = [self._id_label[i] for i in ids if i in self._id_label]
        labels = list(range(self._next, self._next + len(ids)))
        self.index.delete(old)
        self.index.add(labels, vectors)
        self.index.save()
        with self._db:
            self._db.executemany("DELETE FROM vec WHERE label = ?", [(lb,) for lb in old])
            self._db.executemany(
                "INSERT INTO vec VALUES (?, ?, ?)",
                [(lb, i, json.dumps(m, ensure_ascii=False)) for lb, i, m in zip(labels, ids, metadatas, strict=True)],
            )
            self._db.execute("INSERT OR REPLACE INTO info VALUES ('next_label', ?)", (str(self._next + len(ids)),))
        for lb in old:
            self._meta.pop(lb, None)
            self._label_id.pop(lb, None)
        for lb, i, m in zip(labels, ids, metadatas, strict=True):
            self._label_id[lb] = i
            self._id_label[i] = lb
            self._meta[lb] = m
        self._next += len(ids)

    def delete(self, ids: list[str]) -> None:
        """Tombstone the vectors of ``ids``."""
        labels = [self._id_label[i] for i in ids if i in self._id_label]
        if not labels:
            return
        self.index.delete(labels)
        self.index.save()
        with self._db:
            self._db.executemany("DELETE FROM vec WHERE label = ?", [(lb,) for lb in labels])
        for lb in labels:
            self._id_label.pop(self._label_id.pop(lb), None)
            self._meta.pop(lb, None)

    def search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        """HNSW search; a filter is applied to an oversampled candidate list, widened until
        ``k`` matches are found or every vector was considered."""
        n = self.count()
        fetch = k if not where else min(n, k * 4)
        while True:
            labels, scores = self.index.search(vector, fetch)
            out = [
                (self._label_id[int(lb)], float(s))
                for lb, s in zip(labels, scores, strict=True)
                if int(lb) in self._label_id and matches(self._meta[int(lb)], where)
            ]
            if len(out) >= k or fetch >= n or not where:
                return out[:k]
            fetch = min(n, fetch * 4)

    def close(self) -> None:
        self._db.close()
