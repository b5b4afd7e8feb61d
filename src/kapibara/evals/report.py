"""Summaries of eval runs: per-category metrics, a Markdown table, a JSON file, a plot.

Metrics per category (and ``all``):

- ``accuracy``: cases judged right (calls and, where given, answer checks).
- ``tool_acc``: among cases expecting a call, the right function(s) were chosen.
- ``call_acc``: among cases expecting a call, the full call (arguments too) was right.
- ``no_call_acc``: among cases expecting no call, no call was made.
- ``malformed_rate`` / ``repair_rate`` / ``error_rate``: share of cases whose output did
  not parse, that needed a repair rung, or that failed with an error.
- ``p50_s`` / ``p95_s`` decision latency, ``ttft_p50_s`` time to first token,
  ``e2e_p50_s`` end-to-end time per case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kapibara.evals.cases import write_text
from kapibara.plotting import cjk_pyplot

if TYPE_CHECKING:
    from kapibara.evals.runner import CaseResult, EvalRun


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ratio(num: int, den: int) -> float | None:
    return round(100 * num / den, 1) if den else None


def metrics(results: list[CaseResult]) -> dict[str, Any]:
    """Metrics of a group of case results (percentages, seconds)."""
    call_cases = [r for r in results if r.expects_call]
    none_cases = [r for r in results if not r.expects_call]
    dec = [r.decision_s for r in results]
    return {
        "n": len(results),
        "n_call": len(call_cases),
        "n_no_call": len(none_cases),
        "accuracy": _ratio(sum(r.correct for r in results), len(results)),
        "tool_acc": _ratio(sum(r.tool_correct for r in call_cases), len(call_cases)),
        "call_acc": _ratio(sum(r.correct for r in call_cases), len(call_cases)),
        "no_call_acc": _ratio(sum(r.correct for r in none_cases), len(none_cases)),
        "malformed_rate": _ratio(sum(r.malformed for r in results), len(results)),
        "repair_rate": _ratio(sum(bool(r.repairs) for r in results), len(results)),
        "error_rate": _ratio(sum(r.error is not None for r in results), len(results)),
        "p50_s": round(percentile(dec, 50), 3),
        "p95_s": round(percentile(dec, 95), 3),
        "ttft_p50_s": round(percentile([r.ttft_s for r in results], 50), 3),
        "e2e_p50_s": round(percentile([r.e2e_s for r in results], 50), 3),
        "failed_rules": _count(r.rule for r in results if not r.correct and r.rule),
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        out[it] = out.get(it, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def summarize(run: EvalRun) -> dict[str, dict[str, Any]]:
    """Metrics per category plus ``all``."""
    cats: dict[str, list[CaseResult]] = {}
    for r in run.results:
        cats.setdefault(r.category, []).append(r)
    out = {c: metrics(rs) for c, rs in sorted(cats.items())}
    if len(cats) != 1:
        out["all"] = metrics(run.results)
    return out


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v}"


COLUMNS = [
    ("n", "n"),
    ("accuracy", "acc %"),
    ("tool_acc", "tool %"),
    ("call_acc", "call %"),
    ("no_call_acc", "no-call %"),
    ("malformed_rate", "malformed %"),
    ("repair_rate", "repaired %"),
    ("p50_s", "p50 s"),
    ("p95_s", "p95 s"),
    ("ttft_p50_s", "ttft p50 s"),
]


def markdown_table(runs: list[EvalRun]) -> str:
    """One row per (run, category): model, configuration and every metric."""
    head = "| model | config | category | " + " | ".join(h for _, h in COLUMNS) + " |"
    sep = "|" + "---|" * (3 + len(COLUMNS))
    rows = [head, sep]
    for run in runs:
        for cat, m in summarize(run).items():
            cells = " | ".join(_fmt(m[k]) for k, _ in COLUMNS)
            rows.append(f"| {run.model} | {run.config} | {cat} | {cells} |")
    return "\n".join(rows) + "\n"


def write_report(runs: list[EvalRun], out_dir: str | Path, stem: str = "eval") -> dict[str, Path]:
    """Write ``<stem>.json`` (all runs with per-case results) and ``<stem>.md``; returns paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "md": out / f"{stem}.md"}
    if len(runs) == 1:
        runs[0].save(paths["json"])
    else:
        write_text(paths["json"], json.dumps([r.to_dict() for r in runs], ensure_ascii=False, indent=1))
    lines = [f"# eval: {', '.join(sorted({r.dataset for r in runs}))}", ""]
    if runs:
        m = runs[0].machine
        lines += [f"Measured {runs[0].created} on {m.get('platform', '?')} ({m.get('cpus', '?')} CPUs).", ""]
    lines.append(markdown_table(runs))
    write_text(paths["md"], "\n".join(lines))
    return paths


def plot_accuracy_latency(runs: list[EvalRun], path: str | Path) -> Path:
    """PNG: overall accuracy against p50 decision latency, one point per (model, config)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.png")
    # Labels hold model names, often Chinese: cjk_pyplot draws them with a CJK font.
    with cjk_pyplot() as plt:
        fig, ax = plt.subplots(figsize=(6, 4))
        try:
            for run in runs:
                m = metrics(run.results)
                ax.scatter([m["p50_s"]], [m["accuracy"] or 0.0], s=40)
                ax.annotate(f"{run.model} / {run.config}", (m["p50_s"], m["accuracy"] or 0.0),
                            fontsize=7, xytext=(4, 4), textcoords="offset points")
            ax.set_xlabel("decision latency p50 (s)")
            ax.set_ylabel("accuracy (%)")
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
            ax.set_title("accuracy vs decision latency")
            fig.tight_layout()
            fig.savefig(tmp, dpi=120)
        finally:
            plt.close(fig)
    tmp.replace(p)
    return p
