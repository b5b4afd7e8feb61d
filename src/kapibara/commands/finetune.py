"""``kapibara finetune export``: a trained LoRA adapter made servable by llama.cpp and vLLM
and registered as a local model (thin wrapper over ``kapibara.finetune.publish``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from kapibara.errors import ConfigError
from kapibara.finetune.lora import DEFAULT_TARGETS

finetune_app = typer.Typer(help="Fine-tune the small model and serve the result.", no_args_is_help=True)


def _metadata(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad --meta {pair!r}", hint="use --meta KEY=VALUE (VALUE may be JSON)")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@finetune_app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Argument(help="the training run folder, or the peft adapter folder itself")],
    name: Annotated[str, typer.Option("--name", help="the tuned model's name: then --model llamacpp:NAME")],
    merge: Annotated[bool, typer.Option("--merge", help="also merge into the base and re-quantise "
                                        "(no per-token adapter cost)")] = False,
    base: Annotated[str, typer.Option("--base", help="the base the adapter was trained on: a bundled "
                                      "model or a GGUF path")] = "qwen2.5-coder-0.5b",
    quant: Annotated[str, typer.Option("--quant", help="type of the merged model: GPTQ-Q4_0 (Q4_0 rounded on "
                                       "the run's training samples; fastest) or a llama.cpp type (Q8_0 keeps the "
                                       "delta; plain Q4_0 and Q4_K_M erase it; see docs/finetune.md)")] = "GPTQ-Q4_0",
    calibration: Annotated[Path | None, typer.Option("--calibration", help="samples GPTQ-Q4_0 rounds on "
                                                     "(default: the run's training data, from train.json)")] = None,
    tensor_type: Annotated[list[str] | None, typer.Option(
        "--tensor-type", help="PATTERN=TYPE: merged tensors whose names match get TYPE instead of --quant "
        "(as llama-quantize's option; e.g. attn_=Q8_0); repeatable")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE kept in the record "
                                                    "(e.g. prompt=v2); repeatable")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="threads for quantising")] = None,
) -> None:
    """Export RUN's adapter as a GGUF LoRA adapter (+ merged GGUF with --merge, + the peft
    folder for vLLM) and register it as NAME."""
    from kapibara.finetune.publish import publish
    from kapibara.models.quantize import parse_tensor_types

    tensor_types = parse_tensor_types(tensor_type or [])
    if tensor_types and not merge:
        raise ConfigError("--tensor-type applies to the merged model", hint="add --merge")

    err = Console(stderr=True)
    import kapibara.demo  # noqa: F401 - the tool set a run names
    from kapibara.finetune.lora import run_metadata

    record = publish(run, name, base=base, merge=merge, quant=quant, tensor_types=tensor_types, calibration=calibration,
                     metadata={**run_metadata(run), **_metadata(meta or [])},
                     threads=threads, progress=lambda line: err.print(line, highlight=False, soft_wrap=True))
    served = record.merged_gguf or record.adapter_gguf
    Console().print(f"{name}: registered ({'merged' if record.merged_gguf else 'base + adapter'}: {served}); "
                    f"use --model llamacpp:{name}", highlight=False, soft_wrap=True)


@finetune_app.command("lora")
def lora_cmd(
    data: Annotated[Path | None, typer.Option("--data", help="training samples (JSONL, `kapibara data build`; "
                                              "default: the demo's shipped set)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="the run folder (adapter, checkpoints, train.json)")] = Path(
        "runs/lora"),
    base: Annotated[str, typer.Option("--base", help="bundled model to tune")] = "qwen2.5-coder-0.5b",
    rank: Annotated[int, typer.Option("--rank")] = 16,
    alpha: Annotated[int, typer.Option("--alpha")] = 32,
    targets: Annotated[str, typer.Option("--targets", help="comma-separated modules")] = ",".join(DEFAULT_TARGETS),
    epochs: Annotated[float, typer.Option("--epochs")] = 1.0,
    lr: Annotated[float, typer.Option("--lr")] = 3e-4,
    batch: Annotated[int, typer.Option("--batch")] = 12,
    max_samples: Annotated[int, typer.Option("--max-samples", help="0 = all")] = 420,
    reply_share: Annotated[float, typer.Option("--reply-share", min=0.0, max=1.0,
                                               help="share of plain replies (no tool call) among the drawn samples")] = 0.3,
    profile: Annotated[str, typer.Option("--profile", help="the prompt the tuned model is sent: compact|default")] = "compact",
    device: Annotated[str, typer.Option("--device", help="auto|cpu|cuda")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="continue from the run's last checkpoint")] = False,
    init: Annotated[str | None, typer.Option("--init", help="start from this adapter (a tuned model's name, a run "
                                              "or peft folder) instead of fresh weights")] = None,
    seed: Annotated[int, typer.Option("--seed", help="draws the samples and their order")] = 0,
    focus: Annotated[str | None, typer.Option("--focus", help="take every sample whose source starts with this "
                                              "(e.g. template:no_call:from_results), then draw the rest")] = None,
) -> None:
    """Train a LoRA adapter on the samples (transformers + peft; GPU when present)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    import kapibara.demo  # noqa: F401 - registers the "demo" tool set
    from kapibara.demo.agent import shipped_train_path
    from kapibara.finetune.lora import TrainConfig, train

    config = TrainConfig(data=str(data or shipped_train_path()), out=str(out), base=base, rank=rank, alpha=alpha,
                         targets=tuple(t.strip() for t in targets.split(",") if t.strip()), epochs=epochs,
                         lr=lr, batch=batch, max_samples=max_samples or None, reply_share=reply_share, profile=profile,
                         device=device, init=init, seed=seed, focus=focus)
    err = Console(stderr=True)
    with Progress(TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), console=err) as bar:
        task = bar.add_task("train", total=None, loss="-")

        def advance(step: int, total: int, loss: float, left: float) -> None:
            bar.update(task, completed=step, total=total, loss=f"{loss:.3f}")

        result = train(config, resume=resume, progress=advance, log=lambda m: err.print(m, highlight=False))
    Console().print(f"adapter: {result.adapter} ({result.samples} samples, {result.steps} steps, "
                    f"{result.wall_s:.0f} s, {result.tokens_per_s:.0f} tokens/s on {result.device}); "
                    f"next: kapibara finetune export {out} --name NAME", highlight=False, soft_wrap=True)


@finetune_app.command("check")
def check_cmd(
    data: Annotated[Path | None, typer.Option("--data", help="training samples (JSONL; default: the demo's "
                                              "shipped set)")] = None,
    base: Annotated[str, typer.Option("--base")] = "qwen2.5-coder-0.5b",
    profile: Annotated[str, typer.Option("--profile")] = "compact",
    limit: Annotated[int, typer.Option("--limit", help="samples to check; 0 = all")] = 100,
) -> None:
    """Template parity: the training tokens equal llama.cpp's tokens for the same turns."""
    import kapibara.demo  # noqa: F401 - registers the "demo" tool set
    from kapibara.demo.agent import shipped_train_path
    from kapibara.finetune.base import load_hf_tokenizer
    from kapibara.finetune.frame import agent_frame, gguf_template
    from kapibara.finetune.parity import check_parity, llama_tokenizer
    from kapibara.finetune.samples import load_samples
    from kapibara.models.bundled import model_path

    path = model_path(base)
    frame = agent_frame(profile=profile, template=gguf_template(path))
    samples = load_samples(data or shipped_train_path())
    found = check_parity(samples, frame, load_hf_tokenizer(base), llama_tokenizer(path), limit or None)
    checked = min(len(samples), limit or len(samples))
    if found:
        for m in found[:5]:
            Console(stderr=True).print(str(m), highlight=False, soft_wrap=True)
        raise ConfigError(f"template parity failed on {len(found)} of {checked} samples",
                          hint="the training template must render exactly what llama.cpp is sent")
    Console().print(f"parity ok: {checked} samples give identical token ids in training and in llama.cpp")


def improve_cmd(
    run: Annotated[Path, typer.Option("--run", help="the run folder; the same command again resumes it")] = Path(
        "runs/improve"),
    name: Annotated[str, typer.Option("--name", help="the tuned model's name (then --model llamacpp:NAME)")] = (
        "grocery-0.5b"),
    base: Annotated[str, typer.Option("--base", help="the bundled model to tune")] = "qwen2.5-coder-0.5b",
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="cases per evaluation (a quick look)")] = None,
    max_samples: Annotated[int, typer.Option("--max-samples", help="training samples (the CPU recipe: 420)")] = 420,
    epochs: Annotated[float, typer.Option("--epochs")] = 1.0,
    merge: Annotated[bool, typer.Option("--merge/--no-merge", help="also a merged, re-quantised GGUF")] = True,
    device: Annotated[str, typer.Option("--device", help="auto|cpu|cuda")] = "auto",
) -> None:
    """The whole loop: eval → bad cases → data → LoRA → export → eval again, one report."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from kapibara.finetune.improve import Improve, ImproveOptions

    err = Console(stderr=True)
    options = ImproveOptions(run=str(run), name=name, base=base, limit=limit, max_samples=max_samples,
                             epochs=epochs, merge=merge, device=device)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def step(tag: str, done: int, total: int) -> None:
            if tag not in tasks:
                tasks[tag] = bar.add_task(tag, total=total)
            bar.update(tasks[tag], completed=done, total=total)

        state = Improve(options, say=lambda m: err.print(m, highlight=False, soft_wrap=True),
                        train_progress=lambda s, t, loss, left: step("train", s, t),
                        eval_progress=step).run()
    Console().print((run / "improve.md").read_text(encoding="utf-8"), highlight=False, soft_wrap=True)
    Console().print(f"use it: kapibara run --model llamacpp:{state['done']['export']['name']} \"...\"",
                    highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``finetune`` to the root CLI."""
    app.add_typer(finetune_app, name="finetune")
    app.command("improve")(improve_cmd)
