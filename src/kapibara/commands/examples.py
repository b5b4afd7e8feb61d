"""``kapibara examples add|import|list|remove``: the user's example bank (thin wrappers).

The bank is a JSONL file, by default ``$KAPIBARA_HOME/examples.jsonl``; ``kapibara run``
and ``chat`` use it beside the demo's own examples for routing and retrieved few-shot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kapibara.errors import ConfigError

examples_app = typer.Typer(help="The example bank: labelled questions that route and teach the agent.",
                           no_args_is_help=True)

BankOption = Annotated[Path | None, typer.Option("--bank", help="example bank file [default: $KAPIBARA_HOME/examples.jsonl]")]


def user_bank_path(bank: Path | None = None) -> Path:
    from kapibara.settings import kapibara_home

    return bank or kapibara_home() / "examples.jsonl"


def _parse_call(text: str) -> object:
    from kapibara.models.base import ToolCall

    name, _, args = text.strip().partition(" ")
    if not name:
        raise ConfigError(f"bad --call {text!r}", hint="use --call 'TOOL {\"arg\": \"value\"}'")
    try:
        arguments = json.loads(args) if args.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"bad --call {text!r}: arguments are not JSON ({exc.msg})",
                          hint="use --call 'TOOL {\"arg\": \"value\"}'") from None
    if not isinstance(arguments, dict):
        raise ConfigError(f"bad --call {text!r}: arguments must be a JSON object")
    return ToolCall(name, arguments)


@examples_app.command("add")
def add_cmd(
    question: Annotated[str | None, typer.Argument(help="the user's question")] = None,
    call: Annotated[list[str] | None, typer.Option("--call", help="a right call: 'TOOL {json arguments}' (repeatable)")] = None,
    answer: Annotated[str | None, typer.Option("--answer", help="a good answer (for a question that needs no tool)")] = None,
    session: Annotated[str | None, typer.Option("--session", help="add a stored session's latest turn as a good example")] = None,
    db: Annotated[str | None, typer.Option("--db", envvar="KAPIBARA_SESSION_DB", help="session store (with --session)")] = None,
    bank: BankOption = None,
) -> None:
    """Add one example: a question with its right calls or answer, or a session marked good."""
    from kapibara.agent.examples import Example, ExampleBank
    from kapibara.optimize.bank import example_from_session

    path = user_bank_path(bank)
    the_bank = ExampleBank.load(path)
    if session:
        from kapibara.memory import open_store
        from kapibara.settings import Settings

        store = open_store(db or Settings.load().session_db)
        messages = store.messages(session)
        if not messages:
            raise ConfigError(f"no session {session!r}", hint="kapibara sessions list shows the ids")
        example = example_from_session(messages, f"session:{session}")
    elif question:
        if not call and not answer:
            raise ConfigError("an example needs --call (the right calls) or --answer (no tool needed)")
        example = Example.make(question, calls=[_parse_call(c) for c in call or []],  # type: ignore[misc]
                               answer=answer or "", source="manual")
    else:
        raise ConfigError("give a question or --session", hint="kapibara examples add '北京天气' --call 'get_weather {\"city\": \"北京\"}'")
    added = the_bank.add(example)
    the_bank.save(path)
    typer.echo(f"{'added' if added else 'already there'}: {example.id} {example.label} ({len(the_bank)} in {path})")


@examples_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="eval cases, exported bad cases (expected corrected), or examples (JSONL)")],
    bank: BankOption = None,
) -> None:
    """Import examples from a file; identical ones are skipped."""
    from kapibara.agent.examples import ExampleBank
    from kapibara.optimize.bank import examples_from_file

    path = user_bank_path(bank)
    the_bank = ExampleBank.load(path)
    found = examples_from_file(file)
    added = sum(the_bank.add(e) for e in found)
    the_bank.save(path)
    typer.echo(f"imported {added} of {len(found)} examples ({len(the_bank)} in {path})")


@examples_app.command("list")
def list_cmd(bank: BankOption = None, limit: Annotated[int, typer.Option("--limit", "-n")] = 50) -> None:
    """List the examples: id, label (tools or no call), question, source."""
    from kapibara.agent.examples import ExampleBank

    path = user_bank_path(bank)
    the_bank = ExampleBank.load(path)
    table = Table("id", "label", "question", "source", title=f"{len(the_bank)} examples in {path}")
    for e in the_bank.examples[:limit]:
        table.add_row(e.id, e.label, e.question[:60], e.source)
    Console().print(table)


@examples_app.command("remove")
def remove_cmd(example_id: Annotated[str, typer.Argument(help="the id (a unique prefix works)")], bank: BankOption = None) -> None:
    """Remove one example."""
    from kapibara.agent.examples import ExampleBank

    path = user_bank_path(bank)
    the_bank = ExampleBank.load(path)
    gone = the_bank.remove(example_id)
    the_bank.save(path)
    typer.echo(f"removed {gone.id}: {gone.question}")


def register(app: typer.Typer) -> None:
    app.add_typer(examples_app, name="examples")
