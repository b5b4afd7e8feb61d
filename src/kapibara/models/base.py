"""The one model contract every backend implements.

A backend implements ``complete(ChatRequest)`` (subclassing ``ChatModel`` gives it the
``chat(messages, **options)`` convenience); what it can do is declared in class flags,
and optional abilities (``CountsTokens``, ``CachesPrefix``) are protocols the agent checks. Messages are
OpenAI-style chat dicts (``{"role": ..., "content": ...}``, assistant messages may carry
``tool_calls``, tool results are ``{"role": "tool", "tool_call_id", "name", "content"}``),
so they pass unchanged to llama.cpp, vLLM or any OpenAI-compatible server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, overload, runtime_checkable

Message = dict[str, Any]
"""An OpenAI-style chat message."""

ToolSpec = dict[str, Any]
"""An OpenAI-style tool: ``{"type": "function", "function": {"name", "description", "parameters"}}``."""


@dataclass
class ToolCall:
    """One function call the model asked for. ``arguments`` is already decoded."""

    name: str
    arguments: dict[str, Any]
    id: str = ""

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id or f"call_{abs(hash((self.name, json.dumps(self.arguments, sort_keys=True, ensure_ascii=False)))) % 10**10}",
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)},
        }


def message_calls(message: Message) -> list[ToolCall]:
    """The calls an OpenAI-style assistant message makes (``tool_calls``), arguments decoded
    (a JSON string or an object; anything else is ``{}``) and ids kept. Arguments that are
    not JSON raise ``ValueError`` (``json.JSONDecodeError``)."""
    out: list[ToolCall] = []
    for c in message.get("tool_calls") or []:
        fn = c.get("function") or {}
        raw = fn.get("arguments")
        args = json.loads(raw) if isinstance(raw, str) else raw
        out.append(ToolCall(str(fn.get("name", "")), dict(args) if isinstance(args, dict) else {}, str(c.get("id", ""))))
    return out


@dataclass
class Constraint:
    """Constrained decoding: at most one of a JSON schema or a GBNF grammar.

    ``prefix`` is text every output the constraint admits starts with (a routed call's
    ``{"name": "...", "arguments":``). A backend may write it into the prompt instead of
    decoding it token by token, and then constrain only what follows; the completion's
    text starts with it either way. A backend that cannot, or a prefix the constraint
    does not admit, decodes the whole output as usual.
    """

    json_schema: dict[str, Any] | None = None
    grammar: str | None = None
    prefix: str = ""


@dataclass
class Sampling:
    """Sampling parameters. Agents default to greedy decoding for reproducibility."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 40
    repeat_penalty: float = 1.0
    seed: int | None = 0


@dataclass
class Usage:
    """Token counts and timings of one call. Times in seconds, rates in tokens/s."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    forced_tokens: int = 0
    """Of ``completion_tokens``, those written for the model without a decoding step each
    (jump-forward: ``kapibara.models.jump``)."""
    drafted_tokens: int = 0
    """Tokens drafted from the context to verify in a batch (prompt lookup:
    ``kapibara.models.lookup``)."""
    accepted_tokens: int = 0
    """Of ``drafted_tokens``, those the greedy picks matched: each one output without a
    decoding step of its own (counted in ``completion_tokens``)."""
    ttft_s: float = 0.0
    total_s: float = 0.0
    prefill_tps: float = 0.0
    decode_tps: float = 0.0


CALL_OPENERS = ("{", "[{", "```", "<tool_call>")
"""How a call's text starts in the formats the agent reads (``agent/parsing.py``)."""


def opens_call(piece: str) -> bool:
    """Whether a token's text opens a call: after leading whitespace it starts with one of
    ``CALL_OPENERS``, or it is the start of a tag (``<`` of ``<tool_call>``)."""
    s = piece.lstrip()
    return bool(s) and (s.startswith(CALL_OPENERS) or (s[0] == "<" and "<tool_call>".startswith(s)))


@dataclass
class Completion:
    """What one model call produced.

    ``text`` is the raw text (with any tool-call markup still in it, for traces and
    repair); ``content`` is the text with tool-call markup removed; ``tool_calls`` are
    the parsed calls (empty when none or when parsing failed, see ``parse_error``).
    """

    text: str
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    parse_error: str | None = None
    model: str = ""
    call_probability: float | None = None
    """The probability the model gave, for its first output token, to a token that opens
    a call (a JSON object, a code fence, a tool-call tag): how sure it was that it should
    call rather than answer. Set when the request asked for it
    (``ChatRequest.call_probability``), for an unconstrained output with tools offered:
    llama.cpp reads the logits; the OpenAI backend sums the server's ``top_logprobs``.
    None otherwise, or when the server sent no logprobs."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_message(self) -> Message:
        """The assistant message to append to the conversation."""
        msg: Message = {"role": "assistant", "content": self.content or ""}
        if self.tool_calls:
            msg["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        return msg


@dataclass
class TextDelta:
    """A piece of streamed text."""

    text: str


StreamEvent = TextDelta | Completion
"""A stream yields ``TextDelta`` events, then exactly one final ``Completion``."""


Watch = Callable[[str], "str | None"]
"""Called with the text generated so far after each token; a returned reason (e.g.
``"repetition"``) stops the generation there and becomes the ``finish_reason``."""


@dataclass
class ChatRequest:
    """Everything one model call needs, built once by the agent's protocols and taken
    as is by every backend.

    ``stream`` asks an HTTP backend for server-sent events (in-process backends always
    produce tokens one by one). ``watch`` lets the caller stop a generation early (a
    runaway answer, a repeated loop, a spent time budget); backends that cannot watch
    a generation as it is produced ignore it.
    """

    messages: list[Message]
    tools: list[ToolSpec] | None = None
    constraint: Constraint | None = None
    sampling: Sampling = field(default_factory=Sampling)
    stop: list[str] | None = None
    max_tokens: int | None = None
    stream: bool = False
    watch: Watch | None = None
    tool_format: str | None = None
    """How a backend that renders the prompt itself shows ``tools`` to the model:
    ``signature`` (``kapibara.models.tool_text``) or ``json``/None, the chat template's own
    form. HTTP backends send ``tools`` as they are and ignore it."""
    call_probability: bool = False
    """Ask for ``Completion.call_probability`` (a backend that sees the logits sets it; the
    first time costs llama.cpp ~2 s to classify its vocabulary, so only asked when used)."""


@runtime_checkable
class Model(Protocol):
    """A chat model. One required method, ``complete``; capabilities are flags.

    ``thread_safe`` says whether one instance may serve several requests at once (an
    HTTP client may; one llama.cpp context may not).
    """

    name: str
    supports_tools: bool
    supports_grammar: bool
    supports_json_schema: bool
    can_stream: bool
    thread_safe: bool
    context_window: int

    def complete(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """Run one request: yield ``TextDelta`` events, then exactly one ``Completion``."""
        ...

    @property
    def chat(self) -> Callable[..., Any]:
        """``complete`` for a message list and keyword options; ``ChatModel`` provides it."""
        ...


@runtime_checkable
class CountsTokens(Protocol):
    """A model that can count its own tokens (for exact context budgeting)."""

    def tokenize(self, text: str) -> list[int]: ...


@runtime_checkable
class CachesPrefix(Protocol):
    """A model that can save the prefilled state of a fixed prompt prefix for later
    processes (the system prompt and tools), so they skip that prefill."""

    def ensure_prefix(self, prefix: list[Message], tools: list[ToolSpec] | None = None,
                      tool_format: str | None = None) -> Any: ...


class ChatModel:
    """The convenience every backend shares: ``chat(messages, **options)`` builds the
    ``ChatRequest`` and runs ``complete``. A backend subclasses this and writes
    ``complete`` only."""

    @overload
    def chat(
        self,
        messages: list[Message],
        *,
        tools: list[ToolSpec] | None = None,
        constraint: Constraint | None = None,
        sampling: Sampling | None = None,
        stop: list[str] | None = None,
        max_tokens: int | None = None,
        stream: Literal[False] = False,
        watch: Watch | None = None,
    ) -> Completion: ...

    @overload
    def chat(
        self,
        messages: list[Message],
        *,
        tools: list[ToolSpec] | None = None,
        constraint: Constraint | None = None,
        sampling: Sampling | None = None,
        stop: list[str] | None = None,
        max_tokens: int | None = None,
        stream: Literal[True],
        watch: Watch | None = None,
    ) -> Iterator[StreamEvent]: ...

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
        watch: Watch | None = None,
    ) -> Completion | Iterator[StreamEvent]:
        """One chat completion. With ``stream=True`` yield deltas then the Completion."""
        request = ChatRequest(
            messages=messages, tools=tools, constraint=constraint, sampling=sampling or Sampling(),
            stop=stop, max_tokens=max_tokens, stream=stream, watch=watch,
        )
        events = self.complete(request)
        return events if stream else final_completion(events)

    def complete(self, request: ChatRequest) -> Iterator[StreamEvent]:
        raise NotImplementedError


def final_completion(events: Iterator[StreamEvent]) -> Completion:
    """Drain a stream and return its final Completion."""
    last: Completion | None = None
    for ev in events:
        if isinstance(ev, Completion):
            last = ev
    if last is None:
        raise RuntimeError("model stream ended without a final Completion")
    return last
