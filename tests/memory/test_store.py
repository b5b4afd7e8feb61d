"""One behaviour suite for every session store: each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from kapibara.errors import DataError, KapibaraError
from kapibara.memory import SessionNotFound, SessionStore
from kapibara.models.base import Usage

TOOL_TURN = [
    {"role": "user", "content": "我想买一款拍照好的手机，有推荐吗？"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "recommend_products",
                    "arguments": json.dumps(
                        {"category": "手机", "scenario": "拍照", "max_price": None, "limit": 3},
                        ensure_ascii=False,
                    ),
                },
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": "call_1",
        "name": "recommend_products",
        "content": json.dumps(
            [{"name": "小米11 Ultra", "price": 5999.0, "attrs": {"camera": "5000万", "nested": [1, [2, {"x": "é"}]]}}],
            ensure_ascii=False,
        ),
    },
    {"role": "assistant", "content": "推荐小米11 Ultra 📷，价格 ¥5999。\n\"quoted\" \\ back\tslash"},
]


def run_py(code: str, *args: str, timeout: float = 120) -> str:
    """Run Python code in a new interpreter (a new process) and return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_append_keeps_order_across_calls(store: SessionStore) -> None:
    store.append("s1", TOOL_TURN[:2])
    store.append("s1", TOOL_TURN[2:])
    store.append("s1", [{"role": "user", "content": "再来一个"}])
    assert store.messages("s1") == [*TOOL_TURN, {"role": "user", "content": "再来一个"}]


def test_unknown_session_reads_empty(store: SessionStore) -> None:
    assert store.messages("nope") == []
    assert store.get_state("nope") == {}
    assert store.traces("nope") == []
    assert store.list_sessions() == []


def test_messages_are_lossless_chinese_and_tool_calls(store: SessionStore) -> None:
    store.append("zh", TOOL_TURN)
    got = store.messages("zh")
    assert got == TOOL_TURN
    assert json.loads(got[1]["tool_calls"][0]["function"]["arguments"])["category"] == "手机"


def test_resume_in_new_process(store_url: str, make_store: Callable[[], SessionStore]) -> None:
    writer = (
        "import json, sys\n"
        "from kapibara.memory import open_store\n"
        "s = open_store(sys.argv[1])\n"
        "s.append('resume', json.loads(sys.argv[2]))\n"
        "s.set_state('resume', {'cart': [{'product': '五常大米', 'quantity': 2}]})\n"
        "s.close()\n"
    )
    run_py(writer, store_url, json.dumps(TOOL_TURN[:2], ensure_ascii=False))
    run_py(writer, store_url, json.dumps(TOOL_TURN[2:], ensure_ascii=False))
    reader = (
        "import json, sys\n"
        "from kapibara.memory import open_store\n"
        "s = open_store(sys.argv[1])\n"
        "print(json.dumps({'m': s.messages('resume'), 'st': s.get_state('resume')}))\n"
    )
    seen = json.loads(run_py(reader, store_url))
    assert seen["m"] == TOOL_TURN
    assert seen["st"] == {"cart": [{"product": "五常大米", "quantity": 2}]}
    # and a fresh instance in this process agrees
    assert make_store().messages("resume") == TOOL_TURN


def test_state_round_trip_and_replace(store: SessionStore) -> None:
    cart = {"cart": [{"product": "蒙牛纯牛奶", "quantity": 3, "price": 4.5}], "meta": {"n": None, "ok": True}}
    store.set_state("st", cart)
    assert store.get_state("st") == cart
    store.set_state("st", {"cart": []})
    assert store.get_state("st") == {"cart": []}
    # state alone creates the session; appending keeps the state
    store.append("st", [{"role": "user", "content": "看看购物车"}])
    assert store.get_state("st") == {"cart": []}
    assert [s.session_id for s in store.list_sessions()] == ["st"]


def test_traces_in_order_per_session_and_all(store: SessionStore) -> None:
    store.add_trace("a", {"kind": "model_call", "raw": "<tool_call>{}</tool_call>", "repairs": ["json5"]})
    store.add_trace("b", {"kind": "tool_call", "arguments": {"city": "北京"}, "duration_s": 0.01})
    store.add_trace("a", {"kind": "tool_call", "usage": Usage(prompt_tokens=12, completion_tokens=3)})
    a = store.traces("a")
    assert [t["kind"] for t in a] == ["model_call", "tool_call"]
    assert a[0]["repairs"] == ["json5"] and a[0]["session_id"] == "a"
    assert a[1]["usage"]["prompt_tokens"] == 12  # dataclasses are stored as dicts
    everything = store.traces()
    assert [(t["session_id"], t["kind"]) for t in everything] == [
        ("a", "model_call"),
        ("b", "tool_call"),
        ("a", "tool_call"),
    ]
    assert everything[1]["arguments"] == {"city": "北京"}


def test_list_sessions_newest_first_with_counts_and_titles(store: SessionStore) -> None:
    store.append("old", [{"role": "system", "content": "你是购物助手"}, {"role": "user", "content": "  你好\n 世界  "}])
    store.append("new", TOOL_TURN)
    infos = store.list_sessions()
    assert [i.session_id for i in infos] == ["new", "old"]
    assert infos[0].n_messages == 4 and infos[1].n_messages == 2
    assert infos[0].title == TOOL_TURN[0]["content"]
    assert infos[1].title == "你好 世界"
    assert infos[0].created_at <= infos[0].updated_at
    store.append("old", [{"role": "user", "content": "later question does not retitle"}])
    infos = store.list_sessions()
    assert infos[0].session_id == "old" and infos[0].title == "你好 世界"


def test_delete_removes_everything(store: SessionStore) -> None:
    store.append("d", TOOL_TURN)
    store.set_state("d", {"cart": [1]})
    store.add_trace("d", {"kind": "x"})
    store.append("keep", [{"role": "user", "content": "hi"}])
    assert store.delete("d") is True
    assert store.delete("d") is False
    assert store.messages("d") == [] and store.get_state("d") == {} and store.traces("d") == []
    assert [i.session_id for i in store.list_sessions()] == ["keep"]
    with pytest.raises(SessionNotFound):
        store.export("d")


def test_export_is_lossless_through_json(store: SessionStore) -> None:
    store.append("e", TOOL_TURN)
    state = {"cart": [{"product": "挪威三文鱼", "quantity": 1, "attrs": {"origin": "挪威", "kg": 0.5}}]}
    store.set_state("e", state)
    store.add_trace("e", {"kind": "model_call", "messages": TOOL_TURN[:1], "raw": "思考中…"})
    data = store.export("e")
    again = json.loads(json.dumps(data, ensure_ascii=False))
    assert again == data
    assert again["messages"] == TOOL_TURN
    assert again["state"] == state
    assert again["traces"] == [{"session_id": "e", "kind": "model_call", "messages": TOOL_TURN[:1], "raw": "思考中…"}]
    assert again["session_id"] == "e" and again["title"] == TOOL_TURN[0]["content"]


def test_export_unknown_session_says_how_to_find_ids(store: SessionStore) -> None:
    with pytest.raises(SessionNotFound) as info:
        store.export("missing")
    assert isinstance(info.value, KapibaraError)
    assert info.value.hint == "kapibara sessions list"
    assert "missing" in str(info.value)


def test_bad_input_is_a_clear_error(store: SessionStore) -> None:
    with pytest.raises(DataError):
        store.append("x", [{"content": "no role"}])
    with pytest.raises(DataError):
        store.append("x", {"role": "user", "content": "not a list"})  # type: ignore[arg-type]
    with pytest.raises(DataError):
        store.append("", [{"role": "user", "content": "empty id"}])
    with pytest.raises(DataError):
        store.add_trace("x", {"fn": object()})
    # nothing half-written
    assert store.list_sessions() == []


def test_non_finite_numbers_become_null_on_every_backend(store: SessionStore) -> None:
    store.add_trace("n", {"usage": Usage(completion_tokens=0, decode_tps=float("nan")), "x": [float("inf"), 1.5]})
    (rec,) = store.traces("n")
    assert rec["usage"]["decode_tps"] is None and rec["usage"]["completion_tokens"] == 0
    assert rec["x"] == [None, 1.5]


def test_nul_characters(store: SessionStore, store_url: str) -> None:
    msg = {"role": "tool", "content": "bad\x00byte"}
    if store_url.startswith("postgresql"):
        with pytest.raises(DataError) as info:  # a clear error, not a driver traceback
            store.append("nul", [msg])
        assert info.value.hint and "NUL" in info.value.hint
        assert store.messages("nul") == []
    else:
        store.append("nul", [msg])
        assert store.messages("nul") == [msg]


def test_concurrent_writers_on_different_sessions(store: SessionStore) -> None:
    n_threads, n_turns = 6, 15
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(n_turns):
                store.append(f"t{t}", [{"role": "user", "content": f"问{i}"}, {"role": "assistant", "content": f"答{i}"}])
                store.add_trace(f"t{t}", {"turn": i})
                if i % 5 == 0:
                    store.set_state(f"t{t}", {"turn": i})
                    store.messages(f"t{t}")
        except BaseException as exc:
            errors.append(exc)

    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(worker, range(n_threads)))
    assert errors == []
    for t in range(n_threads):
        msgs = store.messages(f"t{t}")
        assert [m["content"] for m in msgs] == [x for i in range(n_turns) for x in (f"问{i}", f"答{i}")]
        assert [r["turn"] for r in store.traces(f"t{t}")] == list(range(n_turns))
    assert len(store.list_sessions()) == n_threads


def test_concurrent_writers_on_one_session_lose_nothing(store: SessionStore) -> None:
    barrier = threading.Barrier(4)

    def worker(t: int) -> None:
        barrier.wait()
        for i in range(10):
            store.append("shared", [{"role": "user", "content": f"{t}-{i}"}])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(worker, range(4)))
    contents = [m["content"] for m in store.messages("shared")]
    assert sorted(contents) == sorted(f"{t}-{i}" for t in range(4) for i in range(10))
    for t in range(4):  # each writer's own messages stay in its order
        assert [c for c in contents if c.startswith(f"{t}-")] == [f"{t}-{i}" for i in range(10)]


def test_killed_writer_keeps_every_completed_turn(store_url: str, make_store: Callable[[], SessionStore]) -> None:
    loop = (
        "import sys\n"
        "from kapibara.memory import open_store\n"
        "s = open_store(sys.argv[1])\n"
        "i = 0\n"
        "while True:\n"
        "    s.append('victim', [{'role': 'user', 'content': f'第{i}轮：买车厘子'},\n"
        "        {'role': 'assistant', 'content': '', 'tool_calls': [{'id': f'c{i}', 'type': 'function',\n"
        "         'function': {'name': 'add_to_cart', 'arguments': '{\"product_name\": \"车厘子\"}'}}]},\n"
        "        {'role': 'tool', 'tool_call_id': f'c{i}', 'content': f'已加入 {i}'}])\n"
        "    print(i, flush=True)\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", loop, store_url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    completed = -1
    try:
        for line in proc.stdout:
            completed = int(line)
            if completed >= 25:
                break
        os.kill(proc.pid, signal.SIGKILL)  # mid-loop: likely inside the next append
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert completed >= 25

    msgs = make_store().messages("victim")
    assert len(msgs) % 3 == 0, "a turn was half-written"
    turns = len(msgs) // 3
    assert turns >= completed + 1  # every turn reported done survived
    for i in range(turns):
        user, call, result = msgs[3 * i : 3 * i + 3]
        assert user == {"role": "user", "content": f"第{i}轮：买车厘子"}
        assert call["tool_calls"][0]["id"] == f"c{i}"
        assert result["content"] == f"已加入 {i}"
    # the store still accepts writes after the crash
    s = make_store()
    s.append("victim", [{"role": "user", "content": "还在吗"}])
    assert s.messages("victim")[-1]["content"] == "还在吗"
