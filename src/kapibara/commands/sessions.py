"""``kapibara sessions list|show|export|traces|delete``: thin wrappers over kapibara.memory."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kapibara.agent import export_jsonl
from kapibara.fileio import jsonl_text, write_atomic
from kapibara.memory import ENV_VAR, SessionNotFound, SessionStore, open_store

sessions_app = typer.Typer(
    help="List, show, export and delete stored conversations (short-term memory).",
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=ENV_VAR,
        help="session store: a SQLite path, sqlite:///path, or postgresql://user@host:port/db "
        "[default: $KAPIBARA_HOME/sessions.db]",
        show_envvar=True,
    ),
]


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _open(db: str | None) -> SessionStore:
    return open_store(db)


@sessions_app.command("list")
def list_cmd(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Show stored sessions, most recently updated first."""
    store = _open(db)
    try:
        infos = store.list_sessions()
    finally:
        store.close()
    if as_json:
        sys.stdout.write(json.dumps([i.to_dict() for i in infos], ensure_ascii=False, indent=2) + "\n")
        return
    console = Console()
    if not infos:
        console.print("no sessions yet (chat with: kapibara chat --session NAME)")
        return
    table = Table("session", "messages", "updated", "created", "title")
    for i in infos:
        table.add_row(escape(i.session_id), str(i.n_messages), _when(i.updated_at), _when(i.created_at), escape(i.title))
    console.print(table)


def _render_message(console: Console, msg: dict[str, Any]) -> None:
    role = str(msg.get("role", "?"))
    content = msg.get("content")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    style = {"system": "magenta", "user": "bold cyan", "assistant": "bold green", "tool": "yellow"}.get(role, "")
    label = f"tool {msg['name']}" if role == "tool" and msg.get("name") else role
    if text:
        console.print(f"[{style}]{escape(label)}:[/] {escape(text)}" if style else f"{escape(label)}: {escape(text)}")
    for call in msg.get("tool_calls") or []:
        fn = call.get("function", {}) if isinstance(call, dict) else {}
        console.print(f"[{style}]{escape(label)}:[/] [dim]→ {escape(str(fn.get('name')))}({escape(str(fn.get('arguments')))})[/]")


@sessions_app.command("show")
def show_cmd(session_id: Annotated[str, typer.Argument(help="session id")], db: DbOption = None) -> None:
    """Print a session's conversation, tool state and number of traces."""
    store = _open(db)
    try:
        data = store.export(session_id)
    finally:
        store.close()
    console = Console()
    console.print(
        f"[bold]{escape(session_id)}[/]  {len(data['messages'])} messages, {len(data['traces'])} traces, "
        f"updated {_when(data['updated_at'])}"
    )
    for msg in data["messages"]:
        _render_message(console, msg)
    if data["state"]:
        console.print(f"[dim]state: {escape(json.dumps(data['state'], ensure_ascii=False))}[/]")


@sessions_app.command("export")
def export_cmd(
    session_id: Annotated[str, typer.Argument(help="session id")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the JSON here instead of stdout")] = None,
    traces_jsonl: Annotated[
        Path | None, typer.Option("--traces-jsonl", help="also write the traces, one JSON object per line")
    ] = None,
    db: DbOption = None,
) -> None:
    """Export a session (messages, state, traces) as JSON."""
    store = _open(db)
    try:
        data = store.export(session_id)
    finally:
        store.close()
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if traces_jsonl is not None:
        export_jsonl(data["traces"], traces_jsonl)
        Console(stderr=True).print(f"wrote {len(data['traces'])} traces to {traces_jsonl}")
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomic(out, text)
        Console(stderr=True).print(f"wrote session {escape(session_id)} to {out}")


@sessions_app.command("traces")
def traces_cmd(
    session_id: Annotated[str | None, typer.Argument(help="one session id [default: all sessions]")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the JSONL here instead of stdout")] = None,
    db: DbOption = None,
) -> None:
    """Write trace records as JSONL (one model or tool call per line), oldest first."""
    store = _open(db)
    try:
        if session_id is not None and not any(i.session_id == session_id for i in store.list_sessions()):
            raise SessionNotFound(session_id)
        records = store.traces(session_id)
    finally:
        store.close()
    if out is None:
        sys.stdout.write(jsonl_text(records))
    else:
        export_jsonl(records, out)
        Console(stderr=True).print(f"wrote {len(records)} traces to {out}")


@sessions_app.command("delete")
def delete_cmd(
    session_id: Annotated[str, typer.Argument(help="session id")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    db: DbOption = None,
) -> None:
    """Delete a session with its messages, state and traces."""
    store = _open(db)
    try:
        if not any(i.session_id == session_id for i in store.list_sessions()):
            raise SessionNotFound(session_id)
        if not yes:
            typer.confirm(f"delete session {session_id!r} and all its messages and traces?", abort=True)
        store.delete(session_id)
    finally:
        store.close()
    Console().print(f"deleted session {escape(session_id)}")


def register(app: typer.Typer) -> None:
    """Add the ``sessions`` command group to the root CLI."""
    app.add_typer(sessions_app, name="sessions")
