"""Vector stores: where chunk vectors live and are searched, behind one small interface.

``open_store(url, dim)``:
    a folder path               the embedded store (HNSW file + SQLite), the default
    chroma://host:port/name     a Chroma server (``pip install "kapibara[vector]"``)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kapibara.errors import ConfigError

Where = dict[str, Any]
"""A metadata filter: ``{"field": value}`` or ``{"field": {"$in": [v1, v2]}}``; fields AND-ed."""


@runtime_checkable
class VectorStore(Protocol):
    """Vectors keyed by chunk id, with flat metadata for filtering.

    ``search`` is the one method retrieval needs; ``add``/``delete``/``count`` keep the
    store in step with the knowledge base.
    """

    def search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        """Top-``k`` ``(chunk id, cosine score)`` pairs, best first, matching ``where``."""
        ...

    def add(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        """Insert or replace vectors."""
        ...

    def delete(self, ids: list[str]) -> None:
        """Remove vectors; unknown ids are ignored."""
        ...

    def count(self) -> int:
        """Number of live vectors."""
        ...


def matches(meta: dict[str, Any], where: Where | None) -> bool:
    """Whether ``meta`` satisfies the filter (the embedded store's semantics, mirrored by servers)."""
    if not where:
        return True
    for key, cond in where.items():
        val = meta.get(key)
        if isinstance(cond, dict):
            if "$in" in cond and val not in cond["$in"]:
                return False
            if "$eq" in cond and val != cond["$eq"]:
                return False
        elif val != cond:
            return False
    return True


def open_store(url: str | Path, dim: int) -> VectorStore:
    """Open the store named by ``url`` (see the module docstring)."""
    s = str(url)
    if s.startswith("chroma://"):
        from kapibara.rag.stores.chroma import ChromaStore

        rest = s[len("chroma://") :]
        hostport, _, name = rest.partition("/")
        host, _, port = hostport.partition(":")
        if not name:
            raise ConfigError(f"store url {s!r} has no collection name", hint="chroma://127.0.0.1:8000/mykb")
        return ChromaStore(name, host=host or "127.0.0.1", port=int(port or 8000))
    if "://" in s:
        raise ConfigError(f"unknown store url {s!r}", hint="give a folder path or chroma://host:port/name")
    from kapibara.rag.stores.sqlite import SqliteHnswStore

    return SqliteHnswStore(Path(s), dim)
