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
from dataclasses import replace

from kapibara.errors import ConfigError
from kapibara.models.base import (
    ChatModel,
    ChatRequest,
    Completion,
    Message,
    StreamEvent,
    TextDelta,
    ToolSpec,
    Usage,
)
from kapibara.models.toolcalls import parse_tool_calls

Responder = Callable[[list[Message], list[ToolSpec] | None], "str | Completion"]

FakeCall = ChatRequest
"""What ``FakeModel.calls`` records: each request as the model received it."""


class FakeModel(ChatModel):
    """A model whose answers are scripted: a queue of responses or a function.

    A request's ``stop`` sequences and ``watch`` apply to scripted text the way a real
    backend applies them while decoding (text is "generated" 4 characters at a time).
    """

    supports_tools = True
    supports_grammar = True
    supports_json_schema = True
    can_stream = True
    thread_safe = True
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
        self.calls: list[ChatRequest] = []

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

    def complete(self, request: ChatRequest) -> Iterator[StreamEvent]:
        self.calls.append(replace(request, messages=list(request.messages)))
        t0 = time.perf_counter()
        out = self._next(request.messages, request.tools)
        completion = out if isinstance(out, Completion) else _completion(out, request, self.name)
        completion.usage.total_s = completion.usage.total_s or (time.perf_counter() - t0)
        return _stream(completion)


def _watched(text: str, request: ChatRequest) -> tuple[str, str]:
    """Scripted text as a decoder would end it: at a stop sequence, at ``max_tokens``
    (3 characters a token) or where ``watch`` stops it. Returns (text, finish_reason)."""
    for s in request.stop or []:
        if s and s in text:
            text = text[: text.index(s)]
    finish = "stop"
    if request.max_tokens is not None and len(text) > 3 * request.max_tokens:
        text, finish = text[: 3 * request.max_tokens], "length"
    if request.watch is not None:
        for end in range(4, len(text) + 4, 4):
            reason = request.watch(text[:end])
            if reason:
                return text[:end], reason
    return text, finish


def _completion(text: str, request: ChatRequest, name: str) -> Completion:
    text, finish = _watched(text, request)
    parsed = parse_tool_calls(text)
    if parsed.calls:
        finish = "tool_calls"
    return Completion(
        text=text,
        content=parsed.content if parsed.calls or parsed.error else text,
        tool_calls=parsed.calls,
        finish_reason=finish,
        parse_error=parsed.error,
        usage=Usage(prompt_tokens=0, completion_tokens=max(1, len(text) // 3)),
        model=name,
    )


def _stream(completion: Completion) -> Iterator[StreamEvent]:
    text = completion.text
    for i in range(0, len(text), 4):
        yield TextDelta(text[i : i + 4])
    yield completion
