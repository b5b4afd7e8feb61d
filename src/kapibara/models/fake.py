"""A scripted model shipped in the package, for users' tests and ours.

    model = FakeModel(["Hello!", '<tool_call>{"name": "view_cart", "arguments": {}}</tool_call>'])
    model = FakeModel(lambda messages, tools: "always this")

Each response is raw text (tool calls in it are parsed like a real model's output) or a
ready ``Completion``. Every call is recorded in ``model.calls`` for assertions.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kapibara.errors import ConfigError
from kapibara.models.base import (
    Completion,
    Constraint,
    Message,
    Sampling,
    StreamEvent,
    TextDelta,
    ToolSpec,
    Usage,
)

Responder = Callable[[list[Message], list[ToolSpec] | None], "str | Completion"]


@dataclass
class FakeCall:
    messages: list[Message]
    tools: list[ToolSpec] | None
    constraint: Constraint | None
    stop: list[str] | None
    max_tokens: int | None


class FakeModel:
    """A model whose answers are scripted: a queue of responses or a function."""

    supports_tools = True
    supports_grammar = True
    supports_json_schema = True
    can_stream = True
    context_window = 32768

    def __init__(
        self,
        responses: Iterable[str | Completion] | Responder | None = None,
        *,
        name: str = "fake",
        default: str | None = None,
    ) -> None:
        self.name = name
        self._fn: Responder | None = None
        self._queue: deque[str | Completion] = deque()
        if callable(responses):
            self._fn = responses
        elif responses is not None:
            self._queue.extend(responses)
        self.default = default
        self.calls: list[FakeCall] = []

    def enqueue(self, *responses: str | Completion) -> None:
        self._queue.extend(responses)

    def _next(self, messages: list[Message], tools: list[ToolSpec] | None) -> str | Completion:
        if self._fn is not None:
            return self._fn(messages, tools)
        if self._queue:
            return self._queue.popleft()
        if self.default is not None:
            return self.default
        raise ConfigError(
            "FakeModel ran out of scripted responses",
            hint="enqueue more responses or pass default=...",
        )

    def chat(
        self,
        messages: list[Message],
        *,
        tools: list[ToolSpec] | None = None,
        constraint: Constraint | None = None,
        sampling: Sampling | None = None,
        stop: list[str] | None = None,
        max_tokens: int | None = None,
        stream: bool = False,
    ) -> Any:
        self.calls.append(FakeCall(list(messages), tools, constraint, stop, max_tokens))
        t0 = time.perf_counter()
        out = self._next(messages, tools)
        completion = out if isinstance(out, Completion) else _completion(out, stop, self.name)
        completion.usage.total_s = completion.usage.total_s or (time.perf_counter() - t0)
        if not stream:
            return completion
        return _stream(completion)


def _completion(text: str, stop: list[str] | None, name: str) -> Completion:
    from kapibara.agent.parsing import parse_tool_calls

    finish = "stop"
    for s in stop or []:
        if s and s in text:
            text = text[: text.index(s)]
    parsed = parse_tool_calls(text)
    if parsed.calls:
        finish = "tool_calls"
    prompt_tokens = 0
    return Completion(
        text=text,
        content=parsed.content if parsed.calls or parsed.error else text,
        tool_calls=parsed.calls,
        finish_reason=finish,
        parse_error=parsed.error,
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=max(1, len(text) // 3)),
        model=name,
    )


def _stream(completion: Completion) -> Iterator[StreamEvent]:
    text = completion.text
    for i in range(0, len(text), 4):
        yield TextDelta(text[i : i + 4])
    yield completion
