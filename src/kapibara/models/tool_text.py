"""Tool specs as the text a chat template puts in the prompt: JSON, or signatures.

A chat template renders each offered tool as its JSON spec (Qwen2.5: one
``{"type": "function", "function": {...}}`` per line inside ``<tools></tools>``). Most of
those tokens are structure: ``"type": "string", "description": `` once per parameter.
The **signature** form says the same in a code model's own idiom: the tool's description
as a comment, its call signature, its parameters' descriptions under it::

    // The current weather in a city.
    get_weather(city: string, unit?: "celsius"|"fahrenheit" = "celsius")
      city: The city's name.

Every name, type, enum, default, required mark and description is kept. On BFCL
``multiple`` the whole prompt is a third shorter (450 -> 297 tokens a question on Qwen's
tokenizer, template and all), and a question brings its own functions, so they are
prefilled every time. Where the description goes matters to a 0.5B: after the signature
line, it called a tool in 9 more of BFCL ``irrelevance``'s first 100 questions than with
JSON; as a comment before it, 3 more, within noise (docs/models.md).

The template still writes everything around the tools (its preamble, the ``<tool_call>``
instructions): :func:`splice` renders it with one placeholder tool and puts the
signatures where the placeholder's JSON is. A template that does not show a tool as one
JSON line (the placeholder is not found once) keeps its own JSON form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

TOOL_FORMATS: tuple[str, ...] = ("json", "signature")

_PLACEHOLDER = "kapibara_tools_placeholder_7f3a"
PLACEHOLDER_SPEC: dict[str, Any] = {"type": "function", "function": {"name": _PLACEHOLDER}}


def signature(spec: dict[str, Any]) -> str:
    """One tool: its description as a comment, its signature, its parameters' descriptions."""
    fn = spec.get("function", spec)
    params = fn.get("parameters") or {}
    props = params.get("properties") or {}
    required = set(params.get("required") or ())
    args = [_arg(name, sub, name in required) for name, sub in props.items() if isinstance(sub, dict)]
    lines = ["// " + _one_line(fn["description"])] if fn.get("description") else []
    lines.append(f"{fn.get('name', '')}({', '.join(args)})")
    lines.extend(_described(props, ""))
    return "\n".join(lines)


def signatures(tools: list[dict[str, Any]]) -> str:
    """Every tool's signature, one after another."""
    return "\n".join(signature(t) for t in tools)


def splice(render: Callable[[list[dict[str, Any]] | None], str], tools: list[dict[str, Any]]) -> str | None:
    """The template's text (``render(tools)``) with ``tools`` as signatures, or None when
    the template does not show a tool as one JSON line of its own."""
    text = render([PLACEHOLDER_SPEC])
    if text.count(_PLACEHOLDER) != 1:
        return None
    at = text.index(_PLACEHOLDER)
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    end = len(text) if end < 0 else end
    line = text[start:end]
    try:
        shown = json.loads(line)
    except ValueError:
        return None
    if shown not in (PLACEHOLDER_SPEC, PLACEHOLDER_SPEC["function"]):
        return None
    return text[:start] + signatures(tools) + text[end:]


def _arg(name: str, schema: dict[str, Any], required: bool) -> str:
    text = f"{name}{'' if required else '?'}: {_type(schema)}"
    if "default" in schema:
        text += f" = {json.dumps(schema['default'], ensure_ascii=False)}"
    return text


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema and isinstance(schema["enum"], list):
        return "|".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(str(k) for k in kind)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return "|".join(_type(s) for s in schema[key] if isinstance(s, dict))
    if kind == "array":
        items = schema.get("items")
        return f"array[{_type(items)}]" if isinstance(items, dict) and items else "array"
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        required = set(schema.get("required") or ())
        inner = ", ".join(_arg(k, v, k in required) for k, v in props.items() if isinstance(v, dict))
        return "{" + inner + "}"
    return str(kind) if kind else "any"


def _described(props: dict[str, Any], path: str) -> list[str]:
    """``  name: description`` for each parameter that has one, nested ones as ``a.b``."""
    lines = []
    for name, sub in props.items():
        if not isinstance(sub, dict):
            continue
        if sub.get("description"):
            lines.append(f"  {path}{name}: {_one_line(sub['description'])}")
        items = sub.get("items")
        nested = sub.get("properties") or (items.get("properties") if isinstance(items, dict) else None)
        if isinstance(nested, dict) and nested:
            lines.extend(_described(nested, f"{path}{name}."))
    return lines


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
