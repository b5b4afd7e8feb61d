"""``kapibara serve``: the OpenAI-compatible HTTP server (``kapibara.serve``)."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_command(
    host: Annotated[str, typer.Option("--host", help="address to listen on; beyond loopback needs --api-key")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="port to listen on")] = 8000,
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="model spec to serve (repeatable) [default: settings, the bundled qwen2.5-coder-0.5b]")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", envvar="KAPIBARA_SESSION_DB", help="session store path or postgresql:// URL")] = None,
    api_key: Annotated[list[str] | None, typer.Option(
        "--api-key", help="accepted API key (repeatable) [default: KAPIBARA_API_KEYS]")] = None,
    agent: Annotated[list[str] | None, typer.Option(
        "--agent", help="serve agent:NAME running a registered tool set, NAME=TOOLSET (repeatable) [default: grocery=demo]")] = None,
    queue: Annotated[int, typer.Option("--queue", min=0, help="requests that may wait for the model; more get 429")] = 8,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="the most tokens one request may ask for")] = 2048,
    side_effects: Annotated[list[str] | None, typer.Option(
        "--side-effects", help="what the agents' side-effecting calls do: allow, confirm (the client approves) or deny; "
        "TOOL=MODE for one tool; repeatable [default: settings, else the tool set's: confirm for the demo's cart]")] = None,
) -> None:
    """Serve the agents and models over an OpenAI-compatible API (chat, tools, streaming)."""
    from kapibara.serve.server import build_app, run

    app = build_app(model, host=host, db=db, api_keys=api_key or (), agents=agent, max_waiting=queue,
                    max_tokens=max_tokens, side_effects=side_effects)
    run(app, host, port)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root command."""
    app.command("serve")(serve_command)
