"""The owner's side-effect policy: which tool calls run, wait for the user, or are refused.

A tool declares ``side_effect=True`` when a call changes something (a cart, a file, an
order). The agent's owner sets what happens to such calls: ``allow`` (run them),
``confirm`` (end the turn with a pending action the user approves or rejects) or
``deny`` (never run; the model is told the action is not permitted). The mode is per
agent and can be overridden per tool.

Under ``allow`` a side-effecting call must also be *grounded*: every string and number
it passes must appear in the user's own messages of the session, and it must be decided
before anything untrusted entered the turn (a tool result, a document, a recalled
memory). Otherwise it is treated as unrequested and waits for confirmation: a product a
tool result named, 99 where the user said two, or "add the grapes you asked about" in a
product description. This is the defence against prompt injection steering the agent
into actions (OWASP LLM01 / LLM06).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from kapibara.agent.protocols import OBSERVATION
from kapibara.agent.repair import numbers_in
from kapibara.errors import ConfigError
from kapibara.models.base import Message, ToolCall
from kapibara.tools import Tool, ToolSet

Mode = Literal["allow", "confirm", "deny"]
MODES: tuple[str, ...] = get_args(Mode)
Verdict = Literal["run", "confirm", "deny", "decline"]
"""``decline``: the user rejected the call (set on approval, never by the policy)."""

STATE_KEY = "kapibara.pending_action"
"""Where a pending action lives in the session's stored state (beside the tools' state)."""


@dataclass(frozen=True)
class SideEffectPolicy:
    """``default`` applies to every side-effecting tool; ``tools`` overrides it by name
    (and may also gate a tool that declares no side effect). ``grounded`` sends
    unrequested side-effecting calls to confirmation under ``allow``."""

    default: Mode = "allow"
    tools: Mapping[str, Mode] = field(default_factory=dict)
    grounded: bool = True

    def __post_init__(self) -> None:
        for where, mode in [("side_effects", self.default), *self.tools.items()]:
            if mode not in MODES:
                raise ConfigError(f"bad side-effect policy {mode!r} for {where}",
                                  hint="use allow, confirm or deny (e.g. --side-effects confirm or add_to_cart=deny)")

    @classmethod
    def parse(cls, value: str | Mapping[str, str] | Sequence[str] | SideEffectPolicy | None,
              base: SideEffectPolicy | None = None) -> SideEffectPolicy:
        """``"confirm"``, ``{"*": "allow", "add_to_cart": "confirm"}``, ``["confirm",
        "add_to_cart=deny"]`` (the CLI's repeated option) or a policy. ``base`` supplies what
        ``value`` leaves out (a domain's defaults)."""
        if isinstance(value, SideEffectPolicy):
            return value
        base = base or cls()
        if value is None:
            return base
        items: list[tuple[str, str]]
        if isinstance(value, str):
            items = [_pair(part) for part in value.split(",") if part.strip()]
        elif isinstance(value, Mapping):
            items = [(str(k), str(v)) for k, v in value.items()]
        else:
            items = [_pair(p) for part in value for p in str(part).split(",") if p.strip()]
        default, tools = base.default, dict(base.tools)
        for name, mode in items:
            if name in ("*", ""):
                default = mode  # type: ignore[assignment]
            else:
                tools[name] = mode  # type: ignore[assignment]
        return cls(default, tools, base.grounded)

    def mode(self, tool: Tool | None, name: str) -> Mode | None:
        """The mode for a call to ``name``; None when the policy does not gate it."""
        if name in self.tools:
            return self.tools[name]
        if tool is not None and tool.side_effect:
            return self.default
        return None

    def verdict(self, tool: Tool | None, call: ToolCall, user_text: str,
                tainted: bool = False) -> tuple[Verdict, str]:
        """What happens to ``call``, and why (``policy``, ``unrequested: ...``, ``after
        untrusted content``). ``tainted``: tool results or memories were in the context."""
        mode = self.mode(tool, call.name)
        if mode is None:
            return "run", ""
        if mode == "deny":
            return "deny", "policy"
        if mode == "confirm":
            return "confirm", "policy"
        if self.grounded and tool is not None:
            missing = ungrounded(call, tool, user_text)
            if missing:
                return "confirm", "unrequested: " + ", ".join(missing)
            if tainted:
                return "confirm", "after untrusted content"
        return "run", ""


def _pair(text: str) -> tuple[str, str]:
    name, sep, mode = text.strip().partition("=")
    return (name.strip(), mode.strip()) if sep else ("*", name.strip())


_SPACE = re.compile(r"[\s\-_·.,，。、'\"“”‘’()（）]+")


def _norm(text: str) -> str:
    return _SPACE.sub("", text).casefold()


def ungrounded(call: ToolCall, tool: Tool, user_text: str) -> list[str]:
    """The arguments of ``call`` the user never stated: a string not in their words, a
    number (other than the parameter's default) they never wrote."""
    said_text = _norm(user_text)
    said_numbers = numbers_in(user_text)
    props = tool.parameters.get("properties", {})
    out: list[str] = []
    for key, value in call.arguments.items():
        default = props.get(key, {}).get("default") if isinstance(props.get(key), dict) else None
        if value == default or value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if float(value) not in said_numbers:
                out.append(f"{key}={value}")
        elif isinstance(value, str):
            if _norm(value) and _norm(value) not in said_text:
                out.append(f"{key}={value}")
        else:
            out.append(f"{key}={value!r}")  # lists/objects: the user must confirm them
    return out


def user_words(history: list[Message], question: str) -> str:
    """The user's own messages of the session: what a side effect must be grounded in.

    Recalled memories, documents and tool results are not the user's words."""
    said = [str(m.get("content") or "") for m in history if m.get("role") == "user" and not m.get("name")
            and not str(m.get("content") or "").startswith(OBSERVATION)]  # ReAct observations are user messages
    return "\n".join([*said, question])


@dataclass
class PendingAction:
    """Calls that wait for the user's approval; stored with the session."""

    id: str
    calls: list[ToolCall]
    question: str
    step: int
    language: str
    message: Message
    reasons: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)

    @classmethod
    def new(cls, calls: list[ToolCall], verdicts: list[Verdict], reasons: list[str], question: str,
            step: int, language: str, message: Message) -> PendingAction:
        return cls("act_" + uuid.uuid4().hex[:12], calls, question, step, language, message, reasons, verdicts)

    def waiting(self) -> list[ToolCall]:
        """The calls the user is asked about (the step's others run or are denied as usual)."""
        return [c for c, v in zip(self.calls, self.verdicts, strict=True) if v == "confirm"]

    def public(self) -> dict[str, Any]:
        """What a client shows: the id and each waiting call's name, arguments and reason."""
        return {"id": self.id, "calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments, "reason": r}
            for c, v, r in zip(self.calls, self.verdicts, self.reasons, strict=True) if v == "confirm"]}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "step": self.step, "language": self.language,
                "message": self.message, "reasons": self.reasons, "verdicts": self.verdicts,
                "calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.calls]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingAction:
        calls = [ToolCall(name=c["name"], arguments=dict(c["arguments"]), id=c.get("id", "")) for c in data["calls"]]
        return cls(data["id"], calls, data["question"], int(data["step"]), data["language"], data["message"],
                   list(data.get("reasons", [])), list(data.get("verdicts", [])))


def verdicts_for(policy: SideEffectPolicy, tools: ToolSet, calls: list[ToolCall],
                 user_text: str, tainted: bool = False) -> tuple[list[Verdict], list[str]]:
    """The verdict and reason of each call of a step."""
    pairs = [policy.verdict(tools.get(c.name), c, user_text, tainted) for c in calls]
    return [v for v, _ in pairs], [r for _, r in pairs]
