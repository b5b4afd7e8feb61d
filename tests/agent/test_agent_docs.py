"""The examples in docs/agent.md run and print what their comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent.md"


def test_python_examples_print_what_they_promise(tmp_path, monkeypatch):
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    for code in blocks:
        expected = [
            line.rsplit("  # ", 1)[1].strip()
            for line in code.splitlines()
            if line.startswith("print(") and "  # " in line
        ]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(DOC), "exec"), {"__name__": "docs_agent"})
        assert [x.strip() for x in out.getvalue().splitlines()] == expected, code[:200]
