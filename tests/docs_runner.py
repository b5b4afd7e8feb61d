"""Find the fenced examples of README.md and docs/*.md, run them, and check what they print.

The conventions a doc writer follows (``tests/test_docs.py`` runs every file):

* Every ```` ```python ```` block runs. The blocks of one file share one namespace, in
  order, as if a reader pasted them one after another into one interpreter.
* A top-level ``print(...)`` or bare expression with a trailing comment is checked: what
  it prints (for a bare expression: the ``repr`` of its value) must be the comment's
  text, e.g. ``print(len(rows))  # 3`` or ``catalog.find_product("iPhone 16")  # None``.
  Without a trailing comment, the ``#`` lines directly below it (no blank line between)
  are its expected output, so a long value can wrap over several lines. Runs of
  whitespace compare equal. Any other comment is prose: keep it off such lines.
* An HTML comment on the line(s) just before a fence controls the block:
  ``<!-- docs-test: skip REASON -->`` does not run it, ``<!-- docs-test: requires
  MODULE -->`` skips it when ``MODULE`` cannot be imported (an optional extra). The
  blocks after a skipped or failed block of the same file are skipped too, since they
  may use what it defines.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_FENCE = re.compile(r"^```(\S*)\s*$")  # at column 0, as in every doc here
_DIRECTIVE = re.compile(r"^<!--\s*docs-test:\s*(\w+)\s*(.*?)\s*-->\s*$")
DIRECTIVES = ("skip", "requires")


def doc_files() -> list[Path]:
    """README.md, then docs/*.md in name order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown file."""

    path: Path
    index: int  # position among the file's blocks of the same language, from 1
    lang: str
    line: int  # line number, in the file, of the block's first code line
    code: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{_shown(self.path)}:{self.line}"

    @property
    def id(self) -> str:
        return f"{_shown(self.path)}-{self.lang}{self.index}"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def blocks(path: Path, lang: str) -> list[Block]:
    """The file's fenced blocks of language ``lang`` (``""``: a fence without one), with
    their ``docs-test`` directives."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if m.group(1) == lang:
            found.append(
                Block(
                    path=path,
                    index=len(found) + 1,
                    lang=lang,
                    line=start + 1,
                    code="\n".join(lines[start:end]) + "\n",
                    directives=_directives_above(lines, i, path),
                )
            )
        i = end + 1
    return found


def _directives_above(lines: list[str], fence: int, path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    j = fence - 1
    while j >= 0 and (m := _DIRECTIVE.match(lines[j].strip())):
        if m.group(1) not in DIRECTIVES:
            raise ValueError(f"{path}:{j + 1}: unknown docs-test directive {m.group(1)!r}; known: {DIRECTIVES}")
        found[m.group(1)] = m.group(2)
        j -= 1
    return found


def same_output(printed: str, expected: str) -> bool:
    """Whether ``printed`` is what the comment says, runs of whitespace counting as equal."""
    return printed.split() == expected.split()


class DocMismatch(AssertionError):
    """A checked line printed something other than its comment says."""


@dataclass(frozen=True)
class Check:
    """A statement whose output is checked: doc line, source text, expected output."""

    line: int
    source: str
    expected: str


def _statements(block: Block) -> list[tuple[ast.stmt, Check | None]]:
    """The block's top-level statements, each with its check when its output is checked."""
    tree = ast.parse(block.code, filename=block.where)
    comments: dict[int, tuple[int, str, bool]] = {}  # line -> (column, text, alone on its line)
    for tok in tokenize.generate_tokens(io.StringIO(block.code).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            comments[row] = (col, tok.string[1:].strip(), not tok.line[:col].strip())
    src = block.code.splitlines()
    out: list[tuple[ast.stmt, Check | None]] = []
    for stmt in tree.body:
        check = None
        if isinstance(stmt, ast.Expr) and not isinstance(stmt.value, ast.Constant):
            end = stmt.end_lineno or stmt.lineno
            expected: list[str] = []
            trailing = comments.get(end)
            if trailing and not trailing[2]:
                expected.append(trailing[1])
            else:
                row = end + 1
                while row in comments and comments[row][2] and comments[row][0] == stmt.col_offset:
                    expected.append(comments[row][1])
                    row += 1
            if expected:
                lines = src[stmt.lineno - 1 : end]
                if trailing and not trailing[2]:
                    lines[-1] = lines[-1][: trailing[0]].rstrip()
                source = "\n".join(lines)
                check = Check(block.line + stmt.lineno - 1, source, "\n".join(expected))
        out.append((stmt, check))
    return out


def run_block(block: Block, namespace: dict[str, object]) -> int:
    """Run a Python block in ``namespace``, statement by statement; returns how many
    statements were checked. Raises ``DocMismatch`` at the first wrong output.

    Code is compiled with the doc's own file name and line numbers, so a traceback
    points into the Markdown file.
    """
    __tracebackhide__ = True  # pytest: show the doc's frames, not this loop
    n = 0
    for stmt, check in _statements(block):
        if check is None:
            module = ast.Module(body=[stmt], type_ignores=[])
            ast.increment_lineno(module, block.line - 1)
            exec(compile(module, str(block.path), "exec"), namespace)  # noqa: S102 - our own docs
            continue
        assert isinstance(stmt, ast.Expr)
        expr = ast.Expression(body=stmt.value)
        ast.increment_lineno(expr, block.line - 1)
        code = compile(expr, str(block.path), "eval")
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            value = eval(code, namespace)  # noqa: S307 - our own docs
        is_print = isinstance(stmt.value, ast.Call) and getattr(stmt.value.func, "id", None) == "print"
        printed = buf.getvalue() if is_print else repr(value)
        if not same_output(printed, check.expected):
            shown = printed.strip()
            shown = shown if len(shown) <= 500 else shown[:500] + " ..."
            raise DocMismatch(
                f"{_shown(block.path)}:{check.line}: {check.source}\n"
                f"  printed:          {shown!r}\n"
                f"  the comment says: {check.expected!r}"
            )
        n += 1
    return n
