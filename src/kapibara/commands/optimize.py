"""``kapibara optimize --strategy fewshot|opro|apo --train domain:dev --test domain:test``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from kapibara.optimize.program import Program

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def optimize_cmd(
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="fewshot (bad-case few-shot), opro or apo")] = "fewshot",
    train: Annotated[str, typer.Option("--train", help="cases to learn from (a validation part is held out of them); "
                                       "also liar:train, bbh:TASK:train")] = "domain:dev",
    test: Annotated[str, typer.Option("--test", help="cases the winner is compared on at the end (never selected on)")] = "domain:test",
    model: Annotated[str | None, typer.Option("--model", "-m", help="the executor: the agent's model [default: settings]")] = None,
    teacher: Annotated[str | None, typer.Option("--teacher", help="model spec that writes instructions (opro, apo), e.g. qwen2.5-coder-1.5b")] = None,
    program: Annotated[Path | None, typer.Option("--program", help="start from this program folder [default: the demo's]")] = None,
    budget: Annotated[int | None, typer.Option("--budget", help="most case evaluations on train/validation")] = 400,
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.05, max=0.9)] = 0.3,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="use N train and N test cases, taken across categories")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    language: Annotated[str, typer.Option("--language", "-l", help="which prompt to optimise")] = "zh",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="output folder [default: optimize-out/STRATEGY]")] = None,
) -> None:
    """Improve the agent's prompt from its bad cases; ends with the winner against the start on --test."""
    import kapibara.demo  # noqa: F401  (registers the "demo" tool set the domain cases name)
    from kapibara.evals.adapters import load_dataset
    from kapibara.models.registry import load_configured
    from kapibara.optimize.program import Program
    from kapibara.optimize.run import STRATEGIES, optimize, spread
    from kapibara.optimize.tasks import is_text_case, start_program
    from kapibara.rag.embedders import CachedEmbedder, load_embedder
    from kapibara.settings import kapibara_home

    if strategy not in STRATEGIES:
        from kapibara.errors import ConfigError

        raise ConfigError(f"unknown strategy {strategy!r}", hint="use " + "|".join(STRATEGIES))
    console = Console(stderr=True)
    train_cases = spread(load_dataset(train), limit)
    test_cases = spread(load_dataset(test), limit)
    executor = load_configured(model)
    teacher_model = load_configured(teacher) if teacher else None
    text_task = bool(train_cases) and is_text_case(train_cases[0])
    if program:
        start = Program.load(program)
    else:
        start = start_program(train_cases[0].category) if text_task else _demo_program()
    if text_task and language not in start.prompts:
        language = next(iter(start.prompts))  # LIAR/BBH programs are English
    embedder = CachedEmbedder(load_embedder("use"), kapibara_home() / "embeddings" / "use.db")
    out_dir = out or Path("optimize-out") / strategy
    total = budget or len(train_cases) * 4
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task(f"{strategy}: scoring cases", total=total + 2 * len(test_cases))
        report = optimize(strategy, start, train_cases, test_cases, executor, teacher=teacher_model, out=out_dir,
                          embedder=embedder, budget=budget, val_fraction=val_fraction, seed=seed, language=language,
                          echo=lambda line: bar.console.print(line, highlight=False, markup=False),
                          on_case=lambda: bar.advance(task))
    Console().print(report.markdown(), markup=False, highlight=False)
    typer.echo(f"winner: {out_dir / 'program'} (use: kapibara run --program {out_dir / 'program'} ...)")


def _demo_program() -> Program:
    from kapibara.agent.examples import ExampleBank
    from kapibara.demo import demo_prompt
    from kapibara.demo.agent import shipped_examples_path
    from kapibara.optimize.program import Program

    return Program({lang: demo_prompt(lang) for lang in ("zh", "en")},
                   ExampleBank.load(shipped_examples_path()).examples, {"shots": 0})


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize_cmd)
