"""A Chroma server as the vector store (``chroma run`` from the ``chromadb`` PyPI package).

kapibara always sends its own embeddings, so Chroma's default embedding function (which
would download a model) is never used; telemetry is switched off.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from kapibara.errors import BackendError, require
from kapibara.rag.stores.base import Where


def _where(where: Where | None) -> dict[str, Any] | None:
    """Our filter syntax -> Chroma's (which needs ``$and`` for several fields)."""
    if not where:
        return None
    parts = [{k: v if isinstance(v, dict) else {"$eq": v}} for k, v in where.items()]
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _clean(meta: dict[str, Any]) -> dict[str, Any]:
    # Chroma metadata values must be str/int/float/bool.
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)} or {"_": 0}


class ChromaStore:
    """Vectors in one Chroma collection on a server, cosine space."""

    def __init__(self, collection: str, *, host: str = "127.0.0.1", port: int = 8000) -> None:
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        chromadb = require("chromadb", "chromadb", "vector")
        from chromadb.config import Settings

        try:
            self._client = chromadb.HttpClient(
                host=host, port=port, settings=Settings(anonymized_telemetry=False)
            )
            self._col = self._client.get_or_create_collection(
                collection, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
        except Exception as exc:  # chromadb raises its own and httpx types; report them alike
            raise BackendError(
                f"cannot reach the Chroma server at {host}:{port}: {exc}",
                hint="start it with: chroma run --path DIR --host 127.0.0.1 --port PORT",
            ) from exc

    def count(self) -> int:
        """Live vectors."""
        return int(self._col.count())

    def add(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict[str, Any]]) -> None:
        """Upsert in batches (the server caps request size)."""
        for i in range(0, len(ids), 1000):
            self._col.upsert(
                ids=ids[i : i + 1000],
                embeddings=np.asarray(vectors[i : i + 1000], dtype=np.float32).tolist(),
                metadatas=[_clean(m) for m in metadatas[i : i + 1000]],
            )

    def delete(self, ids: list[str]) -> None:
        """Delete by id; unknown ids are ignored by the server."""
        if ids:
            self._col.delete(ids=list(ids))

    def search(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[str, float]]:
        """Server-side HNSW search with the filter applied by Chroma."""
        n = self.count()
        if n == 0 or k <= 0:
            return []
        res = self._col.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=min(k, n),
            where=_where(where),
            include=["distances"],
        )
        # cosine distance -> cosine similarity, to match the embedded store's scores.
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]
