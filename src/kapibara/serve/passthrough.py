"""Model pass-through: one decision for a client's ``messages`` and ``tools``.

The client runs its own tools; the server makes one decision with kapibara's repair
ladder (``agent.decide``: lenient parsing, fuzzy names, re-ask, constrained
regeneration) so a small model's malformed call reaches the client as a valid OpenAI
``tool_call``. ``tool_choice``: ``none`` offers no tools; ``required`` and a named
function decode the call under the tools' JSON schema first (a ``call`` route), falling
back to the model's own decision when the backend cannot constrain. ``response_format``
constrains the answer (``json_object``, ``json_schema``).

``passthrough`` is a generator: it yields ``Piece`` events (text that is safe to stream
as content now) and returns the ``Reply``.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from kapibara.agent.budget import Budgets
from kapibara.agent.decide import Decider, Decision, decide, generate, sum_usage
from kapibara.agent.events import AgentEvent
from kapibara.agent.protocols import get_protocol
from kapibara.agent.router import Route
from kapibara.agent.trace import Trace
from kapibara.errors import KapibaraError
from kapibara.evals.runner import build_toolset
from kapibara.models.base import ChatRequest, Completion, Message, Model, ToolCall, Usage
from kapibara.prompts.loader import detect_language
from kapibara.serve.errors import bad_request
from kapibara.serve.schema import ChatCompletionRequest
from kapibara.tools import ToolSet

# What opens a tool call in a small model's text (``models/toolcalls.py`` reads these):
# Qwen's tag, bare or listed JSON, a fence. Content is streamed only until one appears.
CALL_OPENERS = ("<", "{", "[", "`")


@dataclass
class Piece:
    """Answer text that can be streamed to the client now."""

    text: str


@dataclass
class Reply:
    """What one pass-through request produced."""

    content: str
    calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    repairs: list[str] = field(default_factory=list)
    error: str | None = None

    def extension(self) -> dict[str, Any]:
        """The ``kapibara`` field of the response: which rungs of the ladder fired."""
        return {"repairs": self.repairs, "error": self.error}


Gen = Generator[Piece, None, Reply]


def offered_tools(request: ChatCompletionRequest) -> ToolSet | None:
    """The client's tools as a ToolSet (None when none are offered); a 400 when a tool's
    schema is unusable. Called before the request waits for the model."""
    if not request.tools or request.choice() == "none":
        return None
    try:
        return build_toolset(request.tool_specs())
    except KapibaraError as exc:
        raise bad_request(exc.message, "tools", "invalid_tool") from exc


def passthrough(model: Model, request: ChatCompletionRequest, tools: ToolSet | None, max_tokens: int) -> Gen:
    """One decision (``tools`` offered) or one generation (None: no tools, or ``tool_choice: none``)."""
    messages = request.chat_messages()
    choice = request.choice()
    constraint = request.constraint()
    if tools is None:
        completion = yield from _plain(model, request, messages, max_tokens)
        return Reply(completion.content or completion.text, usage=completion.usage,
                     finish_reason="length" if completion.finish_reason == "length" else "stop")
    route: Route | None = None
    if choice == "required":
        route = Route("call", tools.names, 1.0, source="tool_choice")
    elif choice != "auto":  # a named function: the only tool offered
        tools = tools.filter([choice])
        route = Route("call", [choice], 1.0, source="tool_choice")
    question = next((str(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
    decider = Decider(model=model, tools=tools, protocol=get_protocol("native"), language=detect_language(question),
                      sampling=request.sampling(),
                      budgets=Budgets(decision_tokens=max_tokens, rung_tokens=min(Budgets.rung_tokens, max_tokens),
                                      answer_tokens=max_tokens))
    # Content streams while the text cannot be a call; a forced call or an answer that
    # will be regenerated under response_format streams nothing until it is decided.
    streaming = route is None and constraint is None
    said = ""
    steps = decide(decider, messages, 1, Trace(run_id=uuid.uuid4().hex), route)
    while True:
        try:
            event: AgentEvent = next(steps)
        except StopIteration as stop:
            decision: Decision = stop.value
            break
        if event.kind != "token" or not streaming:
            continue
        if any(opener in event.data for opener in CALL_OPENERS):
            streaming = False
            continue
        said += event.data
        yield Piece(event.data)
    calls = [ToolCall(c.name, c.arguments, f"call_{uuid.uuid4().hex[:24]}") for c in decision.calls]
    if calls:
        return Reply(decision.text, calls, decision.usage, "tool_calls", decision.repairs, decision.error)
    if constraint is not None:  # the model answers: in the format the client asked for
        completion = yield from _plain(model, request, messages, max_tokens)
        return Reply(completion.text, [], sum_usage([decision.usage, completion.usage]), "stop", decision.repairs)
    return Reply(decision.text or decision.raw, [], decision.usage, "stop", decision.repairs, decision.error)


def _plain(model: Model, request: ChatCompletionRequest, messages: list[Message], max_tokens: int) -> Generator[
        Piece, None, Completion]:
    """One generation, no tools offered, every token streamed."""
    chat = ChatRequest(messages=messages, constraint=request.constraint(), sampling=request.sampling(),
                       stop=request.stops(), max_tokens=max_tokens)
    steps = generate(model, chat, 1)
    while True:
        try:
            event = next(steps)
        except StopIteration as stop:
            completion: Completion = stop.value
            return completion
        yield Piece(event.data)
