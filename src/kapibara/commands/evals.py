"""``kapibara eval DATASET`` and ``kapibara eval compare A.json B.json``: thin wrappers over kapibara.evals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from kapibara.errors import ConfigError, MissingExtraError


def _slug(dataset: str) -> str:
    # A file is named by its stem (BFCL_v3_multiple), a named dataset by itself (bfcl_multiple).
    name = Path(dataset).stem if dataset.endswith((".jsonl", ".json")) else dataset
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def eval_cmd(
    dataset: Annotated[str, typer.Argument(help="A named dataset (bfcl:multiple, hammerbench:ST_Perfect, domain:dev, ...); a file: kapibara case JSONL, a BFCL question file (possible_answer/ beside it) or a HammerBench JSON file; or 'compare'.")],
    runs: Annotated[list[str] | None, typer.Argument(help="With 'compare': the two saved run files A.json B.json.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model spec, e.g. llamacpp:qwen2.5-coder-0.5b, openai:M@URL, fake:TEXT.")] = None,
    protocol: Annotated[str, typer.Option("--protocol", "-p", help="raw|native|react|constrained; several comma-separated.")] = "native",
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Run only the first N cases.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-k", help="Cases in flight at once (HTTP backends).")] = 1,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: evals-out/<dataset>).")] = None,
    episodes: Annotated[bool, typer.Option("--episodes", help="Also run full agent episodes (end-to-end time, final answer).")] = False,
) -> None:
    """Evaluate tool use on a dataset and write JSON, Markdown, bad cases and a plot."""
    console = Console()
    if dataset == "compare":
        _compare(runs or [], console)
        return
    if runs:
        raise ConfigError(f"unexpected argument(s) {' '.join(runs)!r}", hint="kapibara eval DATASET [options]")

    import kapibara.demo  # noqa: F401 - registers the "demo" tool set that domain:* cases name
    from kapibara.evals.adapters import load_dataset
    from kapibara.evals.badcases import export_bad_cases
    from kapibara.evals.report import plot_accuracy_latency, write_report
    from kapibara.evals.results import summarize
    from kapibara.evals.runner import CONFIGS, run_eval
    from kapibara.models.registry import load_configured

    configs = [c.strip() for c in protocol.split(",") if c.strip()]
    bad = [c for c in configs if c not in CONFIGS]
    if bad or not configs:
        raise ConfigError(f"unknown protocol {', '.join(bad) or protocol!r}", hint="use " + "|".join(CONFIGS))
    cases = load_dataset(dataset)
    llm = load_configured(model)
    out_dir = out or Path("evals-out") / _slug(dataset)
    slug = _slug(dataset)
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        for config in configs:
            task = bar.add_task(f"{slug} / {config}", total=min(len(cases), limit or len(cases)))

            def advance(done: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done)

            run = run_eval(
                cases, llm, config=config, limit=limit, concurrency=concurrency, episodes=episodes, dataset=dataset,
                progress=advance,
            )
            run.save(out_dir / f"{slug}.{config}.json")
            export_bad_cases(run, out_dir / f"{slug}.{config}.bad.jsonl")
            results.append(run)
    paths = write_report(results, out_dir, stem=f"{slug}.report")
    for run in results:
        table = Table("category", "n", "acc %", "tool %", "call %", "no-call %", "malformed %", "p50 s", "p95 s",
                      title=f"{run.model} / {run.config}")
        for cat, m in summarize(run).items():
            table.add_row(cat, *(("–" if m[k] is None else str(m[k])) for k in
                                 ("n", "accuracy", "tool_acc", "call_acc", "no_call_acc", "malformed_rate", "p50_s", "p95_s")))
        console.print(table)
    try:
        png = plot_accuracy_latency(results, out_dir / f"{slug}.plot.png")
        console.print(f"plot: {png}", highlight=False)
    except MissingExtraError as exc:  # the plot is optional; the numbers are already written
        console.print(f"no plot: {exc.message} ({exc.hint})", highlight=False)
    console.print(f"report: {paths['md']}  runs: {out_dir}/{slug}.<config>.json  bad cases: {out_dir}/{slug}.<config>.bad.jsonl", highlight=False, soft_wrap=True)


def _compare(paths: list[str], console: Console) -> None:
    from kapibara.evals.compare import compare_files, verdict

    if len(paths) != 2:
        raise ConfigError("compare needs two saved runs", hint="kapibara eval compare A.json B.json")
    a, b, diffs = compare_files(paths[0], paths[1])
    console.print(f"A = {a.model} / {a.config}   B = {b.model} / {b.config}", highlight=False)
    table = Table("category", "n", "A %", "B %", "B-A", "McNemar p", "95% CI", "verdict")
    for d in diffs:
        table.add_row(d.category, str(d.n), str(d.acc_a), str(d.acc_b), f"{d.diff:+.1f}", f"{d.p_value:.3f}",
                      f"[{d.ci[0]:+.1f}, {d.ci[1]:+.1f}]", verdict(d))
    console.print(table)
    for d in diffs:  # the verdicts again in full: a narrow terminal truncates table cells
        console.print(f"{d.category}: {d.diff:+.1f} points, {verdict(d)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``kapibara eval`` to the root app."""
    app.command("eval", help="Evaluate tool use (DATASET), or compare two saved runs (compare A.json B.json).")(eval_cmd)
