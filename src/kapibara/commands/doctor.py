"""``kapibara doctor``: print what a bug report needs and the known-bad setups found.

A thin wrapper: kapibara.doctor collects the report; this module only renders it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from kapibara.doctor import Report, collect

_MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "error": "[bold red]✗[/]"}


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def print_report(report: Report, console: Console) -> None:
    """Sections as aligned key/value lines, then findings with ✓ / ! / ✗ and their fixes.

    Lines are never wrapped: the output is meant to be pasted whole into a bug report.
    """
    for section in report.sections:
        console.print(f"[bold]{escape(section.title)}[/]")
        width = max((len(key) for key in section.facts), default=0)
        for key, value in section.facts.items():
            label = key.replace("_", " ").ljust(width)
            console.print(f"  [dim]{escape(label)}[/]  {escape(_show(value))}", soft_wrap=True, highlight=False)
    console.print()
    console.print("[bold]Findings[/]")
    for finding in report.findings:
        console.print(f"{_MARKS[finding.level]} {escape(finding.message)}", soft_wrap=True, highlight=False)
        if finding.fix and finding.level != "ok":
            console.print(f"    fix: {escape(finding.fix)}", soft_wrap=True, highlight=False)
    errors = len(report.errors)
    warnings = sum(f.level == "warn" for f in report.findings)
    console.print(f"{errors} error(s), {warnings} warning(s)", highlight=False)


def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    no_smoke: bool = typer.Option(
        False, "--no-smoke", help="skip the test decode of a bundled model in a child process"
    ),
) -> None:
    """Check the install: Python, CPU, the llama.cpp build, models, threads, extras.

    Exits 1 when an error is found (e.g. a llama.cpp build this CPU cannot run).
    """
    if as_json:
        report = collect(smoke=not no_smoke)
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        busy = "checking" if no_smoke else "checking (a 4-token test decode runs in a child process)"
        with Console(stderr=True).status(busy + "..."):
            report = collect(smoke=not no_smoke)
        print_report(report, Console())
    if report.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the root CLI."""
    app.command("doctor")(doctor_cmd)
