"""The ``kapibara`` command: a thin layer that parses arguments and calls the library.

Each area's commands live in ``kapibara/commands/<area>.py``. User mistakes
(``KapibaraError``) print one clear line and exit 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

from kapibara.commands import register
from kapibara.errors import KapibaraError

app = typer.Typer(
    name="kapibara",
    help="Build vertical-domain LLM agents that are accurate and fast on small local models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
register(app)

_err = Console(stderr=True)


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """Click's exception root, wherever this typer takes click from.

    typer 0.2x vendors click as ``typer._click``; older releases use the ``click``
    package. A usage mistake raises the vendored class, which ``click.ClickException``
    does not catch (it printed a 30-line traceback for an unknown command).
    """
    found: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_USAGE_ERRORS = _usage_error_types()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    try:
        # Non-standalone mode returns a command's typer.Exit code instead of raising it.
        rv = app(args=argv, standalone_mode=False)
    except KapibaraError as exc:
        # escape: messages hold brackets (e.g. kapibara[llamacpp]) that rich would eat as markup
        _err.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            _err.print(f"  hint: {escape(exc.hint)}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        _err.print("interrupted")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        _err.print("aborted")
        return 1
    except _USAGE_ERRORS as exc:  # usage mistakes: click prints usage + one line, exit 2
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
