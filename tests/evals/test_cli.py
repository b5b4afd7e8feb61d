"""``kapibara eval`` with a fake model: files written, compare, clear errors."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from kapibara.commands.evals import register
from kapibara.errors import ConfigError, DataError

CASES = [
    {"id": "a", "category": "weather", "messages": [{"role": "user", "content": "北京天气"}],
     "tools": [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
     "expected": [{"get_weather": {"city": ["北京"]}}]},
    {"id": "b", "category": "chat", "messages": [{"role": "user", "content": "你好"}], "tools": [], "expected": "no_call"},
]


@pytest.fixture
def app():
    a = typer.Typer()
    register(a)

    @a.callback()
    def _root() -> None:  # keeps "eval" a named subcommand, as in the real CLI
        pass

    return a


@pytest.fixture
def dataset(tmp_path):
    p = tmp_path / "mini.jsonl"
    p.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in CASES), encoding="utf-8")
    return p


def test_eval_writes_reports_and_bad_cases(app, dataset, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["eval", str(dataset), "--model", "fake:你好呀", "--protocol", "raw", "--out", str(out)])
    assert r.exit_code == 0, r.output
    run = json.loads((out / "mini.raw.json").read_text(encoding="utf-8"))
    assert run["n"] == 2 and [x["correct"] for x in run["results"]] == [False, True]
    assert run["summary"]["all"]["no_call_acc"] == 100.0
    bad = [json.loads(x) for x in (out / "mini.raw.bad.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [b["id"] for b in bad] == ["a"] and bad[0]["rule"] == "call_expected"
    assert "| fake:你好呀 | raw | weather |" in (out / "mini.report.md").read_text(encoding="utf-8")


def test_eval_compare(app, dataset, tmp_path):
    runner = CliRunner()
    for name, text in (("a", "hi"), ("b", '<tool_call>{"name": "get_weather", "arguments": {"city": "北京"}}</tool_call>')):
        r = runner.invoke(app, ["eval", str(dataset), "-m", f"fake:{text}", "-p", "raw", "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", "compare", str(tmp_path / "a" / "mini.raw.json"), str(tmp_path / "b" / "mini.raw.json")])
    assert r.exit_code == 0, r.output
    assert "not significant" in r.output


def test_errors_are_kapibara_errors(app, tmp_path):
    r = CliRunner().invoke(app, ["eval", str(tmp_path / "none.jsonl"), "-m", "fake:x"])
    assert isinstance(r.exception, DataError) and "named datasets" in str(r.exception)
    r = CliRunner().invoke(app, ["eval", "compare", "only-one.json"])
    assert isinstance(r.exception, ConfigError)
    r = CliRunner().invoke(app, ["eval", "domain:dev", "-m", "fake:x", "-p", "magic"])
    assert isinstance(r.exception, ConfigError) and "magic" in str(r.exception)


def test_root_cli_prints_one_line_and_exits_2(capsys):
    from kapibara.cli import main

    assert main(["eval", "nope:thing", "--model", "fake:x"]) == 2
    err = capsys.readouterr().err
    assert "no dataset 'nope:thing'" in err and "Traceback" not in err
