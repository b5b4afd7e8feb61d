"""open_store picks the right backend; misconfiguration fails with a message that says how to fix it."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from kapibara.errors import BackendError, ConfigError, MissingExtraError
from kapibara.memory import SqliteSessionStore, open_store


def test_default_is_sqlite_under_kapibara_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KAPIBARA_SESSION_DB", raising=False)
    store = open_store()
    assert isinstance(store, SqliteSessionStore)
    assert store.path == tmp_path / "home" / "sessions.db"
    store.append("x", [{"role": "user", "content": "hi"}])
    assert (tmp_path / "home" / "sessions.db").exists()
    store.close()


def test_env_var_chooses_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPIBARA_SESSION_DB", str(tmp_path / "env.db"))
    store = open_store(None)
    assert isinstance(store, SqliteSessionStore) and store.path == tmp_path / "env.db"
    store.close()


def test_sqlite_urls_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = open_store("sqlite:///rel.db")
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")  # sqlite:////tmp/... absolute
    plain = open_store(str(tmp_path / "plain.db"))
    assert isinstance(rel, SqliteSessionStore) and rel.path == Path("rel.db")
    assert isinstance(absolute, SqliteSessionStore) and absolute.path == tmp_path / "abs.db"
    assert isinstance(plain, SqliteSessionStore) and plain.path == tmp_path / "plain.db"
    for s in (rel, absolute, plain):
        s.close()


@pytest.mark.parametrize("bad", ["mysql://x/y", "sqlite://", ":memory:"])
def test_unsupported_locations_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_store(bad)
    assert info.value.hint


def test_not_a_database_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BackendError) as info:
        open_store(str(junk))
    assert str(junk) in info.value.message


def test_unreachable_postgres_names_host_port_not_password() -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError) as info:
        open_store(f"postgresql://kap:s3cret-pw@127.0.0.1:{port}/shop?connect_timeout=3")
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text
    assert "s3cret-pw" not in text
    assert info.value.hint and "--db" in info.value.hint


def test_postgres_without_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(MissingExtraError) as info:
        open_store("postgres://u@localhost/db")
    assert 'kapibara[postgres]' in str(info.value)
