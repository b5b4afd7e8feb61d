"""Parse one ReAct step (Thought / Action / Action Input / Final Answer) from raw text.

Tool calls in Qwen tags, JSON or JSON5 are found by ``kapibara.models.toolcalls``, which
the backends use too; this module adds the ReAct text format the agent speaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kapibara.models.base import ToolCall
from kapibara.models.toolcalls import (
    FENCE_RE,
    ParsedCalls,
    balanced_objects,
    loads_lenient,
    parse_tool_calls,
)

__all__ = ["ParsedCalls", "ReactParsed", "parse_react", "parse_tool_calls"]


# --- ReAct text (MSAgent-Bench / ModelScope format) -----------------------------------

_REACT_KEYS = ("Thought", "Action Input", "Action", "Observation", "Final Answer")
# The ASCII colon is the strict form; a full-width colon or other letter case is tolerated
# (small models write both) but marks the parse lenient.
_REACT_RE = re.compile(
    r"^[ \t]*(Thought|Action[ _]Input|Action|Observation|Final[ _]Answer)[ \t]*([:：])",
    re.I | re.M,
)
_PY_CALL_RE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*\((.*)\)\s*$", re.S)


@dataclass
class ReactParsed:
    """One ReAct step: either ``calls`` (Action / Action Input pairs) or ``answer``.

    ``answer`` is None when the text held actions; ``error`` is set when an action was
    named but its input did not parse. ``lenient`` marks calls recovered from a non-strict
    form (full-width colon, Python-style call, JSON5 input, a call without ReAct markers).
    """

    calls: list[ToolCall] = field(default_factory=list)
    thought: str = ""
    answer: str | None = None
    error: str | None = None
    lenient: bool = False


def _canonical_key(word: str) -> str:
    w = re.sub(r"[ _]+", " ", word.strip()).lower()
    return next(k for k in _REACT_KEYS if k.lower() == w)


def _react_sections(text: str) -> tuple[str, list[tuple[str, str]], bool]:
    """Split text into (preamble, [(key, value)], lenient_markers)."""
    matches = list(_REACT_RE.finditer(text))
    lenient = False
    sections: list[tuple[str, str]] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        key = _canonical_key(m.group(1))
        if m.group(1) != key or m.group(2) != ":":
            lenient = True
        sections.append((key, text[m.end() : end].strip()))
    preamble = text[: matches[0].start()].strip() if matches else text.strip()
    return preamble, sections, lenient


def _python_call_args(src: str) -> dict[str, Any] | None:
    """``category="手机", limit=3`` -> dict, via ``ast`` (literals only); None if not that."""
    import ast

    try:
        node = ast.parse(f"f({src})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or node.args:
        return None
    out: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            return None
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            return None
    return out


def _action_input(raw: str) -> tuple[dict[str, Any] | None, bool, str | None]:
    """Decode an Action Input. Returns (arguments, lenient, error)."""
    body = FENCE_RE.sub(lambda m: m.group(1), raw).strip().strip("`").strip()
    if not body:
        return {}, False, None
    spans = balanced_objects(body)
    lenient = False
    if spans and (spans[0][0] > 0 or spans[0][1] < len(body)):
        body, lenient = body[spans[0][0] : spans[0][1]], True  # prose around the JSON
    try:
        value, fb = loads_lenient(body)
    except ValueError as exc:
        return None, False, f"Action Input is not valid JSON: {exc}"
    if isinstance(value, dict) and isinstance(value.get("arguments"), dict) and "name" in value:
        value, lenient = value["arguments"], True  # a whole {"name", "arguments"} object
    if not isinstance(value, dict):
        return None, False, "Action Input must be a JSON object of arguments"
    return value, lenient or fb, None


def parse_react(text: str) -> ReactParsed:
    """Parse one ReAct step of raw model text; never raises.

    Text after an ``Observation:`` the model invented is ignored. Several Action /
    Action Input pairs give several calls. Text without any ReAct marker is searched
    for a call (Qwen tags, JSON, JSON5) and otherwise taken as a direct answer.
    """
    obs = _REACT_RE.search(text)
    while obs and _canonical_key(obs.group(1)) != "Observation":
        obs = _REACT_RE.search(text, obs.end())
    if obs:
        text = text[: obs.start()]
    preamble, sections, lenient = _react_sections(text)
    if not sections:
        found = parse_tool_calls(text)
        if found.calls or found.error:
            return ReactParsed(calls=found.calls, error=found.error, lenient=True)
        return ReactParsed(answer=text.strip())
    thought = " ".join(v for k, v in sections if k == "Thought")
    if not thought and preamble:
        thought = preamble
    calls: list[ToolCall] = []
    for i, (key, value) in enumerate(sections):
        if key == "Final Answer" and not calls:
            return ReactParsed(thought=thought, answer=value, lenient=lenient)
        if key != "Action":
            continue
        name = value.splitlines()[0].strip() if value else ""
        args: dict[str, Any] | None = None
        py = _PY_CALL_RE.match(name)
        if py:  # Action: recommend_products(category="手机")
            name, args, lenient = py.group(1), _python_call_args(py.group(2)), True
            if args is None:
                return ReactParsed(
                    thought=thought, error=f"could not read the arguments of Action: {value}"
                )
        name = name.strip("`'\"[]* ")
        if not name:
            return ReactParsed(thought=thought, error="Action is empty: name one tool")
        nxt = sections[i + 1] if i + 1 < len(sections) else None
        if args is None:
            if nxt is None or nxt[0] != "Action Input":
                args = {}
                lenient = True
            else:
                args, fb, err = _action_input(nxt[1])
                if err or args is None:
                    return ReactParsed(thought=thought, error=err)
                lenient = lenient or fb
        calls.append(ToolCall(name=name, arguments=args))
    if calls:
        return ReactParsed(calls=calls, thought=thought, lenient=lenient)
    if any(k == "Action Input" for k, _ in sections):
        return ReactParsed(thought=thought, error="Action Input given without an Action line")
    # Only a Thought: small models often stop there with the answer in it.
    return ReactParsed(thought=thought, answer=thought or preamble, lenient=True)
