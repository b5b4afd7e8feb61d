"""``kapibara data build|export|generate``: training data for fine-tuning (thin wrappers
over ``kapibara.finetune``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

data_app = typer.Typer(help="Training data for fine-tuning: build, export, generate with a teacher.",
                       no_args_is_help=True)


@data_app.command("build")
def build_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="the samples JSONL to write")],
    teacher: Annotated[Path | None, typer.Option("--teacher", help="teacher samples to include (from 'kapibara data "
                                                 "generate') [default: the shipped finetune/data/teacher.jsonl]")] = None,
    no_teacher: Annotated[bool, typer.Option("--no-teacher", help="leave teacher samples out")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="at most N samples, spread over categories")] = None,
    per_category: Annotated[int, typer.Option("--per-category", min=0, help="template samples per category")] = 110,
    seed: Annotated[int, typer.Option("--seed")] = 13,
    report: Annotated[Path | None, typer.Option("--report", help="also write the build's counts as JSON here")] = None,
) -> None:
    """Build the domain training set: dev split + example bank + catalog templates (+ teacher),
    every call run on the real tools, near-duplicates and test-split overlaps removed."""
    from kapibara.fileio import write_atomic
    from kapibara.finetune.dataset import build_with_report, shipped_teacher_path
    from kapibara.finetune.samples import load_samples, save_samples

    console = Console(stderr=True)
    teacher_file = None if no_teacher else teacher or shipped_teacher_path()
    teacher_samples = load_samples(teacher_file) if teacher_file and (teacher or teacher_file.exists()) else []
    with console.status("building (every call runs on the demo tools)..."):
        samples, counts = build_with_report(teacher=teacher_samples, limit=limit, per_category=per_category, seed=seed)
    save_samples(out, samples)
    if report:
        write_atomic(report, json.dumps(counts.to_dict(), ensure_ascii=False, indent=2) + "\n")
    console.print(counts.summary(), highlight=False)
    console.print(f"wrote {len(samples)} samples to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
