"""The examples in docs/demo.md run, and print what the page says they print."""

from __future__ import annotations

import ast
import datetime
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "demo.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _run_block(block: str) -> int:
    """Execute a block; an expression line followed by a ``# value`` comment is checked."""
    ns: dict = {}
    lines = block.splitlines()
    checked = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        code, _, comment = line.partition("  # ")
        expected = [comment.strip()] if comment.strip() else []
        while i < len(lines) and lines[i].startswith("# "):
            expected.append(lines[i][2:].strip())
            i += 1
        stmt = ast.parse(code.strip()).body[0]
        if isinstance(stmt, ast.Expr) and expected:
            node = stmt.value
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                node = node.args[0]
            value = eval(compile(ast.Expression(node), "docs/demo.md", "eval"), ns)
            assert value == eval(" ".join(expected), {"datetime": datetime}), code
            checked += 1
        else:
            exec(compile(code.strip(), "docs/demo.md", "exec"), ns)
    return checked


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_example_runs_as_written(block: str) -> None:
    assert _run_block(block) >= 1
