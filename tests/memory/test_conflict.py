"""Two writers on one session: the second gets a clear SessionConflict, nothing of its
turn is stored; sessions never read are appended to blindly; connections of finished
threads are closed."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from kapibara.errors import KapibaraError
from kapibara.memory import SessionConflict, SessionStore, SqliteSessionStore

USER = {"role": "user", "content": "hi"}


def test_second_writer_gets_a_clear_conflict(make_store: Callable[[], SessionStore]) -> None:
    a, b = make_store(), make_store()
    a.append("s", [USER])
    assert a.messages("s") == [USER] and b.messages("s") == [USER]
    b.append("s", [{"role": "assistant", "content": "from b"}])
    with pytest.raises(SessionConflict) as err:
        a.append("s", [{"role": "assistant", "content": "from a"}])
    assert isinstance(err.value, KapibaraError) and err.value.hint
    assert "another writer" in err.value.message and "read 1 messages, found 2" in err.value.message
    assert [m["content"] for m in b.messages("s")] == ["hi", "from b"]
    # the next turn reads the history again and goes on from there
    assert len(a.messages("s")) == 2
    a.append("s", [{"role": "user", "content": "again"}])
    assert [m["content"] for m in a.messages("s")] == ["hi", "from b", "again"]


def test_own_appends_and_blind_writers_never_conflict(make_store: Callable[[], SessionStore]) -> None:
    a, blind = make_store(), make_store()
    a.messages("s")
    for i in range(3):
        a.append("s", [{"role": "user", "content": f"a{i}"}])
    for i in range(3):  # never read the session: a log-like writer is not checked
        blind.append("s", [{"role": "user", "content": f"b{i}"}])
    assert len(a.messages("s")) == 6


def test_delete_forgets_what_was_read(make_store: Callable[[], SessionStore]) -> None:
    a = make_store()
    a.append("s", [USER])
    a.messages("s")
    assert a.delete("s")
    a.append("s", [USER])  # recreated: no stale count
    assert a.messages("s") == [USER]


def test_a_finished_threads_connection_is_closed(sqlite_store: SqliteSessionStore) -> None:
    def work() -> None:
        sqlite_store.append("t", [USER])
        sqlite_store.messages("t")

    for _ in range(30):
        t = threading.Thread(target=work)
        t.start()
        t.join()
    # was 30: one connection per thread, kept until close() (a server leaked one a request)
    assert sqlite_store._conns.open_count() <= 2
    assert len(sqlite_store.messages("t")) == 30
