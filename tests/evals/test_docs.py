"""The examples in docs/evals.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

from kapibara.evals.cases import load_cases

DOC = Path(__file__).resolve().parents[2] / "docs" / "evals.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_case_examples_load(tmp_path):
    (block,) = blocks("jsonl")
    p = tmp_path / "doc.jsonl"
    p.write_text(block, encoding="utf-8")
    cases = load_cases(p)
    assert len(cases) == 6 and not cases[2].expected and len(cases[4].expected) == 2


def test_python_example_runs(capsys):
    for code in blocks("python"):
        exec(compile(code, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "cart-" in out and "| fake" in out
