"""Helpers shared by the MCP tests: server command lines, free ports, process checks."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TINY = [sys.executable, str(HERE / "tiny_server.py")]
KAPIBARA = [sys.executable, "-m", "kapibara.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    """Whether a process exists (a reaped child does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
