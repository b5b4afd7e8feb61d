"""The session-store contract: short-term memory of the agent.

A session is an ordered list of OpenAI-style messages, a tool-state dict (the
grocery cart, for instance) and the traces of every model and tool call made in it.
Stores are embedded (SQLite) or a server (PostgreSQL); both keep exactly the same
semantics, so code written against :class:`SessionStore` runs on either.

JSON encoding is shared here so both stores write byte-identical documents: UTF-8
without ``\\u`` escapes (Chinese stays readable in the database), and a small
``default`` hook for values the agent naturally produces (dataclasses such as
``Usage``, paths, datetimes) so a trace never fails to save over a stray type.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import threading
import weakref
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Protocol, runtime_checkable

from kapibara.errors import DataError, KapibaraError
from kapibara.models.base import Message

TITLE_CHARS = 60
"""A session's title is the start of its first user message, this many characters at most."""


class SessionNotFound(KapibaraError):
    """The session id is not in the store."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no session {session_id!r} in the session store",
            hint="kapibara sessions list",
        )
        self.session_id = session_id


class _Held:
    """A thread's connection, closed when the thread ends and its locals are dropped."""

    __slots__ = ("conn", "__weakref__")

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def __del__(self) -> None:
        # Runs as the owning thread exits; a connection already closed or broken raises
        # its driver's error here, and there is nobody left to tell.
        with contextlib.suppress(Exception):
            self.conn.close()


class ThreadConnections:
    """One database connection per thread, closed when that thread ends.

    The server runs every request in a new worker thread: connections kept in a plain list
    piled up, one per request, until the process ran out of file descriptors (SQLite) or the
    server's ``max_connections`` (PostgreSQL); measured in ``bench/reliability.py``.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._lock = threading.Lock()

    def get(self) -> Any:
        """This thread's connection, or None."""
        held = getattr(self._local, "held", None)
        return held.conn if held is not None else None

    def put(self, conn: Any) -> None:
        """Make ``conn`` this thread's connection."""
        held = _Held(conn)
        self._local.held = held
        with self._lock:
            self._all.add(held)

    def open_count(self) -> int:
        """Connections held now, across all live threads."""
        with self._lock:
            return len(self._all)

    def close_all(self) -> None:
        """Close every connection (from any thread)."""
        with self._lock:
            helds, self._all = list(self._all), weakref.WeakSet()
        self._local = threading.local()
        for held in helds:
            held.conn.close()


class SessionConflict(KapibaraError):
    """Another writer appended to the session after this store last read it."""

    def __init__(self, session_id: str, seen: int, found: int) -> None:
        super().__init__(
            f"session {session_id!r} was changed by another writer while this turn ran "
            f"(read {seen} messages, found {found}); this turn's messages were not saved",
            hint="run one conversation per session at a time; ask again to continue from the latest history",
        )
        self.session_id = session_id


class SeenCounts:
    """Optimistic concurrency on a session's message sequence number, per store instance.

    ``messages()`` records how many messages this instance saw; an ``append`` to a session
    it has read goes through only when the session still has exactly that many (plus what
    this instance appended since), so two processes running turns on one session cannot
    interleave their messages: the second writer gets :class:`SessionConflict`. Sessions
    this instance never read are appended to blindly (logs, imports, tests).
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def saw(self, session_id: str, count: int) -> None:
        """Record a read of ``count`` messages."""
        with self._lock:
            self._seen[session_id] = count

    def claim(self, session_id: str, found: int, adding: int) -> None:
        """Inside an append's transaction, where the session holds ``found`` messages:
        raise SessionConflict when this instance last saw another count, else count the
        ``adding`` messages about to be written as seen."""
        with self._lock:
            seen = self._seen.get(session_id)
            if seen is None:
                return
            if seen != found:
                # Forget it: the next turn reads the history again and starts from there.
                del self._seen[session_id]
                raise SessionConflict(session_id, seen, found)
            self._seen[session_id] = found + adding

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._seen.pop(session_id, None)


@dataclass(frozen=True)
class SessionInfo:
    """One row of :meth:`SessionStore.list_sessions`. Times are Unix epoch seconds."""

    session_id: str
    created_at: float
    updated_at: float
    n_messages: int
    title: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@runtime_checkable
class SessionStore(Protocol):
    """Where sessions live. Every method is safe to call from several threads.

    ``append`` is the one method the agent loop needs on every turn; the others serve
    resuming, tool state, traces and housekeeping.
    """

    def append(self, session_id: str, messages: list[Message]) -> None:
        """Append messages to a session (created if new) in one transaction.

        A process killed mid-call loses only these messages, never earlier ones. When
        this store read the session with ``messages`` and another writer appended since,
        raises :class:`SessionConflict` and stores nothing (see :class:`SeenCounts`).
        """
        ...

    def messages(self, session_id: str) -> list[Message]:
        """All messages of a session in the order appended; ``[]`` for an unknown id."""
        ...

    def get_state(self, session_id: str) -> dict[str, Any]:
        """The tool state of a session (``{}`` when none was set or the id is unknown)."""
        ...

    def set_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Replace the tool state of a session (created if new)."""
        ...

    def add_trace(self, session_id: str, record: dict[str, Any]) -> None:
        """Store one trace record (a model call or a tool call) with the session."""
        ...

    def traces(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Trace records in the order added, of one session or of all sessions.

        Each record carries its ``session_id`` (added when the record had none).
        """
        ...

    def list_sessions(self) -> list[SessionInfo]:
        """All sessions, most recently updated first."""
        ...

    def delete(self, session_id: str) -> bool:
        """Delete a session with its messages, state and traces; False if it did not exist."""
        ...

    def export(self, session_id: str) -> dict[str, Any]:
        """Everything about a session as one JSON-ready dict; raises SessionNotFound."""
        ...

    def close(self) -> None:
        """Close every connection the store opened."""
        ...


def _json_default(value: Any) -> Any:
    # Values the agent produces naturally; anything else is a developer error, raised
    # now rather than silently stringified (a trace must stay lossless).
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any, what: str = "value") -> str:
    """Encode a message, state or trace for storage (UTF-8, no ASCII escapes).

    NaN and infinities (a tokens/s of an empty completion, say) become ``null``: they
    are not JSON, PostgreSQL's JSONB rejects them, and both stores must agree.
    """
    try:
        try:
            return json.dumps(value, ensure_ascii=False, default=_json_default, allow_nan=False)
        except ValueError:
            value = _finite(json.loads(json.dumps(value, default=_json_default)))
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"cannot store {what} as JSON: {exc}",
            hint="pass plain dicts, lists, strings, numbers, booleans or None",
        ) from exc


def loads(text: str | bytes | None) -> Any:
    """Decode what :func:`dumps` wrote."""
    if text is None:
        return None
    return json.loads(text)


def check_messages(messages: list[Message]) -> None:
    """Raise DataError unless ``messages`` is a list of dicts with a ``role``."""
    if not isinstance(messages, list):
        raise DataError(
            f"messages must be a list of dicts, got {type(messages).__name__}",
            hint="wrap a single message in a list: store.append(sid, [msg])",
        )
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or "role" not in msg:
            raise DataError(
                f"message {i} is not a chat message dict with a 'role': {msg!r:.80}",
                hint='use OpenAI-style dicts such as {"role": "user", "content": "..."}',
            )


def check_session_id(session_id: str) -> None:
    """Raise DataError for an empty or non-string session id."""
    if not isinstance(session_id, str) or not session_id:
        raise DataError(
            f"session_id must be a non-empty string, got {session_id!r}",
            hint="use any stable string, for example a user id or a uuid4().hex",
        )


def title_of(messages: list[Message]) -> str | None:
    """The title a new session gets: the start of its first user message."""
    for msg in messages:
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):  # multimodal parts: take the text ones
                content = " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                )
            text = " ".join(str(content or "").split())
            if text:
                return text[:TITLE_CHARS]
    return None


def with_session_id(record: dict[str, Any], session_id: str) -> dict[str, Any]:
    """The record as stored, with ``session_id`` added when it had none."""
    if "session_id" not in record:
        record = {"session_id": session_id, **record}
    return record
