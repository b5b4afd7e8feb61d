"""``kapibara run --mcp`` / ``--tools FILE`` with the fake model: tools join, mistakes are one line."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
import yaml
from mcp_helpers import KAPIBARA, TINY

from kapibara.cli import main

# A "server" that writes a line that is not JSON-RPC, then exits.
NOT_JSON = shlex.join([sys.executable, "-c", 'print("not json")'])


def one_error_line(err: str) -> None:
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.parametrize(
    ("server", "said"),
    [
        ("no-such-command-kapibara --stdio", "command not found: no-such-command-kapibara"),
        (f"{sys.executable} -m no_such_module_kapibara", "No module named no_such_module_kapibara"),
        (NOT_JSON, "exited before the MCP handshake"),
        ("http://127.0.0.1:9/mcp", "All connection attempts failed"),
    ],
)
def test_run_with_a_broken_mcp_server_prints_one_line(home, capsys, server, said):
    assert main(["run", "x", "--model", "fake:x", "--mcp", server]) == 2
    err = capsys.readouterr().err
    one_error_line(err)
    assert said in err and "hint:" in err


def test_run_adds_the_servers_tools(home, tmp_path, capsys):
    tools_file = tmp_path / "tools.yaml"
    tools_file.write_text(
        yaml.safe_dump({"tools": [{"name": "show", "target": "kapibara.tools.execute:format_output"}]}),
        encoding="utf-8",
    )
    call = '<tool_call>{"name": "shout", "arguments": {"text": "hi"}}</tool_call>'
    argv = ["run", "shout hi", "--model", f"fake:{call}", "--json", "--tools", str(tools_file), "--mcp", shlex.join(TINY)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tool_calls"][0] == {"name": "shout", "arguments": {"text": "hi"}}


def test_a_bad_tools_file_entry_is_one_line(home, tmp_path, capsys):
    tools_file = tmp_path / "tools.yaml"
    tools_file.write_text(yaml.safe_dump([{"mcp": {"url": "ftp://nowhere"}}]), encoding="utf-8")
    assert main(["run", "x", "--model", "fake:x", "--tools", str(tools_file)]) == 2
    err = capsys.readouterr().err
    one_error_line(err)
    assert "tool #1 (mcp)" in err


def test_the_console_script_exits_2_without_a_traceback(home):
    """The real process: SDK internals that log while the server dies stay off stderr."""
    proc = subprocess.run(
        [*KAPIBARA, "run", "x", "--model", "fake:x", "--mcp", NOT_JSON],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    one_error_line(proc.stderr)
    assert "exited before the MCP handshake" in proc.stderr


def test_without_the_sdk_the_error_names_the_extra(home, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if the extra were not installed
    assert main(["run", "x", "--model", "fake:x", "--mcp", "python -m my_server"]) == 2
    err = capsys.readouterr().err
    one_error_line(err)
    assert 'pip install "kapibara[mcp]"' in err
