"""Short-term memory: session stores (SQLite, PostgreSQL) and context budgeting.

>>> from kapibara.memory import open_store
>>> store = open_store("/tmp/kapibara-doc-sessions.db")   # or "postgresql://..."
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kapibara.errors import ConfigError
from kapibara.memory.base import SessionConflict, SessionInfo, SessionNotFound, SessionStore
from kapibara.memory.budget import approx_tokens, fit_to_budget, message_tokens
from kapibara.memory.sqlite import SqliteSessionStore, default_path

if TYPE_CHECKING:
    from kapibara.memory.postgres import PostgresSessionStore

ENV_VAR = "KAPIBARA_SESSION_DB"

__all__ = [
    "ENV_VAR",
    "PostgresSessionStore",
    "SessionConflict",
    "SessionInfo",
    "SessionNotFound",
    "SessionStore",
    "SqliteSessionStore",
    "approx_tokens",
    "default_path",
    "fit_to_budget",
    "message_tokens",
    "open_store",
]


def open_store(url_or_path: str | Path | None = None) -> SessionStore:
    """Open a session store from a path or URL.

    ``None`` uses ``$KAPIBARA_SESSION_DB`` when set, else SQLite at
    ``$KAPIBARA_HOME/sessions.db``. ``postgresql://...`` / ``postgres://...`` open
    PostgreSQL; ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` (SQLAlchemy's
    convention) or a plain path open SQLite.
    """
    if url_or_path is None:
        url_or_path = os.environ.get(ENV_VAR) or None
    if url_or_path is None:
        return SqliteSessionStore(default_path())
    if isinstance(url_or_path, Path):
        return SqliteSessionStore(url_or_path)
    text = url_or_path.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        from kapibara.memory.postgres import PostgresSessionStore

        return PostgresSessionStore(text)
    if scheme == "sqlite":
        path = text[len("sqlite://") :]
        # sqlite:///x.db -> "x.db" (relative); sqlite:////abs/x.db -> "/abs/x.db"
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigError(
                f"no file path in {text!r}",
                hint="write sqlite:///sessions.db (relative) or sqlite:////abs/sessions.db",
            )
        text = path
    elif scheme:
        raise ConfigError(
            f"unsupported session store URL scheme {scheme!r} in {text!r}",
            hint="use a file path, sqlite:///path, or postgresql://user@host:port/db",
        )
    if text == ":memory:":
        raise ConfigError(
            "an in-memory SQLite session store is not supported (each thread would see its own)",
            hint="use a temporary file path instead",
        )
    return SqliteSessionStore(text)


def __getattr__(name: str) -> Any:
    # PostgresSessionStore is importable from here without importing psycopg eagerly.
    if name == "PostgresSessionStore":
        from kapibara.memory.postgres import PostgresSessionStore

        return PostgresSessionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
