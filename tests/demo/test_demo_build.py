"""The committed catalog is exactly what the committed, seeded generator script produces."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest

from kapibara.demo import Catalog

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_demo_catalog.py"


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_demo_catalog", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dump(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    finally:
        conn.close()


def test_generator_is_deterministic(builder: ModuleType, tmp_path: Path) -> None:
    a = builder.write_db(tmp_path / "a.db")
    b = builder.write_db(tmp_path / "b.db")
    assert _dump(a) == _dump(b)
    assert len(_dump(a)["products"]) >= 300
    # Written atomically: only the two finished files remain, no temp files.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db", "b.db"]


def test_committed_db_matches_the_generator(builder: ModuleType, tmp_path: Path) -> None:
    fresh = builder.write_db(tmp_path / "catalog.db")
    committed = Catalog().path
    assert _dump(committed) == _dump(fresh), "run: python scripts/build_demo_catalog.py"


def test_script_writes_where_told(builder: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "x.db"
    builder.main(["--out", str(out)])
    assert "products=" in capsys.readouterr().out
    assert Catalog(out).counts()["products"] >= 300


def test_a_missing_catalog_is_a_clear_error(tmp_path: Path) -> None:
    from kapibara.errors import DataError

    with pytest.raises(DataError, match="build_demo_catalog"):
        Catalog(tmp_path / "nope.db")


def test_shipped_example_bank_is_built_from_the_dev_split_only(tmp_path):
    """The demo's example bank equals what its builder makes from dev.jsonl; no test-split
    question is in it (the router is measured on the test split)."""
    import json
    from pathlib import Path

    from kapibara.demo.agent import build_examples, shipped_examples_path

    data = Path(__file__).resolve().parents[2] / "src" / "kapibara" / "evals" / "data" / "domain"
    built = build_examples(data / "dev.jsonl", tmp_path / "examples.jsonl")
    assert (tmp_path / "examples.jsonl").read_bytes() == shipped_examples_path().read_bytes()
    test_questions = {json.loads(line)["messages"][-1]["content"]
                      for line in (data / "test.jsonl").read_text(encoding="utf-8").splitlines()}
    assert not {e.question for e in built} & test_questions
    assert len(built) >= 150
