"""Knowledge bases over HTTP, for the web UI: list, upload documents, search.

The same knowledge bases as ``kapibara kb`` (``$KAPIBARA_HOME/kb/NAME``). An uploaded
file is saved in the knowledge base's ``uploads/`` folder and ingested from there, so
uploading a changed file under the same name replaces its chunks, as ``kb ingest`` does
for a changed file. Blocking functions: the routes run them in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kapibara.errors import ConfigError
from kapibara.fileio import write_atomic
from kapibara.rag.embedders import Embedder
from kapibara.rag.knowledge_base import KnowledgeBase, Mode, kb_path
from kapibara.rag.loaders import SUPPORTED
from kapibara.serve.errors import APIError, bad_request
from kapibara.settings import kapibara_home

EmbedderSource = Callable[[], Embedder] | None
"""The server's embedder (loaded on first use); None lets a knowledge base load its own."""

_INGEST = threading.Lock()
"""Uploads are ingested one at a time: two ingests into one knowledge base at once would
write its vector store from two handles (``kb ingest`` has the same rule, one process)."""


def names() -> list[str]:
    """Knowledge bases under ``$KAPIBARA_HOME/kb/`` (what ``kapibara kb list`` prints)."""
    root = kapibara_home() / "kb"
    return [p.name for p in sorted(root.iterdir()) if (p / "catalog.sqlite").exists()] if root.is_dir() else []


def _folder(name: str) -> Path:
    try:
        return kb_path(name)
    except ConfigError as exc:
        raise bad_request(str(exc), "name", "invalid_kb_name") from exc


def _open(name: str, embedder: EmbedderSource) -> KnowledgeBase:
    folder = _folder(name)
    try:
        return KnowledgeBase(folder, embedder=embedder() if embedder is not None else None)
    except ConfigError as exc:  # built with another embedder than the server's, say
        raise bad_request(str(exc), "name", "kb_unusable") from exc


def upload(name: str, filename: str, data: bytes, embedder: EmbedderSource) -> dict[str, Any]:
    """Save ``data`` as ``filename`` in knowledge base ``name`` (created if new) and ingest it."""
    safe = Path(filename.replace("\\", "/")).name
    if not safe or safe.startswith("."):
        raise bad_request(f"bad file name {filename!r}", "file", "invalid_file_name")
    if Path(safe).suffix.lower() not in SUPPORTED:
        raise bad_request(f"unsupported file type {Path(safe).suffix or '(none)'}: use one of "
                          f"{', '.join(sorted(SUPPORTED))}", "file", "unsupported_file_type")
    path = _folder(name) / "uploads" / safe
    with _INGEST:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        base = _open(name, embedder)
        try:
            report = base.ingest(path)
        finally:
            base.close()
    if report.skipped:
        raise bad_request(f"{safe} was not ingested: {report.skipped[str(path.resolve())]}", "file", "unreadable_file")
    return {"kb": name, "file": safe, **report.to_dict()}


def search(name: str, query: str, k: int, mode: str, embedder: EmbedderSource) -> dict[str, Any]:
    """The ``k`` best chunks of knowledge base ``name`` for ``query``."""
    if not (_folder(name) / "catalog.sqlite").exists():
        raise APIError(404, f"knowledge base {name!r} does not exist; upload a document to create it",
                       param="name", code="kb_not_found")
    if mode not in ("bm25", "dense", "hybrid"):
        raise bad_request(f"unknown search mode {mode!r}: use bm25, dense or hybrid", "mode")
    if not query.strip():
        raise bad_request("q is empty", "q")
    mode_: Mode = mode  # type: ignore[assignment]
    base = _open(name, embedder)
    try:
        hits = base.search(query, k=k, mode=mode_)
    finally:
        base.close()
    return {"object": "list", "kb": name, "query": query,
            "data": [{"score": h.score, "retriever": h.retriever, **h.chunk.to_dict(),
                      "file": Path(h.chunk.source).name} for h in hits]}
