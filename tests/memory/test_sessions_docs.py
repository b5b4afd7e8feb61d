"""The examples in docs/sessions.md run and print what the comments say."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kapibara.commands.sessions import register
from kapibara.memory import open_store

DOC = Path(__file__).resolve().parents[2] / "docs" / "sessions.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_python_examples_print_what_they_promise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))
    monkeypatch.delenv("KAPIBARA_SESSION_DB", raising=False)
    namespace: dict[str, object] = {}
    found = blocks("python")
    assert len(found) >= 3
    for code in found:
        expected = [
            line.rsplit("  # ", 1)[1].strip()
            for line in code.splitlines()
            if line.startswith("print(") and "  # " in line
        ]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), namespace)
        assert [x.strip() for x in out.getvalue().splitlines()] == expected


def test_cli_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "s.db")
    store = open_store(db)
    store.append("alice", [{"role": "user", "content": "车厘子多少钱？"}])
    store.add_trace("alice", {"kind": "model_call"})
    store.close()
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        pass

    commands = [
        line.split("#", 1)[0].strip()
        for block in blocks("bash")
        for line in block.splitlines()
        if line.startswith("kapibara sessions ")
    ]
    assert len(commands) >= 5
    for cmd in commands:
        res = CliRunner().invoke(app, [*shlex.split(cmd)[1:], "--db", db])
        assert res.exit_code == 0, (cmd, res.output, res.exception)
    assert (tmp_path / "alice.json").exists() and (tmp_path / "alice-traces.jsonl").exists()
    assert (tmp_path / "all-traces.jsonl").read_text(encoding="utf-8").count("\n") == 1
    assert open_store(db).list_sessions() == []  # the last example deleted it
