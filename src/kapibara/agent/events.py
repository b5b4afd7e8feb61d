"""Streaming events of an agent run.

``Agent.stream()`` yields these in order: ``token`` (a piece of model text, as it is
generated), ``thought`` (the reasoning of a step, ReAct protocol), ``tool_call`` (a
``ToolCall`` about to run), ``observation`` (its ``ToolResult``), ``error`` (a
model-fixable problem: output that could not be repaired, a repeated call), ``pending``
(calls that wait for the user's approval: a ``PendingAction``; the turn ends) and, last,
exactly one ``final`` whose ``data`` is the ``RunResult``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EventKind = Literal["token", "thought", "tool_call", "observation", "final", "error", "pending"]


@dataclass
class AgentEvent:
    """One event of a run. ``data`` depends on ``kind`` (see the module docstring)."""

    kind: EventKind
    data: Any
    step: int = 0
