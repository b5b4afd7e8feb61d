"""Per-call context handed to tools that ask for it.

A tool function declares a parameter annotated ``ToolContext``; the executor injects
it at call time and the parameter never appears in the JSON schema the model sees.
Tools mutate ``state`` (for example the shopping cart); the session store persists it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolContext:
    """Who is calling and the session's mutable state."""

    session_id: str = ""
    user_id: str = ""
    state: dict[str, Any] = field(default_factory=dict)
