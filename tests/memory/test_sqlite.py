"""SQLite specifics: WAL mode, readers never block writers, readable UTF-8 on disk."""

from __future__ import annotations

import sqlite3
import threading
import time

from kapibara.memory import SqliteSessionStore


def test_database_is_in_wal_mode(sqlite_store: SqliteSessionStore) -> None:
    sqlite_store.append("a", [{"role": "user", "content": "hi"}])
    with sqlite3.connect(sqlite_store.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_open_reader_does_not_block_writers(sqlite_store: SqliteSessionStore) -> None:
    sqlite_store.append("a", [{"role": "user", "content": "第一句"}])
    reader = sqlite3.connect(sqlite_store.path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1  # snapshot taken
    took: list[float] = []

    def write() -> None:
        t0 = time.monotonic()
        sqlite_store.append("b", [{"role": "user", "content": "另一个会话"}])
        sqlite_store.append("a", [{"role": "assistant", "content": "同一个会话也行"}])
        took.append(time.monotonic() - t0)

    t = threading.Thread(target=write)
    t.start()
    t.join(timeout=10)
    assert took and took[0] < 2.0, "a writer waited for an open reader"
    # the reader keeps its consistent snapshot until it ends
    assert reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
    reader.execute("COMMIT")
    reader.close()
    assert len(sqlite_store.messages("a")) == 2


def test_json_is_stored_as_readable_utf8(sqlite_store: SqliteSessionStore) -> None:
    sqlite_store.append("zh", [{"role": "user", "content": "蒙牛纯牛奶多少钱？"}])
    with sqlite3.connect(sqlite_store.path) as raw:
        (text,) = raw.execute("SELECT message FROM messages").fetchone()
    assert "蒙牛纯牛奶" in text and "\\u" not in text


def test_each_thread_gets_its_own_connection(sqlite_store: SqliteSessionStore) -> None:
    conns: list[object] = []
    threads = [threading.Thread(target=lambda: conns.append(sqlite_store._conn())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in conns}) == 3
    sqlite_store.close()
    # closed connections are replaced transparently on next use
    assert sqlite_store.messages("x") == []
