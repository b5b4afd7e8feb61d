"""Command groups of the CLI, one module per area. Each module exposes ``register(app)``."""

from __future__ import annotations

import importlib

import typer

# One module per area under kapibara/commands/, each defining register(app: typer.Typer).
AREAS = ["models", "agent", "sessions", "evals", "kb", "doctor", "examples", "optimize", "mcp", "serve", "data", "finetune"]


def register(app: typer.Typer) -> None:
    for area in AREAS:
        importlib.import_module(f"kapibara.commands.{area}").register(app)
