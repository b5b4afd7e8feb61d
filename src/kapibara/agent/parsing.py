"""Find tool calls in a small model's raw text.

Strict form: Qwen's ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks.
Small models also emit bare JSON, fenced JSON, JSON5 (single quotes, trailing commas),
a list of calls, or the call embedded in prose. Anything but the strict form sets
``lenient=True`` so the repair ladder can record that its first rung fired.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import json5

from kapibara.models.base import ToolCall

_TAG_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE_RE = re.compile(r"```(?:json|json5|tool_call|python)?\s*\n?(.*?)```", re.S)
_CALL_OPEN = re.compile(r"\s*(?:```(?:json)?\s*)?\[?\s*\{")
_NAME_KEYS = ("name", "function", "tool", "tool_name", "action")
_ARG_KEYS = ("arguments", "parameters", "args", "params", "input", "action_input")


@dataclass
class ParsedCalls:
    """Result of parsing. ``error`` is set when text looked like a call but did not parse."""

    calls: list[ToolCall] = field(default_factory=list)
    content: str = ""
    error: str | None = None
    lenient: bool = False


def loads_lenient(text: str) -> tuple[Any, bool]:
    """Decode JSON, falling back to JSON5. Returns (value, used_fallback)."""
    try:
        return json.loads(text), False
    except json.JSONDecodeError:
        pass
    cleaned = text.strip().rstrip(";")
    return json5.loads(cleaned), True


def _as_call(obj: Any) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    if "function" in obj and isinstance(obj["function"], dict):  # OpenAI wire shape
        obj = obj["function"]
    name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if not name:
        return None
    args: Any = next((obj[k] for k in _ARG_KEYS if k in obj), {})
    if isinstance(args, str):
        try:
            args, _ = loads_lenient(args) if args.strip() else ({}, False)
        except ValueError:
            return None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return None
    return ToolCall(name=name.strip(), arguments=args)


def _calls_from_value(value: Any) -> list[ToolCall] | None:
    items = value if isinstance(value, list) else [value]
    calls = [_as_call(v) for v in items]
    if not calls or any(c is None for c in calls):
        return None
    return [c for c in calls if c is not None]


def _balanced_objects(text: str) -> list[tuple[int, int]]:
    """Spans of top-level ``{...}`` / ``[...]`` in text, respecting strings."""
    spans: list[tuple[int, int]] = []
    depth, start, quote, esc = 0, -1, "", False
    for i, ch in enumerate(text):
        if quote:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'" and depth > 0:
            quote = ch
        elif ch in "{[":
            if depth == 0:
                start = i
            depth += 1
        elif ch in "}]" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    return spans


def parse_tool_calls(text: str) -> ParsedCalls:
    """Parse tool calls from raw model text; never raises."""
    tagged = _TAG_RE.findall(text)
    if tagged:
        calls: list[ToolCall] = []
        lenient = False
        for block in tagged:
            block = _FENCE_RE.sub(lambda m: m.group(1), block).strip()
            try:
                value, fb = loads_lenient(block)
            except ValueError as exc:
                return ParsedCalls(content=_strip_tags(text), error=f"tool call is not valid JSON: {exc}")
            found = _calls_from_value(value)
            if found is None:
                return ParsedCalls(
                    content=_strip_tags(text),
                    error='tool call must be {"name": ..., "arguments": {...}}',
                )
            calls.extend(found)
            lenient = lenient or fb
        return ParsedCalls(calls=calls, content=_strip_tags(text), lenient=lenient)

    # Fenced or bare JSON; take the first region that decodes to call(s).
    candidates = [m.group(1) for m in _FENCE_RE.finditer(text)]
    candidates += [text[a:b] for a, b in _balanced_objects(text)]
    looked_like_call = False
    last_error = ""
    for cand in candidates:
        try:
            value, _ = loads_lenient(cand)
        except ValueError as exc:
            if any(f'"{k}"' in cand or f"'{k}'" in cand for k in _NAME_KEYS):
                looked_like_call = True
                last_error = f"tool call is not valid JSON: {exc}"
            continue
        found = _calls_from_value(value)
        if found:
            content = text.replace(cand, "").replace("```json", "").replace("```", "").strip()
            return ParsedCalls(calls=found, content=content, lenient=True)
    if looked_like_call:
        return ParsedCalls(content=text.strip(), error=last_error)
    if _CALL_OPEN.match(text) and any(f'"{k}"' in text for k in _NAME_KEYS):
        # A call cut off before its closing brace (length limit) or never closed: not an
        # answer to show the user (measured: the 0.5B's unclosed call counted as a reply).
        return ParsedCalls(content=text.strip(), error="tool call is incomplete: its JSON is not closed")
    return ParsedCalls(content=text.strip())


def _strip_tags(text: str) -> str:
    return re.sub(r"<tool_call>.*?(?:</tool_call>|$)", "", text, flags=re.S).strip()


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
    body = _FENCE_RE.sub(lambda m: m.group(1), raw).strip().strip("`").strip()
    if not body:
        return {}, False, None
    spans = _balanced_objects(body)
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
