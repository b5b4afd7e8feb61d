"""Jump-forward decoding of tool calls: the text a call must go on with, given the tools.

Once a model has opened a call, much of what follows is fixed by the offered tools:
after ``<tool_call>`` comes ``\\n{"name": "``; after ``"name": "get_w`` with one tool
named so, ``eather", "arguments": {``; after a key's first letters, the rest of the only
parameter they start, ``": "`` and, for a string, the opening quote. Decoding that text
costs one model step per token; written for the model, it is evaluated in one batch with
the next token (``LlamaCppModel`` does this under greedy decoding, with tools offered and
no grammar, and under the grammar of one of the agent's call schemas, ``schema_tools``).
SGLang's jump-forward decoding reads the forced text off the grammar; here it comes from
the tool schemas and JSON's own rules, never from a guess at what the model meant:

- only the call formats the parser reads first: Qwen's ``<tool_call>`` block (the
  template's compact JSON) and a call object the output opens with (bare or fenced
  JSON, pretty-printed or not: its whitespace is copied from what the model wrote);
- a name or key is completed only when exactly one offered tool (or one unused
  parameter of the called tool) starts with what was written; a string enum's value
  likewise;
- after a comma in an object a key must follow (``"``); the arguments go on with a
  comma while a required parameter is missing and close when none is left.

Text the model had gone astray with (a tool name no offered tool starts with, a key
the tool lacks) gets nothing forced: the parser and the repair ladder see it as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TAG_OPEN = "<tool_call>"
TAG_CLOSE = "</tool_call>"
NAME_KEY = "name"
ARG_KEYS = ("arguments", "parameters")
_OPENS = re.compile(r"\s*(?:```(?:json)?[ \t]*\n\s*)?\{")
_LITERAL = set("0123456789+-.eEtruefalsn")


@dataclass
class _Tool:
    params: list[str]
    required: set[str]
    schemas: dict[str, Any]


def tool_table(tools: Sequence[dict[str, Any]]) -> dict[str, _Tool]:
    """Name -> parameters (declared order), required ones and schemas, from OpenAI-style specs."""
    out: dict[str, _Tool] = {}
    for spec in tools:
        fn = spec.get("function", spec) if isinstance(spec, dict) else {}
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            continue
        params = fn.get("parameters") or {}
        props = params.get("properties") or {} if isinstance(params, dict) else {}
        required = params.get("required") or [] if isinstance(params, dict) else []
        if not isinstance(props, dict):
            props = {}
        out[name] = _Tool(params=[str(p) for p in props],
                          required={str(r) for r in required if isinstance(r, str)},
                          schemas={str(k): v if isinstance(v, dict) else {} for k, v in props.items()})
    return out


def schema_tools(schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The calls a JSON schema of the agent's (``{"anyOf": [{"properties": {"name":
    {"const": ...}, "arguments": {...}}}, ...]}``) admits, as OpenAI-style specs: what
    ``continuation`` reads under that schema's grammar. Branches that are no call (the
    ``{"answer": ...}`` one) are left out."""
    if not isinstance(schema, dict):
        return []
    options = schema.get("anyOf", [schema])
    out: list[dict[str, Any]] = []
    for option in options if isinstance(options, list) else []:
        props = option.get("properties") if isinstance(option, dict) else None
        if not isinstance(props, dict):
            continue
        name = props.get(NAME_KEY, {}).get("const") if isinstance(props.get(NAME_KEY), dict) else None
        args = next((props[k] for k in ARG_KEYS if isinstance(props.get(k), dict)), None)
        if isinstance(name, str) and args is not None:
            out.append({"function": {"name": name, "parameters": args}})
    return out


@dataclass
class _Frame:
    kind: str  # "obj" or "arr"
    expect: str  # obj: key_or_end, key, colon, value, comma_or_end; arr: value_or_end, value, comma_or_end
    key: str = ""
    seen: list[str] = field(default_factory=list)
    strings: dict[str, str] = field(default_factory=dict)
    ws_open: str | None = None
    """The whitespace between the opening brace and the first key (None until a key starts)."""


@dataclass
class _State:
    stack: list[_Frame]
    in_str: bool = False
    role: str = ""  # "key" or "value"
    buf: str = ""
    literal: str = ""
    closed_at: int = -1
    top: _Frame | None = None


class _Invalid(Exception):
    pass


def _scan(s: str) -> _State:
    """The JSON parse state at the end of ``s`` (which starts with ``{``)."""
    st = _State(stack=[])
    esc = False
    pending_ws = ""
    i = 0
    while i < len(s):
        c = s[i]
        i += 1
        if st.in_str:
            if esc:
                esc = False
                st.buf += c
            elif c == "\\":
                esc = True
                st.buf += c
            elif c == '"':
                st.in_str = False
                inner = st.stack[-1]
                if st.role == "key":
                    inner.key, inner.expect = st.buf, "colon"
                else:
                    if inner.kind == "obj":
                        inner.strings[inner.key] = st.buf
                    _value_done(st)
            else:
                st.buf += c
            continue
        if st.literal:
            if c in _LITERAL:
                st.literal += c
                continue
            st.literal = ""
            _value_done(st)
        if c in " \t\r\n":
            pending_ws += c
            continue
        ws, pending_ws = pending_ws, ""
        frame = st.stack[-1] if st.stack else None
        expects_value = frame is not None and frame.expect in ("value", "value_or_end")
        if c in "{[":
            if frame is None and not st.stack and st.top is None:
                st.stack.append(_Frame("obj", "key_or_end"))
                st.top = st.stack[0]
            elif expects_value:
                st.stack.append(_Frame("obj", "key_or_end") if c == "{" else _Frame("arr", "value_or_end"))
            else:
                raise _Invalid
        elif c == '"':
            if frame is None:
                raise _Invalid
            if frame.kind == "obj" and frame.expect in ("key_or_end", "key"):
                if frame.ws_open is None:
                    frame.ws_open = ws
                st.in_str, st.role, st.buf = True, "key", ""
            elif expects_value:
                st.in_str, st.role, st.buf = True, "value", ""
            else:
                raise _Invalid
        elif c == ":":
            if frame is None or frame.expect != "colon":
                raise _Invalid
            frame.expect = "value"
        elif c == ",":
            if frame is None or frame.expect != "comma_or_end":
                raise _Invalid
            frame.expect = "key" if frame.kind == "obj" else "value"
        elif c in "}]":
            want = "obj" if c == "}" else "arr"
            ends = ("key_or_end", "comma_or_end") if want == "obj" else ("value_or_end", "comma_or_end")
            if frame is None or frame.kind != want or frame.expect not in ends:
                raise _Invalid
            st.stack.pop()
            if not st.stack:
                st.closed_at = i
                return st
            _value_done(st)
        elif expects_value and c in "-0123456789tfn":
            st.literal = c
        else:
            raise _Invalid
    return st


def _value_done(st: _State) -> None:
    frame = st.stack[-1]
    if frame.kind == "obj":
        frame.seen.append(frame.key)
    frame.expect = "comma_or_end"


def _call_start(text: str) -> tuple[int, bool, bool] | None:
    """Where the call object being written starts in ``text``, whether it is the tag format
    (compact JSON), and whether it is fenced; None when ``text`` is no call."""
    tag = text.rfind(TAG_OPEN)
    if tag >= 0:
        body = text[tag + len(TAG_OPEN):]
        if TAG_CLOSE in body:
            return None
        brace = body.find("{")
        if brace < 0 or body[:brace].strip():
            return None
        return tag + len(TAG_OPEN) + brace, True, False
    m = _OPENS.match(text)
    if m is None:
        return None
    return m.end() - 1, False, "```" in text[: m.end()]


def continuation(text: str, tools: Sequence[dict[str, Any]] | dict[str, _Tool], *, names: bool = False) -> str:
    """The text every valid call must write next after ``text``; empty when the model has
    a choice (or ``text`` is no call). ``names``: also complete a tool name from its
    first letters when only one offered tool starts with them (off by default: a model
    making up a tool name, "calculate_area" beside ``calculate_bmi``, would be handed a
    real one, and the ladder reads a made-up name as a sign the tools do not fit)."""
    table = tools if isinstance(tools, dict) else tool_table(tools)
    if not table:
        return ""
    out = ""
    for _ in range(8):  # a forced piece can make the next one forced too
        more = _step(text + out, table, names)
        if more.endswith(" "):
            # A space is the start of the model's next token (` [`, ` 5`, ` "`): written
            # alone, it leaves the model after a token it never saw there.
            return out + more.rstrip(" ")
        if not more:
            break
        out += more
    return out


def _rest_of_gap(tail: str, gap: str) -> str | None:
    """What is left to write of the whitespace ``gap`` after ``tail`` was written."""
    return gap[len(tail):] if gap.startswith(tail) else None


def _step(text: str, table: dict[str, _Tool], names: bool) -> str:
    if text.endswith(TAG_OPEN):
        return '\n{"name": "'
    start = _call_start(text)
    if start is None:
        return ""
    at, compact, fenced = start
    try:
        st = _scan(text[at:])
    except _Invalid:
        return ""
    if st.closed_at >= 0 or st.top is None:
        return ""
    top = st.top
    depth = len(st.stack)
    sep = top.ws_open if top.ws_open is not None else ""
    if depth == 1:
        gap = sep if "\n" in sep else " "
        if st.in_str and st.role == "value" and top.key == NAME_KEY and not top.seen:
            named = [n for n in table if n.startswith(st.buf)]
            if names and len(named) == 1:
                return named[0][len(st.buf):] + '",' + gap + _arguments(table[named[0]], compact)
            return ""
        if st.in_str or st.literal:
            return ""
        tail = text[len(text.rstrip()):]
        tool = table.get(top.strings.get(NAME_KEY, ""))
        if top.seen == [NAME_KEY] and tool is not None:
            if top.expect == "comma_or_end" and not tail:
                return "," + gap + _arguments(tool, compact)
            if top.expect == "key":
                rest = _rest_of_gap(tail, gap)
                return "" if rest is None else rest + _arguments(tool, compact)
            return ""
        if top.expect == "comma_or_end" and len(top.seen) == 2 and top.seen[0] == NAME_KEY \
                and top.seen[1] in ARG_KEYS and not tail:
            if compact:
                return "}\n" + TAG_CLOSE
            if "\n" in sep:
                return "\n}" + ("\n```" if fenced else "")
        return ""
    if depth != 2 or top.key not in ARG_KEYS or top.seen != [NAME_KEY] or st.stack[1].kind != "obj":
        return ""
    tool = table.get(top.strings.get(NAME_KEY, ""))
    if tool is None:
        return ""
    args = st.stack[1]
    unused = [p for p in tool.params if p not in args.seen]
    missing = [p for p in unused if p in tool.required]
    arg_sep = args.ws_open
    if st.in_str and st.role == "key":
        keys = [p for p in unused if p.startswith(st.buf)]
        if len(keys) != 1:
            return ""
        schema = tool.schemas.get(keys[0], {})
        return keys[0][len(st.buf):] + '": ' + ('"' if _is_string(schema) else "")
    if st.in_str and st.role == "value":
        values = [v for v in _string_enum(tool.schemas.get(args.key, {})) if v.startswith(st.buf)]
        if len(values) == 1 and "\\" not in st.buf:
            return values[0][len(st.buf):] + '"'
        return ""
    if st.literal:
        return ""
    tail = text[len(text.rstrip()):]
    if args.expect == "key_or_end":
        if not tool.params and compact:
            return "}"
        if missing and compact and not tail:
            return '"'
        return ""
    if args.expect == "key":
        if arg_sep is None:
            return '"' if tail == " " else ""
        rest = _rest_of_gap(tail, arg_sep if "\n" in arg_sep else " ")
        return "" if rest is None else rest + '"'
    if args.expect == "comma_or_end":
        if missing and not tail:
            return ","
        if not unused and compact and not tail:
            return "}"
    return ""


def _arguments(tool: _Tool, compact: bool) -> str:
    """The arguments' key and as much of their object as is fixed. Pretty-printed, the
    model opens it itself: its ``{\n`` is one token, and a lone ``{`` written for it
    turned the rest of the call into one line. Compact, ``{"`` is the token the template
    writes before the first key."""
    if not compact:
        return '"arguments":'
    if not tool.params:
        return '"arguments": {}}\n' + TAG_CLOSE
    return '"arguments": {"' if tool.required else '"arguments":'


def _is_string(schema: dict[str, Any]) -> bool:
    if _string_enum(schema):
        return True
    return schema.get("type") == "string" and "enum" not in schema


def _string_enum(schema: dict[str, Any]) -> list[str]:
    values = schema.get("enum")
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return values
    return []
