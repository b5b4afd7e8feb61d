"""The vector-store contract and the metadata filter every store applies the same way."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

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
