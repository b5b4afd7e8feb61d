"""Fixtures for retrieval tests: a fast deterministic embedder and a Chroma server."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """A real Chroma server (``chroma run``) on 127.0.0.1 and a free port, for the session.

    Skips when chromadb is not installed, except in CI (``CI=true``) where that fails:
    the server-backed store must be tested there.
    """
    if importlib.util.find_spec("chromadb") is None:
        if os.environ.get("CI") == "true":
            pytest.fail('chromadb is missing in CI: pip install "kapibara[vector]"')
        pytest.skip('chromadb not installed (pip install "kapibara[vector]")')
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.fail("chromadb is installed but its `chroma` command is not on PATH")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield ("127.0.0.1", port)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
