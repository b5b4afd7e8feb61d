"""Find tool calls in a small model's raw text (below the agent: every backend parses with it).

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
FENCE_RE = re.compile(r"```(?:json|json5|tool_call|python)?\s*\n?(.*?)```", re.S)
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


def balanced_objects(text: str) -> list[tuple[int, int]]:
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
            block = FENCE_RE.sub(lambda m: m.group(1), block).strip()
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
    candidates = [m.group(1) for m in FENCE_RE.finditer(text)]
    candidates += [text[a:b] for a, b in balanced_objects(text)]
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
