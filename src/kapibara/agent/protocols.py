"""How tool calls and observations travel between the agent and the model.

Two protocols, chosen per agent:

``native``  the model's own tool calling: Qwen's ``<tool_call>`` JSON through the chat
            template (``Completion.tool_calls``) or the OpenAI ``tools`` field. Results go
            back as ``role: tool`` messages.
``react``   plain text in exactly the MSAgent-Bench / ModelScope format::

                Thought: ...
                Action: tool_name
                Action Input: {"arg": "value"}
                Observation: ...            (written by the agent, never the model)
                Final Answer: ...

            The tools are described in the system message (template ``agent_react``), the
            model is stopped at ``Observation:``, and results go back as text.

A protocol turns the conversation into a request (``prepare``), a completion into an
``Action`` (``parse``) and results into messages (``observations``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from kapibara.agent.parsing import parse_react, parse_tool_calls
from kapibara.models.base import Completion, Message, ToolCall, ToolSpec
from kapibara.prompts import render_react_format, render_template

OBSERVATION = "Observation:"


@dataclass
class Action:
    """What one model output means: calls to run, or an answer (``text``)."""

    calls: list[ToolCall] = field(default_factory=list)
    text: str = ""
    thought: str = ""
    error: str | None = None
    lenient: bool = False


@dataclass
class Request:
    """The keyword arguments of one ``model.chat`` call, besides the messages."""

    messages: list[Message]
    tools: list[ToolSpec] | None = None
    stop: list[str] | None = None


class AgentProtocol(Protocol):
    """A wire format between agent and model. ``parse`` is the method that matters."""

    name: str

    def prepare(self, messages: list[Message], tools: Any, language: str) -> Request: ...

    def parse(self, completion: Completion) -> Action: ...

    def assistant_message(self, completion: Completion, action: Action) -> Message: ...

    def observations(self, results: list[Any], language: str = "zh") -> list[Message]: ...

    def example_turns(self, question: str, calls: list[ToolCall], answer: str) -> list[Message]: ...


EXAMPLE = "example"
"""The ``name`` of retrieved few-shot example turns: not the user's words, so never
evidence for an answer or an argument (``decide.evidence``)."""


def result_text(result: Any) -> str:
    """The text the model reads for one ToolResult (its error when it failed)."""
    if getattr(result, "error", None) and not getattr(result, "output", ""):
        return f"Error: {result.error}"
    return str(result.output)


class NativeProtocol:
    """Tool calls through the model's chat template or the OpenAI ``tools`` field."""

    name = "native"

    def prepare(self, messages: list[Message], tools: Any, language: str) -> Request:
        """Send the tool specs in the request; the backend's template renders them."""
        return Request(messages=list(messages), tools=tools.specs() or None)

    def parse(self, completion: Completion) -> Action:
        """Take the backend's parsed calls; re-parse the raw text to know if it was lenient."""
        strict = parse_tool_calls(completion.text)
        if completion.tool_calls:
            lenient = strict.lenient or not strict.calls
            return Action(calls=list(completion.tool_calls), text=completion.content, lenient=lenient)
        if strict.calls:  # the backend missed a call our lenient parser finds
            return Action(calls=strict.calls, text=strict.content, lenient=True)
        error = completion.parse_error or strict.error
        text = completion.content or completion.text
        return Action(text=strict.content if error else text, error=error)

    def assistant_message(self, completion: Completion, action: Action) -> Message:
        msg: Message = {"role": "assistant", "content": action.text if action.calls else completion.text}
        if action.calls:
            msg["tool_calls"] = [c.to_openai() for c in action.calls]
        return msg

    def example_turns(self, question: str, calls: list[ToolCall], answer: str) -> list[Message]:
        """A user turn and the assistant's calls (or answer), as the model writes them."""
        reply: Message = {"role": "assistant", "content": answer if not calls else "", "name": EXAMPLE}
        if calls:
            reply["tool_calls"] = [c.to_openai() for c in calls]
        return [{"role": "user", "content": question, "name": EXAMPLE}, reply]

    def observations(self, results: list[Any], language: str = "zh") -> list[Message]:
        return [
            {
                "role": "tool",
                "tool_call_id": r.call.id,
                "name": r.call.name,
                "content": result_text(r),
            }
            for r in results
        ]


class ReactProtocol:
    """ReAct text: Thought / Action / Action Input / Observation / Final Answer."""

    name = "react"

    def prepare(self, messages: list[Message], tools: Any, language: str) -> Request:
        """Describe the tools and the format in the system message; stop at Observation."""
        instructions = render_react_format(tools.specs(), language)
        out = list(messages)
        if out and out[0].get("role") == "system":
            if instructions in str(out[0].get("content") or ""):  # a Prompt rendered it already
                return Request(messages=out, tools=None, stop=[OBSERVATION])
            out[0] = {**out[0], "content": f"{out[0].get('content') or ''}\n\n{instructions}".strip()}
        else:
            out.insert(0, {"role": "system", "content": instructions})
        return Request(messages=out, tools=None, stop=[OBSERVATION])

    def parse(self, completion: Completion) -> Action:
        p = parse_react(completion.text)
        return Action(
            calls=p.calls,
            text=p.answer if p.answer is not None else "",
            thought=p.thought,
            error=p.error,
            lenient=p.lenient,
        )

    def assistant_message(self, completion: Completion, action: Action) -> Message:
        """The step as the model should have written it: repaired calls in the strict form.

        The raw text stays in the trace; the conversation gets the canonical form so the
        model (and fine-tuning data built from sessions) sees a well-formed transcript.
        """
        if not action.calls:
            text = completion.text
            cut = text.find(OBSERVATION)
            return {"role": "assistant", "content": (text[:cut] if cut >= 0 else text).rstrip()}
        lines = [f"Thought: {action.thought}"] if action.thought else []
        for call in action.calls:
            lines.append(f"Action: {call.name}")
            lines.append(f"Action Input: {json.dumps(call.arguments, ensure_ascii=False)}")
        return {"role": "assistant", "content": "\n".join(lines)}

    def example_turns(self, question: str, calls: list[ToolCall], answer: str) -> list[Message]:
        """A user turn and the assistant's ReAct step (or final answer) for it."""
        if calls:
            step = self.assistant_message(Completion(text=""), Action(calls=calls))["content"]
        else:
            step = f"Final Answer: {answer}"
        return [{"role": "user", "content": question, "name": EXAMPLE},
                {"role": "assistant", "content": step, "name": EXAMPLE}]

    def observations(self, results: list[Any], language: str = "zh") -> list[Message]:
        # One user message holding every observation of the step, in the order called.
        body = "\n".join(
            render_template("react_observation", language, observation=result_text(r))
            for r in results
        )
        return [{"role": "user", "content": body}]


def get_protocol(name: str) -> AgentProtocol:
    """The protocol called ``name`` ("native" or "react")."""
    from kapibara.errors import ConfigError

    if name == "native":
        return NativeProtocol()
    if name == "react":
        return ReactProtocol()
    raise ConfigError(f"unknown agent protocol {name!r}", hint="use 'native' or 'react'")
