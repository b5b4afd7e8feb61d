"""Fixtures for the session-store tests: one suite, run against SQLite and PostgreSQL.

``postgres_dsn`` starts a throwaway PostgreSQL cluster (Debian's ``postgresql``
package) once per test session on a free local port and removes it afterwards. On a
machine without PostgreSQL the postgres tests skip, except under CI (``CI=true``),
where a missing server is an error: CI must prove both stores.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kapibara.memory import SessionStore, SqliteSessionStore

PG_USER = "postgres"
PG_DB = "kapibara_test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _pg_bin() -> Path | None:
    """The newest PostgreSQL bin directory holding initdb and pg_ctl."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; run the server as the postgres system user then.
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", PG_USER, "--", *cmd]
        return ["su", PG_USER, "-c", " ".join(cmd)]
    return cmd


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        extra = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr}{proc.stdout}\n{extra}")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a fresh PostgreSQL database on a throwaway local cluster."""
    try:
        import psycopg
    except ImportError:
        _unavailable('psycopg is not installed: pip install "kapibara[postgres]"')
        raise AssertionError("unreachable") from None

    bindir = _pg_bin()
    if bindir is None:
        _unavailable(
            "PostgreSQL server binaries not found (initdb/pg_ctl); "
            "install Debian's postgresql package to run the postgres tests"
        )
        raise AssertionError("unreachable")
    if os.geteuid() == 0:
        try:
            import pwd

            pw = pwd.getpwnam(PG_USER)
        except KeyError:
            _unavailable(f"running as root but there is no {PG_USER!r} system user to run initdb as")
            raise AssertionError("unreachable") from None
    # Directly under /tmp, not pytest's tmp_path: pytest's base dir is private to the
    # current user, and the server may run as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="kapibara-pg-"))
    if os.geteuid() == 0:
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, log, port = root / "data", root / "server.log", _free_port()
    started = False
    try:
        _run(
            _as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust",
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            "initdb",
        )
        opts = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} "
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off")
        _run(
            _as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts,
                         "-w", "-t", "60", "start"]),
            "pg_ctl start",
            log,
        )
        started = True
        admin = f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"CREATE DATABASE {PG_DB}")
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/{PG_DB}"
    finally:
        if started:
            subprocess.run(
                _as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_clean(postgres_dsn: str) -> str:
    """The test database with every kapibara table emptied."""
    import psycopg

    from kapibara.memory.postgres import PostgresSessionStore

    PostgresSessionStore(postgres_dsn).close()  # creates the tables on first use
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE kapibara_traces, kapibara_messages, kapibara_sessions")
    return postgres_dsn


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh, empty store lives: a SQLite path or a PostgreSQL DSN."""
    if request.param == "sqlite":
        return str(tmp_path / "sessions.db")
    return str(request.getfixturevalue("pg_clean"))


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[[], SessionStore]]:
    """Open new store instances on the same database (closed at teardown)."""
    from kapibara.memory import open_store

    opened: list[SessionStore] = []

    def make() -> SessionStore:
        s = open_store(store_url)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store: Callable[[], SessionStore]) -> SessionStore:
    """A fresh, empty store of each kind."""
    return make_store()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteSessionStore]:
    s = SqliteSessionStore(tmp_path / "sessions.db")
    yield s
    s.close()


def wait_for(pred: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``pred`` until true or the timeout passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False
