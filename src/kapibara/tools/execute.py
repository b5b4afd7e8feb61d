"""Run the model's tool calls. Model-caused failures never raise: they come back as a
``ToolResult`` whose ``output`` is an observation the model can act on.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from kapibara.errors import KapibaraError
from kapibara.models.base import Message, ToolCall
from kapibara.prompts.loader import render_template
from kapibara.tools.context import ToolContext
from kapibara.tools.errors import ToolArgumentError
from kapibara.tools.toolset import ToolSet

ErrorKind = Literal["unknown_tool", "invalid_arguments", "tool_error", "timeout", "not_permitted", "declined"]
"""``not_permitted``/``declined``: the agent's side-effect policy refused the call, or the
user rejected it (``kapibara.agent.policy``); the tool did not run."""


@dataclass
class ToolResult:
    """What one call produced. ``output`` is what the model sees; ``value`` the raw return."""

    call: ToolCall
    output: str
    error: str | None = None
    error_kind: ErrorKind | None = None
    duration_s: float = 0.0
    value: Any = None

    @property
    def ok(self) -> bool:
        """True when the tool ran and returned."""
        return self.error_kind is None

    def to_message(self) -> Message:
        """The ``{"role": "tool", ...}`` message carrying the observation."""
        return {
            "role": "tool",
            "tool_call_id": self.call.to_openai()["id"],
            "name": self.call.name,
            "content": self.output,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly record for traces (the raw value as its JSON text)."""
        return {
            "call": dataclasses.asdict(self.call),
            "output": self.output,
            "error": self.error,
            "error_kind": self.error_kind,
            "duration_s": self.duration_s,
        }


def format_output(value: Any) -> str:
    """A tool's return value as observation text: strings as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def execute_call(
    toolset: ToolSet,
    call: ToolCall,
    ctx: ToolContext | None = None,
    *,
    language: str = "en",
) -> ToolResult:
    """Validate and run one call with the tool's timeout; never raises for model errors.

    A ``KapibaraError`` the tool itself raised (a missing catalog, a bad setting) does
    propagate: no model can fix it. A spec-only tool (``fn=None``) gives a ``tool_error``
    observation. A timed-out tool keeps running in its (daemon) thread; Python cannot stop it, so
    tools that may hang should use their own I/O timeouts too.
    """
    start = time.perf_counter()

    def result(output: str, error: str | None, kind: ErrorKind | None, value: Any = None) -> ToolResult:
        return ToolResult(call, output, error, kind, time.perf_counter() - start, value)

    tool = toolset.get(call.name)
    if tool is None:
        suggestions = toolset.suggest(call.name)
        out = render_template(
            "observation_unknown_tool", language,
            name=call.name, suggestions=suggestions, available=toolset.names,
        )
        return result(out, f"unknown tool '{call.name}'", "unknown_tool")
    if tool.fn is None:
        # Spec-only tools (built from benchmark schemas) can be chosen but not run; the
        # evaluation harness still runs whole episodes with them, so this is an observation.
        message = f"tool '{tool.name}' has no implementation here"
        out = render_template("observation_tool_error", language, tool=tool.name, error=message)
        return result(out, message, "tool_error")
    try:
        tool.validate(call.arguments)
    except ToolArgumentError as exc:
        out = render_template(
            "observation_invalid_arguments", language, tool=tool.name, problems=exc.problems
        )
        return result(out, str(exc), "invalid_arguments")

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = tool.invoke(call.arguments, ctx)
        except Exception as exc:  # noqa: BLE001 - any tool failure becomes an observation
            box["error"] = exc

    thread = threading.Thread(target=work, name=f"tool:{tool.name}", daemon=True)
    thread.start()
    thread.join(tool.timeout_s)
    if thread.is_alive():
        out = render_template("observation_timeout", language, tool=tool.name, timeout_s=tool.timeout_s)
        return result(out, f"tool '{tool.name}' timed out after {tool.timeout_s} s", "timeout")
    if "error" in box:
        failure: BaseException = box["error"]
        if isinstance(failure, KapibaraError):
            raise failure
        message = str(failure) or type(failure).__name__
        if isinstance(failure, ToolArgumentError):
            # The tool re-validated something itself; the model can fix it.
            out = render_template(
                "observation_invalid_arguments", language, tool=tool.name, problems=failure.problems
            )
            return result(out, message, "invalid_arguments")
        if isinstance(failure, TimeoutError):
            # The tool's own I/O gave up (an MCP request past its read timeout, which
            # ends when the wait above does): a timeout, whichever of the two came first.
            out = render_template("observation_timeout", language, tool=tool.name, timeout_s=tool.timeout_s)
            return result(out, f"tool '{tool.name}' timed out: {message}", "timeout")
        out = render_template("observation_tool_error", language, tool=tool.name, error=message)
        return result(out, f"{type(failure).__name__}: {message}", "tool_error")
    value = box.get("value")
    return result(cap_output(format_output(value), tool.max_output_chars, language), None, None, value)


def cap_output(text: str, limit: int | None, language: str = "en") -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was dropped."""
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + "\n" + render_template("observation_truncated", language, shown=limit, total=len(text))


def execute_calls(
    toolset: ToolSet,
    calls: list[ToolCall],
    ctx: ToolContext | None = None,
    *,
    language: str = "en",
    max_workers: int = 8,
) -> list[ToolResult]:
    """Run several calls concurrently; results come back in call order.

    Calls to tools that take the ``ToolContext`` run one after another, in call order,
    in a single worker: they may read-modify-write ``ctx.state`` (two ``add_to_cart``
    calls must not lose an item). All other calls run in parallel with them.
    """
    if not calls:
        return []
    if len(calls) == 1:
        return [execute_call(toolset, calls[0], ctx, language=language)]
    stateful: list[int] = []
    free: list[int] = []
    for i, call in enumerate(calls):
        tool = toolset.get(call.name)
        (stateful if tool is not None and tool.context_param else free).append(i)

    def run_in_order(indices: list[int]) -> list[ToolResult]:
        return [execute_call(toolset, calls[i], ctx, language=language) for i in indices]

    results: list[ToolResult | None] = [None] * len(calls)
    with ThreadPoolExecutor(max_workers=min(max_workers, len(free) + 1)) as pool:
        serial = pool.submit(run_in_order, stateful) if stateful else None
        parallel = {i: pool.submit(execute_call, toolset, calls[i], ctx, language=language) for i in free}
        for i, fut in parallel.items():
            results[i] = fut.result()
        if serial is not None:
            for i, r in zip(stateful, serial.result(), strict=True):
                results[i] = r
    return [r for r in results if r is not None]
