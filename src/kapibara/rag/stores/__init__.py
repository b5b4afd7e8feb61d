"""Vector stores: where chunk vectors live and are searched, behind one small interface.

``open_store(url, dim)``:
    a folder path               the embedded store (HNSW file + SQLite), the default
    chroma://host:port/name     a Chroma server (``pip install "kapibara[vector]"``)
"""

from __future__ import annotations

from pathlib import Path

from kapibara.errors import ConfigError
from kapibara.rag.stores.base import VectorStore, Where, matches

__all__ = ["VectorStore", "Where", "matches", "open_store"]


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
