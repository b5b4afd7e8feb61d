"""``kapibara run`` and ``kapibara chat`` with a fake model and the stand-in tools."""

import json

import pytest

TOOLS = ["--tools", "grocery_standin:grocery_tools"]


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))
    monkeypatch.delenv("KAPIBARA_SESSION_DB", raising=False)
    monkeypatch.delenv("KAPIBARA_MODEL", raising=False)
    try:
        from kapibara.cli import main
    except ImportError:  # another area's commands not there yet: test ours alone
        import typer

        from kapibara.commands.agent import register

        app = typer.Typer()
        register(app)

        def main(argv):
            from kapibara.errors import KapibaraError

            try:
                app(args=argv, standalone_mode=False)
            except KapibaraError:
                return 2
            return 0

    return main


def test_run_json(cli, capsys):
    assert cli(["run", "你好", "--model", "fake:你好呀", "--json", *TOOLS]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] == "你好呀" and out["tool_calls"] == [] and out["session_id"]


def test_run_resumes_a_session(cli, capsys, tmp_path):
    for q in ("第一句", "第二句"):
        assert cli(["run", q, "--model", "fake:好", "--session", "abc", "--json", *TOOLS]) == 0
    from kapibara.memory import open_store

    store = open_store(str(tmp_path / "sessions.db"))
    assert [m["content"] for m in store.messages("abc") if m["role"] == "user"] == ["第一句", "第二句"]
    store.close()


def test_run_prints_answer_and_session(cli, capsys):
    assert cli(["run", "你好", "--model", "fake:你好呀", "--protocol", "react", *TOOLS]) == 0
    out = capsys.readouterr().out
    assert "你好呀" in out and "session:" in out


def test_bad_protocol_is_a_user_error(cli, capsys):
    assert cli(["run", "x", "--model", "fake:x", "--protocol", "bogus", *TOOLS]) == 2


def test_bad_tools_spec_is_a_user_error(cli):
    assert cli(["run", "x", "--model", "fake:x", "--tools", "nomodule_xyz:f"]) == 2


def test_chat_answers_then_exits(cli, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("你好\n/exit\n"))
    assert cli(["chat", "--model", "fake:嗨", *TOOLS]) == 0
    assert "嗨" in capsys.readouterr().out


def test_chat_eof_exits_cleanly(cli, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli(["chat", "--model", "fake:嗨", *TOOLS]) == 0
