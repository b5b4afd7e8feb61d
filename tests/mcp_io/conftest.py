"""Fixtures for MCP tests: real server processes on loopback, always cleaned up."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp_helpers import free_port

# Without the SDK (the mcp extra) these tests are not collected, except in CI where
# they must run: there the import error shows.
if importlib.util.find_spec("mcp") is None and os.environ.get("CI") != "true":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private KAPIBARA_HOME for this test and the servers it starts."""
    path = tmp_path / "home"
    monkeypatch.setenv("KAPIBARA_HOME", str(path))
    monkeypatch.delenv("KAPIBARA_SESSION_DB", raising=False)
    monkeypatch.delenv("KAPIBARA_MODEL", raising=False)
    return path


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Callable[[list[str]], str]]:
    """Start ``argv + [port]``-style HTTP MCP servers; yields a function returning the URL.

    ``argv`` holds ``{port}`` where the port goes. Every process is killed at teardown.
    """
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], path: str = "/mcp") -> str:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [a.replace("{port}", str(port)) for a in argv], stdout=out, stderr=subprocess.STDOUT
            )
        procs.append(proc)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return f"http://127.0.0.1:{port}{path}"
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"MCP server {argv} did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
