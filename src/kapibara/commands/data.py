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


@data_app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", "-f", help="sharegpt | alpaca | openai | dpo")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the data file, dataset_info.json and train_lora_<format>.yaml")],
    source: Annotated[str, typer.Option("--from", help="a samples JSONL (kapibara data build), 'bank' (the example "
                                        "banks), 'badcases' (eval bad-case files, see --bad) or 'traces' (stored sessions, see --db)")] = "",
    bad: Annotated[list[Path] | None, typer.Option("--bad", help="bad-case JSONL from kapibara eval (with --from badcases; repeatable)")] = None,
    db: Annotated[str | None, typer.Option("--db", envvar="KAPIBARA_SESSION_DB", help="session store (with --from traces)")] = None,
    system: Annotated[str, typer.Option("--system", help="'agent' (the demo agent's prompt), 'none', or a literal system text")] = "agent",
    base_model: Annotated[str, typer.Option("--base-model", help="the Hugging Face model the training YAML names")] = "Qwen/Qwen2.5-Coder-0.5B-Instruct",
) -> None:
    """Write training samples as LlamaFactory / OpenAI files, with dataset_info.json and a LoRA YAML."""
    from kapibara.errors import ConfigError
    from kapibara.finetune import export as ex
    from kapibara.finetune.dataset import default_bank_file, leaks, split_user_messages
    from kapibara.finetune.samples import load_samples

    console = Console(stderr=True)
    if source == "bank":
        from kapibara.commands.examples import user_bank_path

        samples = ex.samples_from_bank([p for p in (default_bank_file(), user_bank_path()) if p.exists()])
    elif source == "badcases":
        if not bad:
            raise ConfigError("--from badcases needs --bad FILE", hint="kapibara eval domain:dev writes <out>/domain_dev.native.bad.jsonl")

        from kapibara.finetune.dataset import dev_reply

        samples = ex.samples_from_badcases(bad, dev_reply)
    elif source == "traces":
        samples = ex.samples_from_sessions(db)
    elif source:
        samples = load_samples(source)
    else:
        raise ConfigError("no --from given", hint="--from data.jsonl | bank | badcases | traces")
    leaked = set(leaks(samples, split_user_messages()))
    if leaked:
        console.print(f"left out {len(leaked)} samples whose request matches the eval test split", highlight=False)
        samples = [s for i, s in enumerate(samples) if i not in leaked]
        if not samples:
            from kapibara.errors import DataError

            raise DataError("every sample matches the eval test split",
                            hint="train on the dev split: kapibara eval domain:dev writes its bad cases")
    paths = ex.export(samples, out, fmt, system=None if system == "none" else system, base_model=base_model)
    used = sum(1 for s in samples if fmt != "dpo" or s.rejected is not None)
    console.print(f"wrote {used} rows: " + ", ".join(str(p) for p in paths.values()), highlight=False)


@data_app.command("generate")
def generate_cmd(
    teacher: Annotated[str, typer.Option("--teacher", "-t", help="teacher model spec, e.g. llamacpp:qwen2.5-coder-1.5b "
                                         "or openai:MODEL@http://HOST:PORT/v1")],
    n: Annotated[int, typer.Option("--n", min=1, help="accepted requests to collect")] = 100,
    out: Annotated[Path, typer.Option("--out", "-o", help="the samples JSONL to write")] = Path("teacher.jsonl"),
    cache: Annotated[Path | None, typer.Option("--cache", help="teacher answers, reused on a rerun [default: OUT.cache.jsonl]")] = None,
    max_prompts: Annotated[int | None, typer.Option("--max-prompts", min=1, help="stop after this many prompts")] = None,
    per_prompt: Annotated[int, typer.Option("--per-prompt", min=1, max=10, help="requests asked for per prompt")] = 5,
    seed: Annotated[int, typer.Option("--seed")] = 13,
    minutes: Annotated[float | None, typer.Option("--minutes", min=0.1, help="stop asking after this long; "
                                                  "a rerun with the same --cache and --seed carries on")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="also write the counts as JSON here")] = None,
) -> None:
    """Self-instruct: the teacher writes new requests grounded in the demo catalog; each is
    checked (values named, call run on the real tools), deduplicated and kept off the test split."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kapibara.fileio import write_atomic
    from kapibara.finetune.samples import save_samples
    from kapibara.finetune.teacher import generate
    from kapibara.models.registry import load_configured

    console = Console(stderr=True)
    model = load_configured(teacher)
    cache_path = cache or out.with_name(out.name + ".cache.jsonl")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        job = bar.add_task("teacher prompts", total=None)

        def advance(done: int, most: int, accepted: int) -> None:
            bar.update(job, completed=done, total=most, description=f"teacher prompts ({accepted} accepted)")

        samples, counts = generate(model, n, name=teacher.split(":", 1)[-1], cache=cache_path, seed=seed,
                                   per_prompt=per_prompt, max_prompts=max_prompts, progress=advance,
                                   time_budget_s=minutes * 60 if minutes else None)
    save_samples(out, samples)
    if report:
        write_atomic(report, json.dumps(counts.to_dict(), ensure_ascii=False, indent=2) + "\n")
    console.print(counts.summary(), highlight=False)
    console.print(f"wrote {len(samples)} samples to {out} (teacher answers cached in {cache_path})")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
