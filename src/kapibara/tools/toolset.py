"""``ToolSet``: an ordered, name-unique collection of tools that composes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rapidfuzz import fuzz, process

from kapibara.errors import ToolDefinitionError
from kapibara.models.base import ToolSpec
from kapibara.tools.base import Tool
from kapibara.tools.decorator import tool_from_function


class ToolSet:
    """Tools the agent may call, by name. Plain typed functions are wrapped with ``@tool``."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            t = item if isinstance(item, Tool) else tool_from_function(item)
            if t.name in self._tools:
                raise ToolDefinitionError(
                    f"duplicate tool name '{t.name}'",
                    hint="rename one of them, or combine the sets with .prefixed('ns_')",
                )
            self._tools[t.name] = t

    # -- lookups ---------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Tool names, in insertion order."""
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def specs(self) -> list[ToolSpec]:
        """OpenAI tool dicts for every tool, in order."""
        return [t.spec() for t in self._tools.values()]

    def suggest(self, name: str, limit: int = 3, cutoff: float = 60.0) -> list[str]:
        """Registered names close to ``name`` (best first), for misspelled tool names."""
        if not name or not self._tools:
            return []
        # WRatio scores partial overlaps too (e.g. 'recommend' vs 'recommend_products').
        hits = process.extract(
            name, self.names, scorer=fuzz.WRatio, limit=limit, score_cutoff=cutoff
        )
        return [h[0] for h in hits]

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, Tool):
            return name.name in self._tools
        return name in self._tools

    def __repr__(self) -> str:
        return f"ToolSet({self.names})"

    # -- composition -----------------------------------------------------------------

    def filter(self, names_or_predicate: Iterable[str] | Callable[[Tool], bool]) -> ToolSet:
        """A new set with only the named tools (unknown names raise) or those a predicate keeps."""
        if callable(names_or_predicate):
            pred = names_or_predicate
            return ToolSet(t for t in self if pred(t))
        if isinstance(names_or_predicate, str):
            names_or_predicate = [names_or_predicate]
        wanted = list(names_or_predicate)
        missing = [n for n in wanted if n not in self._tools]
        if missing:
            raise ToolDefinitionError(
                f"no tool named {', '.join(repr(m) for m in missing)}",
                hint=f"known tools: {', '.join(self.names)}",
            )
        return ToolSet(self._tools[n] for n in wanted)

    def prefixed(self, prefix: str) -> ToolSet:
        """A new set whose tools are renamed ``prefix + name``; functions are kept."""
        return ToolSet(dataclasses.replace(t, name=prefix + t.name) for t in self)

    def merge(self, *others: ToolSet | Iterable[Tool | Callable[..., Any]]) -> ToolSet:
        """A new set with these tools then the others'; a duplicate name raises."""
        items: list[Tool | Callable[..., Any]] = list(self)
        for other in others:
            items.extend(other)
        return ToolSet(items)

    def __add__(self, other: ToolSet | Iterable[Tool | Callable[..., Any]]) -> ToolSet:
        return self.merge(other)
