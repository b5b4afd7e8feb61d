"""PostgreSQL session store: the way past one machine (``pip install "kapibara[postgres]"``).

Same semantics as the SQLite store. Messages, state and traces are JSONB. Each thread
gets its own autocommit connection and wraps each call in one explicit transaction,
so a killed client loses at most the call in flight and idle connections never sit
"idle in transaction". Appends to the same session from several processes are
serialised by a row lock on the session, so message order stays exact.

JSONB does not keep object key order or duplicate keys, and PostgreSQL text cannot
hold NUL characters (``\\u0000``); everything else round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kapibara.errors import BackendError, DataError, require
from kapibara.memory.base import (
    Message,
    SeenCounts,
    SessionInfo,
    SessionNotFound,
    ThreadConnections,
    check_messages,
    check_session_id,
    dumps,
    title_of,
    with_session_id,
)

CONNECT_TIMEOUT_S = 5

# Any constant works; it only has to be the same in every process creating the schema.
_SCHEMA_LOCK = 727_146_001

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS kapibara_sessions (
        session_id TEXT PRIMARY KEY,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        title TEXT NOT NULL DEFAULT '',
        state JSONB NOT NULL DEFAULT '{}'::jsonb
    )""",
    """CREATE TABLE IF NOT EXISTS kapibara_messages (
        session_id TEXT NOT NULL REFERENCES kapibara_sessions(session_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        message JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (session_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS kapibara_traces (
        id BIGSERIAL PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES kapibara_sessions(session_id) ON DELETE CASCADE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        record JSONB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS kapibara_traces_session ON kapibara_traces(session_id, id)",
]


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, never its password (for error messages)."""
    psycopg = require("psycopg", "psycopg[binary]", "postgres")
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = parts.get("port") or "5432"
    db = parts.get("dbname") or parts.get("user") or ""
    return f"{host}:{port}/{db}"


class PostgresSessionStore:
    """Sessions in PostgreSQL (tables ``kapibara_sessions``, ``kapibara_messages``, ``kapibara_traces``)."""

    def __init__(self, dsn: str) -> None:
        self._psycopg = require("psycopg", "psycopg[binary]", "postgres")
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self._conns = ThreadConnections()
        self._seen = SeenCounts()
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for stmt in _SCHEMA:
                cur.execute(stmt)

    # -- connections -------------------------------------------------------------

    def _conn(self) -> Any:
        conn = self._conns.get()
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        params = self._psycopg.conninfo.conninfo_to_dict(self.dsn)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        params.setdefault("application_name", "kapibara")
        try:
            conn = self._psycopg.connect(autocommit=True, **params)
        except self._psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(
                f"cannot connect to PostgreSQL at {self.where}: {first}",
                hint="start the server, or check the URL given with --db / KAPIBARA_SESSION_DB",
            ) from exc
        self._conns.put(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except self._psycopg.OperationalError as exc:
            raise BackendError(
                f"PostgreSQL at {self.where} failed: {exc}",
                hint="check that the server is running; the call in flight was rolled back",
            ) from exc
        except self._psycopg.DataError as exc:
            raise DataError(
                f"PostgreSQL rejected the data: {exc}",
                hint="PostgreSQL text and JSONB cannot hold NUL characters (\\u0000); strip them first",
            ) from exc

    def _lock_session(self, cur: Any, session_id: str) -> None:
        # Create-or-touch, which also row-locks the session until commit: concurrent
        # appends to the same session then compute the next seq one after another.
        cur.execute(
            "INSERT INTO kapibara_sessions (session_id) VALUES (%s) "
            "ON CONFLICT (session_id) DO UPDATE SET updated_at = now()",
            (session_id,),
        )

    # -- the SessionStore contract -----------------------------------------------

    def append(self, session_id: str, messages: list[Message]) -> None:
        """Append messages to a session (created if new) in one transaction."""
        check_session_id(session_id)
        check_messages(messages)
        rows = [dumps(m, "message") for m in messages]
        title = title_of(messages)
        try:
            self._append(session_id, rows, title)
        except BaseException:
            self._seen.forget(session_id)  # rolled back: the next turn reads the history again
            raise

    def _append(self, session_id: str, rows: list[str], title: str | None) -> None:
        with self._tx() as cur:
            self._lock_session(cur, session_id)
            if title:
                cur.execute(
                    "UPDATE kapibara_sessions SET title = %s WHERE session_id = %s AND title = ''",
                    (title, session_id),
                )
            cur.execute(
                "SELECT COALESCE(MAX(seq), -1) FROM kapibara_messages WHERE session_id = %s",
                (session_id,),
            )
            (last,) = cur.fetchone()
            # The session row is locked: no other writer can append before this commits.
            self._seen.claim(session_id, last + 1, len(rows))
            if rows:
                cur.executemany(
                    "INSERT INTO kapibara_messages (session_id, seq, message) "
                    "VALUES (%s, %s, %s::jsonb)",
                    [(session_id, last + 1 + i, row) for i, row in enumerate(rows)],
                )

    def messages(self, session_id: str) -> list[Message]:
        """All messages of a session in order; ``[]`` for an unknown id."""
        with self._tx() as cur:
            cur.execute(
                "SELECT message FROM kapibara_messages WHERE session_id = %s ORDER BY seq",
                (session_id,),
            )
            out = [row[0] for row in cur.fetchall()]
        self._seen.saw(session_id, len(out))
        return out

    def get_state(self, session_id: str) -> dict[str, Any]:
        """The tool state of a session; ``{}`` when unset or unknown."""
        with self._tx() as cur:
            cur.execute("SELECT state FROM kapibara_sessions WHERE session_id = %s", (session_id,))
            row = cur.fetchone()
        return dict(row[0]) if row else {}

    def set_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Replace the tool state of a session (created if new)."""
        check_session_id(session_id)
        if not isinstance(state, dict):
            raise DataError(f"session state must be a dict, got {type(state).__name__}")
        text = dumps(state, "session state")
        with self._tx() as cur:
            self._lock_session(cur, session_id)
            cur.execute(
                "UPDATE kapibara_sessions SET state = %s::jsonb WHERE session_id = %s",
                (text, session_id),
            )

    def add_trace(self, session_id: str, record: dict[str, Any]) -> None:
        """Store one trace record with the session (created if new)."""
        check_session_id(session_id)
        if not isinstance(record, dict):
            raise DataError(f"a trace record must be a dict, got {type(record).__name__}")
        text = dumps(record, "trace record")
        with self._tx() as cur:
            self._lock_session(cur, session_id)
            cur.execute(
                "INSERT INTO kapibara_traces (session_id, record) VALUES (%s, %s::jsonb)",
                (session_id, text),
            )

    def traces(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """Trace records in the order added, of one session or all of them."""
        with self._tx() as cur:
            if session_id is None:
                cur.execute("SELECT session_id, record FROM kapibara_traces ORDER BY id")
            else:
                cur.execute(
                    "SELECT session_id, record FROM kapibara_traces WHERE session_id = %s "
                    "ORDER BY id",
                    (session_id,),
                )
            return [with_session_id(rec, sid) for sid, rec in cur.fetchall()]

    def list_sessions(self) -> list[SessionInfo]:
        """All sessions, most recently updated first."""
        with self._tx() as cur:
            cur.execute(
                "SELECT s.session_id, extract(epoch FROM s.created_at)::float8, "
                "extract(epoch FROM s.updated_at)::float8, s.title, "
                "(SELECT COUNT(*) FROM kapibara_messages m WHERE m.session_id = s.session_id) "
                "FROM kapibara_sessions s ORDER BY s.updated_at DESC, s.session_id"
            )
            rows = cur.fetchall()
        return [
            SessionInfo(session_id=sid, created_at=c, updated_at=u, n_messages=int(n), title=t)
            for sid, c, u, t, n in rows
        ]

    def delete(self, session_id: str) -> bool:
        """Delete a session and everything in it; False if it did not exist."""
        self._seen.forget(session_id)
        with self._tx() as cur:
            cur.execute("DELETE FROM kapibara_sessions WHERE session_id = %s", (session_id,))
            return bool(cur.rowcount > 0)

    def export(self, session_id: str) -> dict[str, Any]:
        """Messages, state and traces of a session as one JSON-ready dict."""
        with self._tx() as cur:
            # REPEATABLE READ is not needed: the session row lock below blocks writers
            # of this session for the duration of this short transaction.
            cur.execute(
                "SELECT extract(epoch FROM created_at)::float8, "
                "extract(epoch FROM updated_at)::float8, title, state "
                "FROM kapibara_sessions WHERE session_id = %s FOR SHARE",
                (session_id,),
            )
            row = cur.fetchone()
            if row is None:
                raise SessionNotFound(session_id)
            created, updated, title, state = row
            cur.execute(
                "SELECT message FROM kapibara_messages WHERE session_id = %s ORDER BY seq",
                (session_id,),
            )
            messages = [r[0] for r in cur.fetchall()]
            cur.execute(
                "SELECT record FROM kapibara_traces WHERE session_id = %s ORDER BY id",
                (session_id,),
            )
            traces = [with_session_id(r[0], session_id) for r in cur.fetchall()]
        return {
            "session_id": session_id,
            "created_at": created,
            "updated_at": updated,
            "title": title,
            "messages": messages,
            "state": state,
            "traces": traces,
        }

    def close(self) -> None:
        """Close every connection this store opened (from any thread)."""
        self._conns.close_all()

    def __enter__(self) -> PostgresSessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresSessionStore({self.where!r})"
