"""Named tool sets: what ``"tools": "demo"`` in an eval case file means.

A domain registers its tool set when it is imported (``import kapibara.demo`` registers
``"demo"``); code that runs cases looks the name up here and never imports a domain
itself, so the import graph stays top-down:

    from kapibara.toolsets import register_toolset, toolset_entry

    register_toolset("shop", lambda: my_tools().specs(), toolset_factory=my_tools,
                     prompt_factory=lambda: Prompt.builtin("grocery_assistant", "zh"))
    toolset_entry("shop").specs()     # the JSON specs a case is judged against
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kapibara.errors import DataError

if TYPE_CHECKING:
    from kapibara.models.base import ToolSpec
    from kapibara.prompts import Prompt
    from kapibara.tools import ToolSet


@dataclass(frozen=True)
class ToolsetEntry:
    """A registered tool set. ``specs`` builds the JSON specs; ``toolset`` (optional) the
    callable tools, so an eval episode can act; ``prompt`` (optional) the prompt that
    belongs to them; ``agent_options`` (optional) the rest of the domain's default agent
    (``Agent`` keyword arguments: prompts per language, router, example bank, grounding)."""

    name: str
    specs: Callable[[], list[ToolSpec]]
    toolset: Callable[[], ToolSet] | None = None
    prompt: Callable[[], Prompt] | None = None
    agent_options: Callable[[], dict[str, Any]] | None = None


_REGISTRY: dict[str, ToolsetEntry] = {}


def register_toolset(
    name: str,
    specs_factory: Callable[[], list[ToolSpec]],
    toolset_factory: Callable[[], ToolSet] | None = None,
    prompt_factory: Callable[[], Prompt] | None = None,
    agent_options: Callable[[], dict[str, Any]] | None = None,
) -> ToolsetEntry:
    """Make ``name`` resolve to these factories (called lazily, on each lookup).

    Registering a name again replaces the entry.
    """
    entry = ToolsetEntry(name, specs_factory, toolset_factory, prompt_factory, agent_options)
    _REGISTRY[name] = entry
    return entry


def unregister_toolset(name: str) -> None:
    """Forget ``name`` (no error when it is not registered)."""
    _REGISTRY.pop(name, None)


def toolset_names() -> list[str]:
    """Registered names, sorted."""
    return sorted(_REGISTRY)


def toolset_entry(name: str) -> ToolsetEntry:
    """The entry registered as ``name``; DataError with the known names otherwise."""
    entry = _REGISTRY.get(name)
    if entry is None:
        known = ", ".join(toolset_names()) or "none"
        raise DataError(
            f"unknown tool set {name!r}",
            hint=f"known: {known}; a domain registers its tool set when imported "
            "(import kapibara.demo for 'demo'), or give the cases inline tool specs",
        )
    return entry
