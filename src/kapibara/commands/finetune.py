"""``kapibara finetune export``: a trained LoRA adapter made servable by llama.cpp and vLLM
and registered as a local model (thin wrapper over ``kapibara.finetune.publish``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from kapibara.errors import ConfigError

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
    quant: Annotated[str, typer.Option("--quant", help="quantisation of the merged model")] = "Q4_K_M",
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE kept in the record "
                                                    "(e.g. prompt=v2); repeatable")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="threads for quantising")] = None,
) -> None:
    """Export RUN's adapter as a GGUF LoRA adapter (+ merged GGUF with --merge, + the peft
    folder for vLLM) and register it as NAME."""
    from kapibara.finetune.publish import publish

    err = Console(stderr=True)
    record = publish(run, name, base=base, merge=merge, quant=quant, metadata=_metadata(meta or []),
                     threads=threads, progress=lambda line: err.print(line, highlight=False, soft_wrap=True))
    served = record.merged_gguf or record.adapter_gguf
    Console().print(f"{name}: registered ({'merged' if record.merged_gguf else 'base + adapter'}: {served}); "
                    f"use --model llamacpp:{name}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``finetune`` to the root CLI."""
    app.add_typer(finetune_app, name="finetune")
