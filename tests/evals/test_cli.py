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


def _bfcl_files(folder):
    """A one-question BFCL file at an arbitrary place, with its possible_answer/ sibling."""
    q = {"id": "simple_0", "question": [[{"role": "user", "content": "Weather in Paris?"}]],
         "function": [{"name": "get_weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}
    (folder / "possible_answer").mkdir(parents=True)
    (folder / "possible_answer" / "BFCL_v3_simple.json").write_text(
        json.dumps({"id": "simple_0", "ground_truth": [{"get_weather": {"city": ["Paris"]}}]}) + "\n", encoding="utf-8")
    path = folder / "BFCL_v3_simple.json"
    path.write_text(json.dumps(q) + "\n", encoding="utf-8")
    return path


def test_root_cli_evaluates_a_bfcl_file_by_path(capsys, tmp_path):
    from kapibara.cli import main

    path = _bfcl_files(tmp_path / "downloads")
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    assert main(["eval", str(path), "-m", f"fake:{call}", "-p", "raw", "-o", str(tmp_path / "out")]) == 0
    run = json.loads((tmp_path / "out" / "BFCL_v3_simple.raw.json").read_text(encoding="utf-8"))
    assert [(r["id"], r["category"], r["correct"]) for r in run["results"]] == [("simple_0", "bfcl_simple", True)]


@pytest.mark.parametrize(("content", "says"), [
    (b'{"rows": [1, 2]}', "unknown JSON shape"),
    (b"", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file"),
    (None, "not a file and not a named dataset"),
    ("bfcl-without-answers", "looked for"),
])
def test_root_cli_bad_dataset_file_is_one_line_exit_2(capsys, tmp_path, content, says):
    from kapibara.cli import main

    path = tmp_path / "data.json"
    if content == "bfcl-without-answers":
        path = _bfcl_files(tmp_path / "q")
        (path.parent / "possible_answer" / path.name).unlink()
    elif content is not None:
        path.write_bytes(content)
    assert main(["eval", str(path), "--model", "fake:x"]) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert says in line and "Traceback" not in err
