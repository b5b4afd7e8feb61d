"""Reports of eval runs: a Markdown table, a JSON file, a plot (metrics: ``results.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kapibara.evals.cases import write_text
from kapibara.evals.results import EvalRun, metrics, summarize
from kapibara.fileio import atomic_path
from kapibara.plotting import cjk_pyplot


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
    # Labels hold model names, often Chinese: cjk_pyplot draws them with a CJK font.
    with cjk_pyplot() as plt, atomic_path(p, suffix=".png") as tmp:  # savefig picks PNG from the suffix
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
    return p
