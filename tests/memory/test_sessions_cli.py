"""``kapibara sessions ...`` on both stores, through Typer's test runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kapibara.commands.sessions import register
from kapibara.memory import SessionNotFound, SessionStore, open_store

TURN = [
    {"role": "user", "content": "云南小粒咖啡豆有什么促销？"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "c9",
                "type": "function",
                "function": {"name": "get_promotions", "arguments": '{"product_name": "云南小粒咖啡豆"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c9", "name": "get_promotions", "content": "满99减10"},
    {"role": "assistant", "content": "现在满99减10。"},
]


@pytest.fixture
def cli() -> Callable[..., object]:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps "sessions" a sub-command even with one group
        pass

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input)

    return invoke


@pytest.fixture
def filled(make_store: Callable[[], SessionStore], store_url: str) -> str:
    s = make_store()
    s.append("coffee", TURN)
    s.set_state("coffee", {"cart": [{"product": "云南小粒咖啡豆", "quantity": 1}]})
    s.add_trace("coffee", {"kind": "model_call", "raw": "<tool_call>…</tool_call>"})
    s.add_trace("coffee", {"kind": "tool_call", "name": "get_promotions", "duration_s": 0.002})
    s.append("other", [{"role": "user", "content": "hello"}])
    return store_url


def test_list_shows_sessions(cli, filled: str) -> None:  # type: ignore[no-untyped-def]
    res = cli("sessions", "list", "--db", filled)
    assert res.exit_code == 0, res.output
    assert "coffee" in res.output and "other" in res.output
    res = cli("sessions", "list", "--json", "--db", filled)
    rows = json.loads(res.output)
    assert {r["session_id"]: r["n_messages"] for r in rows} == {"coffee": 4, "other": 1}


def test_db_from_environment(cli, filled: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KAPIBARA_SESSION_DB", filled)
    res = cli("sessions", "list", "--json")
    assert {r["session_id"] for r in json.loads(res.output)} == {"coffee", "other"}


def test_show_renders_conversation_and_calls(cli, filled: str) -> None:  # type: ignore[no-untyped-def]
    res = cli("sessions", "show", "coffee", "--db", filled)
    assert res.exit_code == 0, res.output
    assert "云南小粒咖啡豆有什么促销" in res.output
    assert "get_promotions" in res.output and "满99减10" in res.output


def test_export_to_file_and_traces_jsonl(cli, filled: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, tr = tmp_path / "out" / "coffee.json", tmp_path / "traces.jsonl"
    res = cli("sessions", "export", "coffee", "--out", str(out), "--traces-jsonl", str(tr), "--db", filled)
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["messages"] == TURN
    assert data["state"] == {"cart": [{"product": "云南小粒咖啡豆", "quantity": 1}]}
    assert "云南" in out.read_text(encoding="utf-8")  # readable, not \\u-escaped
    lines = [json.loads(x) for x in tr.read_text(encoding="utf-8").splitlines()]
    assert [x["kind"] for x in lines] == ["model_call", "tool_call"]
    assert lines == data["traces"]
    assert not list(tmp_path.rglob("*.tmp"))  # no temp files left behind


def test_traces_of_all_sessions_as_jsonl(cli, filled: str, make_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_store().add_trace("other", {"kind": "model_call", "raw": "你好"})
    res = cli("sessions", "traces", "--db", filled)
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in res.output.splitlines()]
    assert [(r["session_id"], r["kind"]) for r in rows] == [
        ("coffee", "model_call"),
        ("coffee", "tool_call"),
        ("other", "model_call"),
    ]
    out = tmp_path / "t.jsonl"
    res = cli("sessions", "traces", "other", "--out", str(out), "--db", filled)
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["raw"] for x in out.read_text(encoding="utf-8").splitlines()] == ["你好"]
    res = cli("sessions", "traces", "nope", "--db", filled)
    assert isinstance(res.exception, SessionNotFound)


def test_export_to_stdout(cli, filled: str) -> None:  # type: ignore[no-untyped-def]
    res = cli("sessions", "export", "coffee", "--db", filled)
    assert json.loads(res.output)["messages"] == TURN


def test_unknown_session_is_a_kapibara_error(cli, filled: str) -> None:  # type: ignore[no-untyped-def]
    for cmd in ("show", "export", "delete"):
        res = cli("sessions", cmd, "nope", "--db", filled)
        assert isinstance(res.exception, SessionNotFound), (cmd, res.output)


def test_delete_asks_then_deletes(cli, filled: str) -> None:  # type: ignore[no-untyped-def]
    res = cli("sessions", "delete", "coffee", "--db", filled, input="n\n")
    assert res.exit_code != 0
    assert open_store(filled).messages("coffee") == TURN
    res = cli("sessions", "delete", "coffee", "--yes", "--db", filled)
    assert res.exit_code == 0, res.output
    assert open_store(filled).messages("coffee") == []
    assert [i.session_id for i in open_store(filled).list_sessions()] == ["other"]


def test_root_cli_prints_hint_for_unknown_session(
    filled: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import sys

    import kapibara.commands

    partial = False
    try:
        cli_module = importlib.import_module("kapibara.cli")
    except ImportError:  # another area's commands are not there yet: register ours alone
        monkeypatch.setattr(kapibara.commands, "AREAS", ["sessions"])
        sys.modules.pop("kapibara.cli", None)
        cli_module = importlib.import_module("kapibara.cli")
        partial = True
    try:
        assert cli_module.main(["sessions", "show", "nope", "--db", filled]) == 2
    finally:
        if partial:  # later importers must get the full CLI
            sys.modules.pop("kapibara.cli", None)
    err = capsys.readouterr().err
    assert "nope" in err and "kapibara sessions list" in err
