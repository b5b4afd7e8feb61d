"""``kapibara mcp serve`` (a tool set and knowledge-base search as an MCP server) and
``kapibara mcp tools`` (what an MCP server offers). Thin over kapibara.mcp."""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from kapibara.errors import ConfigError

if TYPE_CHECKING:
    from kapibara.rag.knowledge_base import KnowledgeBase
    from kapibara.tools import ToolSet

mcp_app = typer.Typer(help="MCP: serve kapibara tools to MCP clients, inspect MCP servers.", no_args_is_help=True)

TOOL_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def resolve_toolset(spec: str) -> ToolSet:
    """A registered tool set name (``demo``), ``MODULE:FUNCTION``, or a YAML/JSON tools file."""
    from kapibara.toolsets import toolset_entry

    if spec.lower().endswith(TOOL_FILE_SUFFIXES):
        from kapibara.mcp import load_tools_with_mcp

        tools, _clients = load_tools_with_mcp(spec)  # the clients close at exit
        return tools
    if ":" in spec:
        from kapibara.commands.agent import _load_tools

        return _load_tools(spec)
    if spec == "demo":
        importlib.import_module("kapibara.demo")  # registers the "demo" tool set
    entry = toolset_entry(spec)
    if entry.toolset is None:
        raise ConfigError(f"tool set {spec!r} has specs only, no functions to run", hint="serve one with functions")
    return entry.toolset()


def open_knowledge_base(spec: str) -> KnowledgeBase:
    """A knowledge base folder (with ``catalog.sqlite``) or a name under ``$KAPIBARA_HOME/kb``."""
    from kapibara.rag.knowledge_base import KnowledgeBase, kb_path

    path = Path(spec).expanduser()
    if not (path / "catalog.sqlite").exists():
        named = kb_path(spec) if "/" not in spec and not spec.startswith(".") else None
        if named is None or not (named / "catalog.sqlite").exists():
            raise ConfigError(
                f"knowledge base {spec!r} does not exist",
                hint="give a knowledge base folder or name; create one with: kapibara kb ingest DOCS --kb NAME",
            )
        path = named
    return KnowledgeBase(path)


@mcp_app.command("serve")
def serve_cmd(
    toolset: Annotated[
        str, typer.Option("--toolset", help="a registered tool set (demo), MODULE:FUNCTION, or a tools YAML/JSON file")
    ] = "demo",
    kb: Annotated[
        str | None, typer.Option("--kb", help="also serve search_knowledge_base over this knowledge base (folder or name)")
    ] = None,
    kb_mode: Annotated[str, typer.Option("--kb-mode", help="bm25 | dense | hybrid")] = "hybrid",
    no_tools: Annotated[bool, typer.Option("--no-tools", help="serve only the knowledge-base search")] = False,
    transport: Annotated[str, typer.Option("--transport", "-t", help="stdio (a client starts this command) or http")] = "stdio",
    host: Annotated[str, typer.Option("--host", help="HTTP: the address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="HTTP: the port")] = 8000,
    language: Annotated[str, typer.Option("--language", "-l", help="language of error observations: en or zh")] = "en",
) -> None:
    """Serve a tool set (and knowledge-base search) to MCP clients, e.g. Claude Desktop or Cursor."""
    from kapibara.mcp.server import build_server, serve
    from kapibara.tools import ToolSet

    if transport not in ("stdio", "http"):
        raise ConfigError(f"unknown transport {transport!r}", hint="use --transport stdio or --transport http")
    if kb_mode not in ("bm25", "dense", "hybrid"):
        raise ConfigError(f"unknown search mode {kb_mode!r}", hint="use bm25, dense or hybrid")
    if language not in ("en", "zh"):
        raise ConfigError(f"unknown language {language!r}", hint="use en or zh")
    if no_tools and kb is None:
        raise ConfigError("nothing to serve", hint="give --kb with --no-tools")
    # stdout is the protocol channel under stdio: warnings go to stderr, never print().
    logging.basicConfig(level=logging.WARNING, format="kapibara mcp: %(levelname)s %(name)s: %(message)s")
    tools = ToolSet() if no_tools else resolve_toolset(toolset)
    base = open_knowledge_base(kb) if kb else None
    server = build_server(tools, knowledge_base=base, kb_mode=kb_mode, language=language)  # type: ignore[arg-type]
    if transport == "http":
        typer.echo(f"MCP server on http://{host}:{port}/mcp ({len(tools) + (base is not None)} tools)", err=True)
    try:
        serve(server, transport=transport, host=host, port=port)  # type: ignore[arg-type]
    finally:
        if base is not None:
            base.close()


@mcp_app.command("tools")
def tools_cmd(
    server: Annotated[str, typer.Argument(help='an MCP server: a command line ("python -m my_server") or a URL')],
    as_json: Annotated[bool, typer.Option("--json", help="print the tools as OpenAI tool specs (JSON lines)")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="seconds to wait for the server")] = 30.0,
) -> None:
    """List the tools an MCP server offers, with their parameters, as kapibara sees them."""
    from kapibara.mcp import McpClient, quiet_sdk_logs

    quiet_sdk_logs()
    with McpClient(server, connect_timeout_s=timeout, timeout_s=timeout) as client:
        tools = client.tools()
    if as_json:
        for spec in tools.specs():
            typer.echo(json.dumps(spec, ensure_ascii=False))
        return
    console = Console()
    for t in tools:
        params = ", ".join(_param(name, schema, t.parameters) for name, schema in t.parameters["properties"].items())
        console.print(f"[bold]{escape(t.name)}[/]({escape(params)})", highlight=False)
        if t.description:
            console.print(f"  {escape(t.description)}", highlight=False, style="dim")


def _param(name: str, schema: Any, parameters: dict[str, Any]) -> str:
    typ = schema.get("type", "any") if isinstance(schema, dict) else "any"
    optional = "" if name in (parameters.get("required") or []) else "?"
    return f"{name}{optional}: {typ}"


def register(app: typer.Typer) -> None:
    """Add the ``mcp`` command group to the root CLI."""
    app.add_typer(mcp_app, name="mcp")
