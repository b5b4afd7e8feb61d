"""bench/tool_use.py resumes from its cache and states n per cell (fake model, tiny limit)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tool_use.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_tool_use", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_resumes_and_reports(shared_data, tmp_path, capsys):
    bench = load_bench()
    args = ["--models", "fake:hi", "--configs", "raw,native", "--limit", "2",
            "--datasets", "bfcl:multiple,bfcl:irrelevance", "--cache", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "tu")]
    assert bench.main(args) == 0
    assert "8 case runs to do (0 cached)" in capsys.readouterr().out
    lines = (tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8
    # round-robin: the first rows cover both datasets before the second case of either
    assert [json.loads(x)["id"] for x in lines[:4]] == ["multiple_0", "multiple_0", "irrelevance_0", "irrelevance_0"]
    (tmp_path / "c.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:20], encoding="utf-8")  # a torn last line
    assert bench.main(args) == 0
    assert "3 case runs to do (5 cached)" in capsys.readouterr().out
    md = (tmp_path / "tu.md").read_text(encoding="utf-8")
    assert "| fake:hi | raw | 0.0 (n=2) | 100.0 (n=2) |" in md
    assert "Against the raw-model baseline" in md
    data = json.loads((tmp_path / "tu.json").read_text(encoding="utf-8"))
    assert data["anchors"]["0.5b"]["multiple"] == 78.0 and len(data["rows"]) == 2


def test_bench_reports_from_a_second_cache(shared_data, tmp_path, capsys):
    """Two models run in two processes, each with its own cache, report in one table."""
    bench = load_bench()
    common = ["--configs", "raw", "--limit", "1", "--datasets", "bfcl:multiple", "--out", str(tmp_path / "tu")]
    assert bench.main(["--models", "fake:a", "--cache", str(tmp_path / "a.jsonl"), *common]) == 0
    assert bench.main(["--models", "fake:b", "--cache", str(tmp_path / "b.jsonl"), *common]) == 0
    capsys.readouterr()
    assert bench.main(["--models", "fake:a,fake:b", "--report-only", "--cache", str(tmp_path / "a.jsonl"),
                       "--also-read", str(tmp_path / "b.jsonl"), "--note", "two processes", *common]) == 0
    md = (tmp_path / "tu.md").read_text(encoding="utf-8")
    assert "| fake:a | raw |" in md and "| fake:b | raw |" in md and "two processes" in md
    assert "## Tool selection" in md and "## Why calls failed" in md


def test_best_configuration_is_the_strongest_evidence_not_the_highest_small_n():
    """100% on 7 cases is weaker than 95.3% on 43: the best is chosen by the Wilson lower bound."""
    bench = load_bench()
    assert bench.pick_best([(100.0, "react", 7), (95.3, "native", 43)]) == (95.3, "native", 43)
    assert bench.pick_best([(60.0, "raw", 50), (70.0, "native", 50)]) == (70.0, "native", 50)
