"""Fixtures of the agent tests: the stand-in grocery tools, a SQLite session store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grocery_standin import grocery_tools  # noqa: E402


@pytest.fixture
def tools():
    return grocery_tools()


@pytest.fixture
def store(tmp_path):
    from kapibara.memory import SqliteSessionStore

    s = SqliteSessionStore(tmp_path / "sessions.db")
    yield s
    s.close()
