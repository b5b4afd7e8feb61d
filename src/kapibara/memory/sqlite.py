"""SQLite session store: the embedded default (``$KAPIBARA_HOME/sessions.db``).

WAL mode lets readers run while one writer commits, and each ``append`` is one short
``BEGIN IMMEDIATE`` transaction, so requests on different sessions only ever wait for
each other's few-millisecond commit (``busy_timeout`` absorbs that wait instead of
failing). Each thread gets its own connection because a sqlite3 connection must not
be shared by threads running at once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kapibara.errors import BackendError, DataError
from kapibara.memory.base import (
    Message,
    SeenCounts,
    SessionInfo,
    SessionNotFound,
    ThreadConnections,
    check_messages,
    check_session_id,
    dumps,
    loads,
    title_of,
    with_session_id,
)
from kapibara.settings import kapibara_home

BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    message TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS traces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(session_id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_session ON traces(session_id, id);
"""


def _when_unlocked(statement: Callable[[], object]) -> None:
    """Run ``statement``, retrying while another process holds the lock.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once instead of calling the busy handler: five processes opening one new
    file at the same moment failed about once in 125 opens (bench/reliability.py).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def default_path() -> Path:
    """Where sessions live unless told otherwise: ``$KAPIBARA_HOME/sessions.db``."""
    return kapibara_home() / "sessions.db"


class SqliteSessionStore:
    """Sessions in one SQLite file (WAL). Safe across threads and processes."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self._conns = ThreadConnections()
        self._seen = SeenCounts()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(
                f"cannot create the directory of the session database {self.path}: {exc}",
                hint="pass a writable path with --db or set KAPIBARA_SESSION_DB",
            ) from exc
        try:
            # executescript wraps nothing in a transaction itself; every statement is
            # IF NOT EXISTS, so concurrent openers of a new file are harmless.
            conn = self._conn()
            _when_unlocked(lambda: conn.executescript(_SCHEMA))
        except sqlite3.DatabaseError as exc:
            raise BackendError(
                f"{self.path} is not a usable session database: {exc}",
                hint="pass another path with --db, or move the file away",
            ) from exc

    # -- connections -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = self._conns.get()
        if conn is None:
            try:
                # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each call is
                # exactly one transaction. check_same_thread=False only so close() can
                # close it from another thread; it is never used by two threads at once.
                conn = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_MS / 1000,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                _when_unlocked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
                # NORMAL in WAL mode: a committed transaction survives a killed process
                # (only an OS crash or power loss can lose the last commits).
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                raise BackendError(
                    f"cannot open the session database {self.path}: {exc}",
                    hint="check the path, its permissions and the free disk space, or pass another with --db",
                ) from exc
            self._conns.put(conn)
        return conn

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two writers never both read the
        # same next seq and then collide on commit.
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            # A full disk, a lock held past busy_timeout, a read-only file: one clear line.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise BackendError(
                f"the session database {self.path} refused the write: {exc}",
                hint="check the free disk space and the file's permissions; nothing of this write was saved",
            ) from exc

    def _touch(self, conn: sqlite3.Connection, session_id: str, now: float) -> None:
        conn.execute(
            "INSERT INTO sessions (session_id, created_at, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(session_id) DO UPDATE SET updated_at = excluded.updated_at",
            (session_id, now, now),
        )

    # -- the SessionStore contract -----------------------------------------------

    def append(self, session_id: str, messages: list[Message]) -> None:
        """Append messages to a session (created if new) in one transaction."""
        check_session_id(session_id)
        check_messages(messages)
        rows = [dumps(m, "message") for m in messages]
        title = title_of(messages)
        now = time.time()
        conn = self._conn()
        try:
            self._append(conn, session_id, rows, title, now)
        except BaseException:
            self._seen.forget(session_id)  # rolled back: the next turn reads the history again
            raise

    def _append(self, conn: sqlite3.Connection, session_id: str, rows: list[str], title: str | None,
                now: float) -> None:
        with self._write(conn):
            self._touch(conn, session_id, now)
            if title:
                conn.execute(
                    "UPDATE sessions SET title = ? WHERE session_id = ? AND title = ''",
                    (title, session_id),
                )
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(seq), -1) FROM messages WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            self._seen.claim(session_id, last + 1, len(rows))
            conn.executemany(
                "INSERT INTO messages (session_id, seq, message, created_at) VALUES (?, ?, ?, ?)",
                [(session_id, last + 1 + i, row, now) for i, row in enumerate(rows)],
            )

    def messages(self, session_id: str) -> list[Message]:
        """All messages of a session in order; ``[]`` for an unknown id."""
        cur = self._conn().execute(
            "SELECT message FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        out = [loads(row[0]) for row in cur]
        self._seen.saw(session_id, len(out))
        return out

    def get_state(self, session_id: str) -> dict[str, Any]:
        """The tool state of a session; ``{}`` when unset or unknown."""
        row = self._conn().execute(
            "SELECT state FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return loads(row[0]) if row else {}

    def set_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Replace the tool state of a session (created if new)."""
        check_session_id(session_id)
        if not isinstance(state, dict):
            raise DataError(f"session state must be a dict, got {type(state).__name__}")
        text = dumps(state, "session state")
        conn = self._conn()
        with self._write(conn):
            self._touch(conn, session_id, time.time())
            conn.execute("UPDATE sessions SET state = ? WHERE session_id = ?", (text, session_id))

    def add_trace(self, session_id: str, record: dict[str, Any]) -> None:
        """Store one trace record with the session (created if new)."""
        check_session_id(session_id)
        if not isinstance(record, dict):
            raise DataError(f"a trace record must be a dict, got {type(record).__name__}")
        text = dumps(record, "trace record")
        now = time.time()
        conn = self._conn()
        with self._write(conn):
            self._touch(conn, session_id, now)
            conn.execute(
                "INSERT INTO traces (session_id, created_at, record) VALUES (?, ?, ?)",
                (session_id, now, text),
            )

    def traces(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Trace records in the order added, of one session or all of them."""
        conn = self._conn()
        if session_id is None:
            cur = conn.execute("SELECT session_id, record FROM traces ORDER BY id")
        else:
            cur = conn.execute(
                "SELECT session_id, record FROM traces WHERE session_id = ? ORDER BY id",
                (session_id,),
            )
        return [with_session_id(loads(rec), sid) for sid, rec in cur]

    def list_sessions(self) -> list[SessionInfo]:
        """All sessions, most recently updated first."""
        cur = self._conn().execute(
            "SELECT s.session_id, s.created_at, s.updated_at, s.title, "
            "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.session_id) "
            "FROM sessions s ORDER BY s.updated_at DESC, s.session_id"
        )
        return [
            SessionInfo(session_id=sid, created_at=c, updated_at=u, n_messages=n, title=t)
            for sid, c, u, t, n in cur
        ]

    def delete(self, session_id: str) -> bool:
        """Delete a session and everything in it; False if it did not exist."""
        conn = self._conn()
        self._seen.forget(session_id)
        with self._write(conn):
            # Children first: does not rely on foreign_keys being on for old files.
            conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM traces WHERE session_id = ?", (session_id,))
            cur = conn.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            return cur.rowcount > 0

    def export(self, session_id: str) -> dict[str, Any]:
        """Messages, state and traces of a session as one JSON-ready dict."""
        conn = self._conn()
        # One read transaction so the parts are a consistent snapshot.
        conn.execute("BEGIN")
        try:
            row = conn.execute(
                "SELECT created_at, updated_at, title, state FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                raise SessionNotFound(session_id)
            created, updated, title, state = row
            data = {
                "session_id": session_id,
                "created_at": created,
                "updated_at": updated,
                "title": title,
                "messages": self.messages(session_id),
                "state": loads(state),
                "traces": self.traces(session_id),
            }
        finally:
            conn.execute("COMMIT")
        return data

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        self._conns.close_all()

    def __enter__(self) -> SqliteSessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteSessionStore({str(self.path)!r})"
