"""Agent mode: ``model: "agent:NAME"`` runs kapibara's agent loop server-side.

An agent is a registered tool set (``kapibara.toolsets``: its tools, prompt and default
agent options) on the served model; ``AgentSpec("grocery", "demo")`` is the default,
and a domain that registers its tool set is served with ``--agent NAME=TOOLSET``.

The conversation lives in the session store, never in the server: each request loads
the session's history and tool state (``Agent.stream(session_id=...)``) and appends its
turn, so any server process on the same store can continue it. The session is named by
the ``X-Kapibara-Session`` header or the request's ``user`` field; without either, the
client's own messages are the history and a new session id comes back in the response.

A call the agent's side-effect policy holds for approval ends the turn: the response's
``kapibara.pending_action`` holds its ``id`` and calls. The client answers in the same
session with a last message ``{"role": "tool", "tool_call_id": ID, "content": "approve"}``
(or ``"reject"``): the call runs (or is declined) and the turn finishes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from kapibara.agent import Agent, AgentEvent, RunResult
from kapibara.agent.policy import SideEffectPolicy
from kapibara.errors import ConfigError
from kapibara.memory import SessionStore
from kapibara.models.base import Message, Model, Usage
from kapibara.serve.errors import bad_request
from kapibara.tools import ToolSet
from kapibara.toolsets import toolset_entry

PREFIX = "agent:"
ACTION_PREFIX = "act_"
"""Pending action ids start with this (``kapibara.agent.policy.PendingAction``)."""
SESSION_HEADER = "X-Kapibara-Session"


@dataclass(frozen=True)
class AgentSpec:
    """A served agent: its name (``agent:NAME``) and the registered tool set it runs.

    ``max_steps`` is 1 like ``kapibara run``: on the bundled 0.5B a second decision after
    the observations mostly calls more tools instead of answering (measured there).
    """

    name: str
    toolset: str
    max_steps: int = 1
    side_effects: tuple[str, ...] = ()
    """The owner's side-effect policy (``kapibara serve --side-effects``) over the tool set's."""

    @classmethod
    def parse(cls, text: str) -> AgentSpec:
        """``NAME=TOOLSET`` (or just ``TOOLSET``, served under its own name)."""
        name, sep, toolset = text.partition("=")
        name, toolset = name.strip(), (toolset if sep else name).strip()
        if not name or not toolset:
            raise ConfigError(f"bad agent {text!r}", hint="use NAME=TOOLSET, e.g. grocery=demo")
        return cls(name, toolset)


DEFAULT_AGENTS = (AgentSpec("grocery", "demo"),)


def with_policy(specs: tuple[AgentSpec, ...], side_effects: list[str] | tuple[str, ...] | None) -> tuple[AgentSpec, ...]:
    """``specs`` under the owner's side-effect policy (checked now: a bad mode fails at startup)."""
    if not side_effects:
        return specs
    SideEffectPolicy.parse(list(side_effects))
    return tuple(replace(s, side_effects=tuple(side_effects)) for s in specs)


class AgentTable:
    """The agents a server offers, built on its model and session store."""

    def __init__(self, specs: tuple[AgentSpec, ...], model: Model, store: SessionStore) -> None:
        self.specs = {f"{PREFIX}{s.name}": s for s in specs}
        self.model = model
        self.store = store
        # Built once, at startup: an unknown or tool-less tool set fails there, not per
        # request, and a domain's slow parts (the demo's example bank) load before serving.
        self._parts = {name: _parts(spec) for name, spec in self.specs.items()}

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.specs

    def warm(self) -> None:
        """Prefill and save each agent's fixed prompt prefix per language, as ``kapibara run``
        does: a cold prefill of the demo's ~2.6k-token prompt took over the 90 s turn
        budget on a busy 2-core machine, so the first request answered with a timeout."""
        for name in self.specs:
            agent = self.build(name)
            for language in list(agent.prompts) or ["zh"]:
                agent.cache_prefix(language)

    def build(self, name: str, max_tokens: int | None = None) -> Agent:
        """A fresh ``Agent`` for one request (agents hold configuration only; cheap)."""
        tools, options = self._parts[name]
        spec = self.specs[name]
        options = dict(options)
        policy = SideEffectPolicy.parse(options.pop("side_effects", None))
        policy = SideEffectPolicy.parse(list(spec.side_effects) or None, base=policy)
        return Agent(self.model, tools, store=self.store, max_steps=spec.max_steps,
                     max_tokens=max_tokens, side_effects=policy, **options)


def _parts(spec: AgentSpec) -> tuple[ToolSet, dict[str, Any]]:
    """The tools and default ``Agent`` options of an agent's registered tool set."""
    entry = toolset_entry(spec.toolset)
    if entry.toolset is None:
        raise ConfigError(f"tool set {spec.toolset!r} has no callable tools to serve as agent {spec.name!r}",
                          hint="register it with toolset_factory=...")
    if entry.agent_options is not None:
        options = dict(entry.agent_options())
    else:
        options = {"prompt": entry.prompt()} if entry.prompt is not None else {}
    return entry.toolset(), options


@dataclass
class Turn:
    """What one agent request asks: the question, and where its history comes from."""

    question: str
    session_id: str | None
    history: list[Message] | None
    approval: tuple[str, bool] | None = None
    """(pending action id, approved) when the request answers a pending action."""


def turn_of(messages: list[Message], session_id: str | None) -> Turn:
    """The question is the last user message. With a session, the stored history is used;
    without one, the client's earlier user/assistant/tool messages are. A last ``tool``
    message answering a pending action (``content`` "approve" or "reject") approves it."""
    last = messages[-1]
    if last["role"] == "tool" and str(last.get("tool_call_id") or "").startswith(ACTION_PREFIX):
        verdict = str(last.get("content") or "").strip().lower()
        if verdict not in ("approve", "reject"):
            raise bad_request('the answer to a pending action must be "approve" or "reject"', "messages")
        if not session_id:
            raise bad_request(f"approving a pending action needs its session ({SESSION_HEADER} or user)", "messages")
        return Turn("", session_id, None, (str(last["tool_call_id"]), verdict == "approve"))
    if messages[-1]["role"] != "user" or not str(messages[-1]["content"]).strip():
        raise bad_request("agent mode answers the last message, which must be a non-empty user message",
                          "messages")
    question = str(messages[-1]["content"])
    if session_id:
        return Turn(question, session_id, None)
    history = [m for m in messages[:-1] if m["role"] != "system"]
    return Turn(question, None, history)


def run_turn(agent: Agent, turn: Turn) -> Iterator[AgentEvent]:
    if turn.approval is not None and turn.session_id:
        return agent.resume(turn.session_id, *turn.approval)
    return agent.stream(turn.question, session_id=turn.session_id, history=turn.history)


def step_of(event: AgentEvent) -> dict[str, Any] | None:
    """A tool call, observation or model-fixable error as a JSON step (None for others)."""
    if event.kind == "tool_call":
        call = event.data
        return {"type": "tool_call", "step": event.step, "id": call.id, "name": call.name,
                "arguments": call.arguments}
    if event.kind == "observation":
        result = event.data
        return {"type": "observation", "step": event.step, "tool_call_id": result.call.id,
                "name": result.call.name, "output": str(result.output), "error": result.error}
    if event.kind == "error":
        return {"type": "error", "step": event.step, "message": str(event.data)}
    if event.kind == "pending":
        return {"type": "pending_action", "step": event.step, **event.data.public()}
    return None


def run_usage(result: RunResult) -> Usage:
    """Tokens of every model call of the run, from its trace."""
    total = Usage()
    for record in result.trace:
        usage = record.get("usage") if record.get("type") == "model_call" else None
        if isinstance(usage, dict):
            total.prompt_tokens += int(usage.get("prompt_tokens", 0))
            total.completion_tokens += int(usage.get("completion_tokens", 0))
            total.total_s += float(usage.get("total_s", 0.0))
    return total


def extension(result: RunResult, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``kapibara`` field of an agent response."""
    repairs = sorted({r for rec in result.trace if rec.get("type") == "decision" for r in rec.get("repairs", [])})
    pending = result.pending.public() if result.pending is not None else None
    return {"session": result.session_id, "steps": steps, "stop_reason": result.stop_reason, "repairs": repairs,
            "pending_action": pending}
