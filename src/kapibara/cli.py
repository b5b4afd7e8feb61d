"""The ``kapibara`` command: a thin layer that parses arguments and calls the library.

Each area's commands live in ``kapibara/commands/<area>.py``. User mistakes
(``KapibaraError``) print one clear line and exit 2, never a traceback.
"""

from __future__ import annotations

import errno
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


_OS_HINTS = {
    errno.ENOSPC: "free some disk space (or point the output elsewhere) and run it again",
    errno.EDQUOT: "free some disk space (or point the output elsewhere) and run it again",
    errno.EACCES: "choose a path you may write to",
    errno.EROFS: "choose a path on a writable file system",
}


def _fail(message: str, hint: str | None) -> int:
    """Print a user's mistake as one error line and its hint; exit code 2."""
    # escape: messages hold brackets (e.g. kapibara[llamacpp]) that rich would eat as markup
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        _err.print(f"  hint: {escape(hint)}", highlight=False, soft_wrap=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    try:
        # Non-standalone mode returns a command's typer.Exit code instead of raising it.
        rv = app(args=argv, standalone_mode=False)
    except KapibaraError as exc:
        return _fail(exc.message, exc.hint)
    except KeyboardInterrupt:
        _err.print("interrupted")
        return 130
    except UnicodeDecodeError as exc:
        # A loader that read a file without naming it in an error of its own: still one line.
        return _fail(f"a file given is not UTF-8 text ({exc.reason} at byte {exc.start})",
                     "save the file as UTF-8 (kapibara reads YAML, JSON and text files as UTF-8)")
    except RecursionError:
        return _fail("an input is nested too deeply to read", "flatten the file's structure")
    except OSError as exc:
        # The disk is full, a folder is read-only...: what the user must fix, not a bug.
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}", _OS_HINTS.get(exc.errno or 0, "check the path and try again"))
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        _err.print("aborted")
        return 1
    except _USAGE_ERRORS as exc:  # usage mistakes: click prints usage + one line, exit 2
        exc.show()  # type: ignore[attr-defined]
        if getattr(exc, "ctx", None) is None:  # raised by a command itself: click printed no "Try --help"
            words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")][:1]
            _err.print(f"  hint: kapibara {' '.join(words)} --help".replace("  --", " --"), highlight=False)
        return int(exc.exit_code)  # type: ignore[attr-defined]
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
