"""Fixtures of the reliability tests: the bench modules (``bench/reliability_*.py``) on
the path, and the throwaway PostgreSQL of the session-store tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))


def _memory_fixtures() -> Any:
    """tests/memory/conftest.py under a name of its own (every conftest is "conftest")."""
    path = Path(__file__).resolve().parents[1] / "memory" / "conftest.py"
    spec = importlib.util.spec_from_file_location("kapibara_memory_test_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_pg = _memory_fixtures()
postgres_dsn = _pg.postgres_dsn
pg_clean = _pg.pg_clean
