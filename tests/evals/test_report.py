"""Report metrics, comparison statistics and bad-case export."""

from __future__ import annotations

import json
import warnings

import pytest

from kapibara.evals.badcases import export_bad_cases
from kapibara.evals.compare import bootstrap_ci, compare_runs, markdown, mcnemar_p, wilson_ci
from kapibara.evals.report import markdown_table, plot_accuracy_latency, write_report
from kapibara.evals.results import CaseResult, EvalRun, metrics, percentile, summarize


def res(i, cat, correct, expects=True, tool=None, dec=1.0, **kw):
    return CaseResult(id=str(i), category=cat, config="raw", correct=correct, expects_call=expects,
                      tool_correct=correct if tool is None else tool, decision_s=dec, **kw)


def test_percentile():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile([], 50) == 0.0


def test_metrics_split_call_and_no_call_cases():
    rs = [res(1, "a", True), res(2, "a", False, tool=True, malformed=False), res(3, "a", False, tool=False, malformed=True),
          res(4, "a", True, expects=False), res(5, "a", False, expects=False, repairs=["lenient"])]
    m = metrics(rs)
    assert m["n"] == 5 and m["accuracy"] == 40.0
    assert m["tool_acc"] == pytest.approx(66.7) and m["call_acc"] == pytest.approx(33.3)
    assert m["no_call_acc"] == 50.0 and m["malformed_rate"] == 20.0 and m["repair_rate"] == 20.0


def test_mcnemar_known_tables():
    # exact binomial: b=10, c=2 -> 2 * (C(12,0)+C(12,1)+C(12,2)) / 2^12
    assert mcnemar_p(10, 2) == pytest.approx(2 * 79 / 4096)
    # chi-square with continuity correction: (|25-10|-1)^2/35 = 5.6 -> p = 0.01796
    assert mcnemar_p(25, 10) == pytest.approx(0.017961, abs=1e-5)
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(3, 3) == 1.0


def test_bootstrap_ci_brackets_the_difference():
    a = [True] * 50 + [False] * 50
    b = [True] * 70 + [False] * 30
    lo, hi = bootstrap_ci(a, b)
    assert lo <= 20 <= hi and lo > 0


def _run(config, flags):
    return EvalRun("d", "m", config, [res(i, "cat", f) for i, f in enumerate(flags)])


def test_compare_small_difference_is_not_significant():
    a = _run("raw", [True] * 30 + [False] * 70)
    b = _run("native", [True] * 33 + [False] * 67)
    (d,) = compare_runs(a, b)
    assert d.diff == 3.0 and not d.significant and d.c_only_b == 3
    assert "not significant" in markdown(a, b, [d])


def test_compare_big_difference_is_significant():
    a = _run("raw", [True] * 30 + [False] * 70)
    b = _run("native", [True] * 60 + [False] * 40)
    (d,) = compare_runs(a, b)
    assert d.significant and "B better" in markdown(a, b, [d])


def test_report_files_and_plot(tmp_path):
    run = EvalRun("d", "m", "raw", [res(1, "a", True), res(2, "b", False, dec=2.0)])
    s = summarize(run)
    assert set(s) == {"a", "b", "all"} and s["all"]["p95_s"] > 1.9
    paths = write_report([run], tmp_path)
    assert json.loads(paths["json"].read_text())["summary"]["a"]["accuracy"] == 100.0
    assert "| m | raw | b |" in paths["md"].read_text() and "| m | raw | b |" in markdown_table([run])
    pytest.importorskip("matplotlib")
    png = plot_accuracy_latency([run, _run("native", [True, True])], tmp_path / "plot.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_plot_labels_in_chinese_have_every_glyph(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("pylopdf_fonts_zh_cn", reason='the plot extra is not installed: pip install "kapibara[plot]"')
    runs = [EvalRun("d", "张伟的模型", "raw", [res(1, "a", True)]), EvalRun("d", "李娜", "native", [res(1, "a", False)])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "Glyph ... missing from font(s)" warning fails the test
        png = plot_accuracy_latency(runs, tmp_path / "zh.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_bad_case_export(tmp_path):
    msgs = [{"role": "user", "content": "小米11 Ultra 多少钱"}, {"role": "assistant", "content": "..."},
            {"role": "user", "content": "那它的电池呢？"}]
    bad = res(1, "a", False, messages=msgs, tools="demo", expected=[[{"get_product_info": {"product_name": ["小米11 Ultra"]}}]],
              calls=[{"name": "get_promotions", "arguments": {}}], rule="wrong_function")
    run = EvalRun("d", "m", "native", [res(0, "a", True), bad])
    out = tmp_path / "bad" / "bad.jsonl"
    assert export_bad_cases(run, out) == 1
    (row,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert row["input"] == "那它的电池呢？" and len(row["context"]) == 2
    assert row["rule"] == "wrong_function" and row["actual"]["calls"][0]["name"] == "get_promotions"
    assert row["tools"] == "demo" and row["expected"][0][0]["get_product_info"]
    assert not list(out.parent.glob("*.tmp"))


def test_wilson_interval_known_values():
    assert wilson_ci(0, 0) == (0.0, 100.0)
    assert wilson_ci(8, 10) == (49.0, 94.3)  # textbook value for 8/10
    lo, hi = wilson_ci(0, 20)
    assert lo == 0.0 and 16 < hi < 17
    lo, hi = wilson_ci(50, 100)
    assert lo == pytest.approx(40.4, abs=0.1) and hi == pytest.approx(59.6, abs=0.1)
