"""The root command: usage mistakes print usage and one line, exit 2, never a traceback.

Run through ``kapibara.cli.main`` (the console script), which is where a typer release
that vendors click once let every usage error escape as a traceback.
"""

from __future__ import annotations

import pytest

from kapibara.cli import main


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["no-such-command"], "No such command"),
        (["run"], "Missing argument"),
        (["run", "hi", "--no-such-option"], "No such option"),
        (["generate", "hi", "--max-tokens", "lots"], "Invalid value"),
    ],
)
def test_usage_mistakes_exit_2_with_one_line(argv, said, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "run" in capsys.readouterr().out
