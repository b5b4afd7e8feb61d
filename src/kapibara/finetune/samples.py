"""The training sample: one conversation whose last message is the turn to learn.

One sample per JSONL line::

    {"id": "tpl-3f2a...", "category": "product_info", "source": "template:product_info",
     "messages": [{"role": "user", "content": "小米11 Ultra的电池多大？"},
                  {"role": "assistant", "content": "", "tool_calls": [{"id": "call_0",
                   "type": "function", "function": {"name": "get_product_info",
                   "arguments": "{\\"product_name\\": \\"小米11 Ultra\\", \\"properties\\": [\\"电池\\"]}"}}]}],
     "tools": [{"type": "function", "function": {"name": "get_product_info", ...}}],
     "rejected": null}

``messages`` are OpenAI chat messages without a system message (the trainer adds the
agent's own prompt); earlier turns are context, the **last** message is the target
assistant turn: a tool call, or a plain reply (a greeting answered, a question back for
a value the user left out). ``rejected`` optionally holds an assistant message the model
actually produced for the same context (a DPO pair's losing side).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kapibara.errors import DataError
from kapibara.fileio import write_jsonl_atomic
from kapibara.models.base import Message, ToolCall, ToolSpec
from kapibara.models.base import message_calls as calls_of

_ROLES = ("user", "assistant", "tool")
_HINT = "see docs/finetune.md (Data) for the sample format"


@dataclass
class Sample:
    """One training conversation; ``messages[-1]`` is the target assistant turn."""

    id: str
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    source: str = ""
    category: str = ""
    rejected: Message | None = None

    @property
    def target(self) -> Message:
        """The assistant turn to learn."""
        return self.messages[-1]

    @property
    def context(self) -> list[Message]:
        """Everything before the target."""
        return self.messages[:-1]

    @property
    def target_calls(self) -> list[ToolCall]:
        """The target's tool calls, arguments decoded (empty for a plain reply)."""
        return calls_of(self.target)

    @property
    def last_user(self) -> str:
        """The latest user message's text (what dedupe and leakage checks compare)."""
        return next((str(m.get("content") or "") for m in reversed(self.messages) if m.get("role") == "user"), "")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "source": self.source, "messages": self.messages,
                "tools": self.tools, "rejected": self.rejected}


def call_message(calls: list[ToolCall], content: str = "", *, prefix: str = "call") -> Message:
    """An assistant message making ``calls`` (ids ``call_0``, ``call_1``... unless set)."""
    out = []
    for i, c in enumerate(calls):
        out.append({"id": c.id or f"{prefix}_{i}", "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}})
    return {"role": "assistant", "content": content, "tool_calls": out}


def reply_message(text: str) -> Message:
    """A plain assistant reply."""
    return {"role": "assistant", "content": text}


def sample_id(prefix: str, messages: list[Message]) -> str:
    """A stable id from the conversation's text (same conversation, same id)."""
    digest = hashlib.sha1(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"


def _check_message(m: Any, where: str, *, last: bool) -> None:
    if not isinstance(m, dict):
        raise DataError(f"{where}: a message must be a JSON object", hint=_HINT)
    role = m.get("role")
    if role not in _ROLES:
        shown = "system (the trainer adds the agent's prompt)" if role == "system" else repr(role)
        raise DataError(f"{where}: role {shown} not allowed; use {', '.join(_ROLES)}", hint=_HINT)
    if role == "tool" and (not m.get("tool_call_id") or not isinstance(m.get("content"), str)):
        raise DataError(f"{where}: a tool message needs tool_call_id and string content", hint=_HINT)
    calls = m.get("tool_calls")
    if role == "assistant" and calls:
        if not isinstance(calls, list):
            raise DataError(f"{where}: tool_calls must be a list", hint=_HINT)
        for j, c in enumerate(calls):
            fn = c.get("function") if isinstance(c, dict) else None
            if not isinstance(fn, dict) or not fn.get("name") or not isinstance(fn.get("arguments"), str):
                raise DataError(f"{where}: tool_calls[{j}] needs function.name and function.arguments "
                                "(a JSON string)", hint=_HINT)
            try:
                args = json.loads(fn["arguments"])
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: tool_calls[{j}] arguments are not JSON ({exc.msg})", hint=_HINT) from None
            if not isinstance(args, dict):
                raise DataError(f"{where}: tool_calls[{j}] arguments must be a JSON object", hint=_HINT)
    if last and role == "assistant" and not calls and not str(m.get("content") or "").strip():
        raise DataError(f"{where}: the target assistant turn has neither tool_calls nor content", hint=_HINT)
    if role == "user" and not isinstance(m.get("content"), str):
        raise DataError(f"{where}: a user message needs string content", hint=_HINT)


def validate_sample(s: Sample, where: str = "sample") -> Sample:
    """Raise ``DataError`` (one line) when ``s`` is not a trainable sample; return it."""
    if not s.id:
        raise DataError(f"{where}: no id", hint=_HINT)
    if not s.messages:
        raise DataError(f"{where} ({s.id}): no messages", hint=_HINT)
    for i, m in enumerate(s.messages):
        _check_message(m, f"{where} ({s.id}) messages[{i}]", last=i == len(s.messages) - 1)
    if s.messages[-1].get("role") != "assistant":
        raise DataError(f"{where} ({s.id}): the last message must be the target assistant turn", hint=_HINT)
    if not any(m.get("role") == "user" for m in s.messages):
        raise DataError(f"{where} ({s.id}): no user message", hint=_HINT)
    names = set()
    for j, t in enumerate(s.tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise DataError(f"{where} ({s.id}) tools[{j}]: expected an OpenAI function tool "
                            '{"type": "function", "function": {"name", ...}}', hint=_HINT)
        names.add(fn["name"])
    for c in s.target_calls:
        if s.tools and c.name not in names:
            raise DataError(f"{where} ({s.id}): the target calls {c.name!r}, which is not among its tools", hint=_HINT)
    if s.rejected is not None:
        _check_message(s.rejected, f"{where} ({s.id}) rejected", last=True)
        if s.rejected.get("role") != "assistant":
            raise DataError(f"{where} ({s.id}): rejected must be an assistant message", hint=_HINT)
    return s


def sample_from_dict(obj: Any, where: str = "sample") -> Sample:
    """A validated ``Sample`` from its JSON form."""
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object", hint=_HINT)
    unknown = set(obj) - {"id", "messages", "tools", "source", "category", "rejected"}
    if unknown:
        raise DataError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}", hint=_HINT)
    messages, tools = obj.get("messages"), obj.get("tools", [])
    if not isinstance(messages, list) or not isinstance(tools, list):
        raise DataError(f"{where}: messages and tools must be lists", hint=_HINT)
    s = Sample(id=str(obj.get("id") or ""), messages=messages, tools=tools, source=str(obj.get("source") or ""),
               category=str(obj.get("category") or ""), rejected=obj.get("rejected"))
    return validate_sample(s, where)


def load_samples(path: str | Path) -> list[Sample]:
    """Samples from a JSONL file; a bad line raises ``DataError`` naming file and line."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"no such file: {p}", hint="build one with: kapibara data build --out data.jsonl") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read: {exc}") from None
    out: list[Sample] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{n}: not JSON: {exc.msg}", hint=_HINT) from None
        out.append(sample_from_dict(obj, f"{p}:{n}"))
    return out


def save_samples(path: str | Path, samples: list[Sample]) -> Path:
    """Validate every sample, then write them as JSONL atomically (nothing on a bad one)."""
    for i, s in enumerate(samples):
        validate_sample(s, f"sample {i}")
    return write_jsonl_atomic(path, (s.to_dict() for s in samples))


def pick_samples(samples: list[Sample], limit: int | None, rng: Any, reply_share: float | None = None,
                 focus: str | None = None) -> list[Sample]:
    """At most ``limit`` samples drawn with ``rng``; with ``reply_share``, that share of them
    (as far as there are) are plain replies, the rest tool calls. With ``focus``, every
    sample whose source starts with it is taken first (a pass that teaches what was just
    added, e.g. ``template:no_call:from_results``), and the rest of ``limit`` is drawn from
    the others as above, so what the model learned before is rehearsed.

    A uniform draw from the built set gives about 9% replies; a model tuned on that learned
    to call a tool for nearly every request (no-call 50% on the test split), so the recipe
    draws replies (greetings, off-domain and unsupported requests, asking for a missing
    value) at a fixed share. The calls are drawn with a floor per tool
    (``_draw_calls``). The order is shuffled either way.
    """
    if reply_share is not None and not 0 <= reply_share <= 1:
        raise DataError(f"reply share {reply_share} is not between 0 and 1", hint="e.g. --reply-share 0.3")
    if focus:
        chosen = [s for s in samples if s.source.startswith(focus)]
        if not chosen:
            raise DataError(f"no sample's source starts with {focus!r}",
                            hint="sources look like template:no_call:from_results or dev:cart-007")
        if limit and len(chosen) >= limit:
            return list(rng.sample(chosen, limit))
        others = [s for s in samples if not s.source.startswith(focus)]
        picked = chosen + pick_samples(others, limit - len(chosen) if limit else None, rng, reply_share)
        rng.shuffle(picked)
        return picked
    if not limit or limit >= len(samples):
        return list(samples)
    if reply_share is None:
        return list(rng.sample(samples, limit))
    replies = [s for s in samples if not s.target_calls]
    calls = [s for s in samples if s.target_calls]
    k = min(len(replies), round(limit * reply_share))
    picked = rng.sample(replies, k) + _draw_calls(calls, limit - k, rng)
    rng.shuffle(picked)
    return picked


def _draw_calls(calls: list[Sample], n: int, rng: Any) -> list[Sample]:
    """``n`` call samples: each tool first gets a floor of ``n / (2 * tools)`` (all it has
    when it has fewer), the rest is a uniform draw from what is left.

    Templates with no slot ("看看我的购物车") each give one sample, so a uniform draw from
    the first build (view_cart: 11 of 1290) left the tuned model 3 view_cart samples, and
    it answered "购物车瞅一眼" with ``add_to_cart("购物车")``.
    """
    if n >= len(calls):
        return list(calls)
    by_tool: dict[str, list[Sample]] = {}
    for s in calls:
        by_tool.setdefault(s.target_calls[0].name, []).append(s)
    floor = n // (2 * len(by_tool))
    picked: list[Sample] = []
    for name in sorted(by_tool):
        group = by_tool[name]
        picked += rng.sample(group, min(floor, len(group)))
    taken = {id(s) for s in picked}
    rest = [s for s in calls if id(s) not in taken]
    return picked + rng.sample(rest, n - len(picked))
