"""``@tool``: build a ``Tool`` from a typed function and its docstring.

The JSON schema comes from the type hints (``str``, ``int``, ``float``, ``bool``,
``list[X]``, ``dict``, ``Literal[...]``, ``X | None``, ``Annotated[X, "description"]``,
pydantic models, enums) and the Google-style docstring ``Args:`` section (``参数:`` also
works, descriptions may be Chinese). The first docstring paragraph is the description.
A parameter without a type hint is a developer error raised at definition time.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, overload

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from kapibara.errors import ToolDefinitionError
from kapibara.tools.base import DEFAULT_MAX_OUTPUT_CHARS, Tool
from kapibara.tools.context import ToolContext

F = TypeVar("F", bound=Callable[..., Any])

_SECTION_RE = re.compile(
    r"^\s*(Args|Arguments|Parameters|Params|Returns?|Raises|Yields|Examples?|Notes?|"
    r"参数|返回|返回值|异常|示例|说明)\s*[:：]\s*$"
)
_ARG_SECTIONS = {"Args", "Arguments", "Parameters", "Params", "参数"}
_ARG_LINE_RE = re.compile(r"^(\*{0,2}[^\W\d]\w*)\s*(?:[(（][^)）]*[)）])?\s*[:：]\s*(.*)$")


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float = 30.0,
    side_effect: bool = False,
    max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS,
    direct_answer: Callable[[Any, str], str | None] | None = None,
    vocabulary: dict[str, dict[str, list[str]]] | None = None,
    entities: dict[str, dict[str, list[str]]] | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float = 30.0,
    side_effect: bool = False,
    max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS,
    direct_answer: Callable[[Any, str], str | None] | None = None,
    vocabulary: dict[str, dict[str, list[str]]] | None = None,
    entities: dict[str, dict[str, list[str]]] | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function into a ``Tool``; use as ``@tool`` or ``@tool(name=...)``.

    ``side_effect=True`` declares that a call changes something; ``direct_answer`` renders
    a result as the turn's answer, ``vocabulary`` lists the terms a free-text parameter
    understands and ``entities`` the names a parameter naming a thing knows (see
    ``Tool``). The returned ``Tool`` is still callable like the original function.
    """

    def build(f: Callable[..., Any]) -> Tool:
        return tool_from_function(f, name=name, description=description, timeout_s=timeout_s,
                                  side_effect=side_effect, max_output_chars=max_output_chars,
                                  direct_answer=direct_answer, vocabulary=vocabulary,
                                  entities=entities)

    if fn is None:
        return build
    return build(fn)


def tool_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float = 30.0,
    side_effect: bool = False,
    max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS,
    direct_answer: Callable[[Any, str], str | None] | None = None,
    vocabulary: dict[str, dict[str, list[str]]] | None = None,
    entities: dict[str, dict[str, list[str]]] | None = None,
) -> Tool:
    """Build a ``Tool`` from ``fn``; raise ``ToolDefinitionError`` naming what is wrong."""
    if isinstance(fn, Tool):
        return fn
    if not callable(fn):
        raise ToolDefinitionError(f"{fn!r} is not a function", hint="pass a typed function or a Tool")
    fname = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise ToolDefinitionError(
            f"tool function '{fname}': cannot resolve its type hints: {exc}",
            hint="define the types it uses at module level",
        ) from exc
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for i, (pname, param) in enumerate(inspect.signature(fn).parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool function '{fname}': parameter '{pname}' is *args/**kwargs",
                hint="a model can only pass named parameters; list them explicitly",
            )
        if pname not in hints:
            raise ToolDefinitionError(
                f"tool function '{fname}': parameter '{pname}' has no type hint",
                hint=f"annotate it, e.g. '{pname}: str', so the model knows what to pass",
            )
        hint = hints[pname]
        if _is_context(hint):
            context_param = pname
            continue
        try:
            # An optional parameter defaulting to None is simply left out by the model;
            # "X or null" would only add noise to a small model's prompt.
            shown = _drop_none(hint) if param.default is None else hint
            schema = type_schema(shown)
        except (TypeError, ValueError) as exc:
            raise ToolDefinitionError(
                f"tool function '{fname}': parameter '{pname}' has an unsupported type {hint!r}: {exc}",
                hint="use str, int, float, bool, list[...], dict, Literal[...], or a pydantic model",
            ) from exc
        desc = schema.pop("description", None) or arg_docs.get(pname)
        prop: dict[str, Any] = {}
        if desc:
            prop["description"] = desc
        prop.update(schema)
        finfo: dict[str, Any] = {"alias": pname}
        if param.default is inspect.Parameter.empty:
            required.append(pname)
            fields[f"p{i}"] = (hint, Field(**finfo))
        else:
            if param.default is not None and _jsonable(param.default):
                prop["default"] = _plain(param.default)
            fields[f"p{i}"] = (hint, Field(default=param.default, **finfo))
        properties[pname] = prop
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    tool_name: str = name or str(getattr(fn, "__name__", "tool"))
    safe = re.sub(r"\W", "_", tool_name)
    model = create_model(f"{safe}_args", __config__=ConfigDict(extra="forbid"), **fields)
    t = Tool(
        name=tool_name,
        description=(description or summary or tool_name).strip(),
        parameters=parameters,
        fn=fn,
        timeout_s=timeout_s,
        context_param=context_param,
        args_model=model,
        side_effect=side_effect,
        max_output_chars=max_output_chars,
        direct_answer=direct_answer,
        vocabulary=dict(vocabulary or {}),
        entities=dict(entities or {}),
    )
    t.__doc__ = getattr(fn, "__doc__", None)
    t.__wrapped__ = fn  # type: ignore[attr-defined]
    return t


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (first paragraph, {param: description})."""
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    base_indent: int | None = None
    in_summary = True
    for line in lines:
        m = _SECTION_RE.match(line)
        if m:
            section = m.group(1)
            in_summary = False
            current, base_indent = None, None
            continue
        if section is None:
            if not line.strip():
                if summary_lines:
                    in_summary = False
                continue
            if in_summary:
                summary_lines.append(line.strip())
            continue
        if section not in _ARG_SECTIONS or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        am = _ARG_LINE_RE.match(line.strip())
        if am and (base_indent is None or indent <= base_indent):
            base_indent = indent
            current = am.group(1).lstrip("*")
            args[current] = am.group(2).strip()
        elif current is not None:
            sep = "" if _is_cjk(args[current][-1:]) else " "
            args[current] = (args[current] + sep + line.strip()).strip()
    joiner = "" if summary_lines and all(_is_cjk(s[-1:]) for s in summary_lines[:-1]) else " "
    return joiner.join(summary_lines), args


def _is_cjk(ch: str) -> bool:
    # Chinese lines are joined without a space; English lines with one.
    return bool(ch) and ("\u2e80" <= ch <= "\u9fff" or ch in "，。；：！？、")


def _is_context(hint: Any) -> bool:
    if hint is ToolContext:
        return True
    if get_origin(hint) in (Union, types.UnionType):
        members = [a for a in get_args(hint) if a is not type(None)]
        return len(members) == 1 and members[0] is ToolContext
    return False


def _drop_none(hint: Any) -> Any:
    if get_origin(hint) is Annotated:
        base, *meta = get_args(hint)
        return Annotated[(_drop_none(base), *meta)]
    if get_origin(hint) in (Union, types.UnionType):
        members = [a for a in get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return members[0]
        return Union[tuple(members)]  # noqa: UP007
    return hint


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(_plain(value))
    except (TypeError, ValueError):
        return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return list(value)
    return value


_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def type_schema(tp: Any) -> dict[str, Any]:
    """A compact JSON schema for a type hint (no titles, no $refs)."""
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        schema: dict[str, Any] = type_schema(args[0])
        for meta in args[1:]:
            if isinstance(meta, str):
                schema["description"] = meta
            elif isinstance(meta, FieldInfo):
                if meta.description:
                    schema["description"] = meta.description
                for m in meta.metadata:
                    for attr, key in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum"),
                                      ("lt", "exclusiveMaximum"), ("min_length", "minLength"),
                                      ("max_length", "maxLength"), ("pattern", "pattern")):
                        if getattr(m, attr, None) is not None:
                            schema[key] = getattr(m, attr)
        return schema
    if tp is Any:
        return {}
    if tp in _PRIMITIVES:
        return {"type": _PRIMITIVES[tp]}
    if tp is type(None):
        return {"type": "null"}
    if origin is Literal:
        values = [_plain(a) for a in args]
        value_types = {type(v) for v in values}
        if len(value_types) == 1 and next(iter(value_types)) in _PRIMITIVES:
            return {"type": _PRIMITIVES[next(iter(value_types))], "enum": values}
        return {"enum": values}
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        nullable = len(members) < len(args)
        subs = [type_schema(m) for m in members]
        if len(subs) == 1 and not nullable:
            return subs[0]
        simple = all(set(s) == {"type"} and isinstance(s["type"], str) for s in subs)
        if simple:
            kinds = [s["type"] for s in subs] + (["null"] if nullable else [])
            return {"type": kinds}
        return {"anyOf": subs + ([{"type": "null"}] if nullable else [])}
    if tp in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset):
        item = args[0] if args and args[0] is not Ellipsis else Any
        return {"type": "array", "items": type_schema(item)} if item is not Any else {"type": "array"}
    if tp is dict or origin is dict:
        return {"type": "object"}
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        return type_schema(Literal[tuple(values)])
    # pydantic models, dataclasses, dates, ...: let pydantic describe them.
    raw = TypeAdapter(tp).json_schema()
    return _clean(_inline_refs(raw, raw.get("$defs", {})))


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            return _inline_refs(target, defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


def _clean(node: Any) -> Any:
    # Titles repeat the property names and cost prompt tokens for small models.
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node
