"""The ``Tool``: a name, a description, a JSON schema for its parameters, and a function.

Arguments are validated with a pydantic model before the call. The model comes from the
function's type hints (``@tool``) or is built from the JSON schema (YAML/HTTP tools).
Validation coerces only safe things (``"3"`` to ``3`` for an integer, ``1`` to ``1.0``),
fills defaults, and rejects unknown parameters; every problem is reported in words a
model can act on.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from rapidfuzz import process

from kapibara.errors import ToolDefinitionError
from kapibara.models.base import ToolSpec
from kapibara.tools.context import ToolContext
from kapibara.tools.errors import ToolArgumentError
from kapibara.tools.schema import standard_schema

_FORBID = ConfigDict(extra="forbid")

DEFAULT_MAX_OUTPUT_CHARS = 8000
"""A tool's observation is cut after this many characters: a 4k-token context cannot hold
more, and a huge result (a web page, a log) must not push the instructions out of it."""


@dataclass
class Tool:
    """A callable tool the model can use.

    ``parameters`` is a JSON schema of ``type: object``. ``context_param`` names the
    function parameter that receives the ``ToolContext`` (not in the schema). ``target``
    records where a configured tool points (``module:function`` or an URL) for display.
    ``args_model`` is the pydantic model used by ``validate``; built from ``parameters``
    when not given. ``side_effect`` declares that a call changes something (a cart, a
    file, an order): the agent's side-effect policy decides whether it runs, waits for the
    user, or is refused. ``max_output_chars`` caps the observation (longer output is cut,
    with a marker saying so); None for no cap. ``direct_answer`` renders a successful
    call's return value as the turn's answer, ``direct_answer(value, language) -> str``
    (LangChain's ``return_direct``, with a renderer): when every call of a step has one,
    the agent answers with the renderings and spends no generation on restating the
    results (the renderer returns None to leave the answer to the model).
    ``vocabulary`` lists, per free-text string parameter (or list of strings), the terms
    the tool understands:
    ``{"scenario": {"camera": ["拍照", "camera"], ...}}`` (a name, then the words that
    mean it). The agent's ``vocabulary`` rung keeps only the terms the user actually said
    (see ``kapibara.agent.repair.snap_vocabulary``): a small model writes "推荐水果" or
    "聚会用的零食来5款" where the tool understands "" or "聚会".
    ``entities`` lists, per string parameter that names a thing (a product, a city), the
    names the tool knows: ``{"product_name": {"五常大米": ["五常稻花香", "Wuchang rice"]}}``
    (a canonical name, then its other names). The agent's ``entities`` rung replaces a
    value that is no known name with the one known name it is a close misspelling of
    ("五长大米", "oppo aec2"; see ``kapibara.agent.repair.resolve_entities``).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] | None = None
    timeout_s: float = 30.0
    context_param: str | None = None
    target: str | None = None
    args_model: type[BaseModel] | None = field(default=None, repr=False, compare=False)
    side_effect: bool = False
    max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS
    direct_answer: Callable[[Any, str], str | None] | None = field(default=None, repr=False, compare=False)
    vocabulary: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False, compare=False)
    entities: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False, compare=False)
    _model: type[BaseModel] | None = field(default=None, init=False, repr=False, compare=False)
    _from_hints: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or re.search(r"\s", self.name):
            raise ToolDefinitionError(
                f"invalid tool name {self.name!r}",
                hint="use a non-empty name without spaces, e.g. 'get_weather'",
            )
        params = self.parameters
        if not isinstance(params, dict) or params.get("type", "object") not in ("object", "dict"):
            raise ToolDefinitionError(
                f"tool '{self.name}': parameters must be a JSON schema with type 'object'",
                hint='e.g. {"type": "object", "properties": {"city": {"type": "string"}}}',
            )
        # One spelling of every type ("dict" -> "object", "float" -> "number", ...), so specs
        # are valid JSON schema for validators, grammars and the model.
        params = standard_schema(params)
        self.parameters = {**params, "type": "object", "properties": dict(params.get("properties") or {})}
        if self.timeout_s <= 0:
            raise ToolDefinitionError(f"tool '{self.name}': timeout_s must be > 0")
        if self.max_output_chars is not None and self.max_output_chars < 1:
            raise ToolDefinitionError(f"tool '{self.name}': max_output_chars must be >= 1 (or None for no cap)")
        self._from_hints = self.args_model is not None
        self._check_terms("vocabulary", self.vocabulary, '{"camera": ["拍照", "camera"], "battery": ["续航"]}', 1)
        self._check_terms("entities", self.entities, '{"五常大米": ["五常稻花香", "Wuchang rice"], "车厘子": []}', 0)

    def _check_terms(self, what: str, table: dict[str, dict[str, list[str]]], example: str, min_words: int) -> None:
        """``vocabulary`` / ``entities``: per string parameter, names mapped to lists of words."""
        props = self.parameters["properties"]
        for param, terms in (table or {}).items():
            where = f"tool '{self.name}': {what} for '{param}'"
            prop = props.get(param, {})
            is_text = prop.get("type") == "string" or (
                what == "vocabulary" and prop.get("type") == "array" and (prop.get("items") or {}).get("type") == "string")
            if not is_text:
                raise ToolDefinitionError(f"{where}: '{param}' is not a string parameter of the tool",
                                          hint=f"string parameters: {', '.join(k for k, v in props.items() if v.get('type') == 'string') or 'none'}")
            if not isinstance(terms, dict) or not terms or not all(
                    isinstance(name, str) and name.strip() and isinstance(words, list | tuple) and len(words) >= min_words
                    and all(isinstance(w, str) and w.strip() for w in words)
                    for name, words in terms.items()):
                raise ToolDefinitionError(f"{where}: expected a mapping of names to {'non-empty ' if min_words else ''}lists of words",
                                          hint=f"e.g. {example}")

    # -- what the model sees -------------------------------------------------------

    def spec(self) -> ToolSpec:
        """The OpenAI tool dict: ``{"type": "function", "function": {...}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    @property
    def param_names(self) -> list[str]:
        """Names of the parameters the model may pass."""
        return list(self.parameters.get("properties", {}))

    # -- validation and calling ------------------------------------------------------

    def _validator(self) -> type[BaseModel]:
        if self.args_model is not None:
            return self.args_model
        if self._model is None:
            try:
                self._model = model_from_schema(self.name, self.parameters)
            except (TypeError, ValueError) as exc:
                raise ToolDefinitionError(
                    f"tool '{self.name}': cannot build a validator from its parameters schema: {exc}",
                    hint="check the JSON schema (types, enum, required)",
                ) from exc
        return self._model

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Check and coerce the model's arguments; fill defaults.

        Raises ``ToolArgumentError`` listing every problem.
        """
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ToolArgumentError(
                self.name, [f"arguments must be a JSON object, got {_show(arguments)}"]
            )
        model = self._validator()
        try:
            obj = model.model_validate(arguments)
        except ValidationError as exc:
            raise ToolArgumentError(self.name, describe_errors(exc, self.param_names)) from None
        if self._from_hints:
            # Keep Python objects (pydantic models, enums) the function's hints ask for.
            return {f.alias or n: getattr(obj, n) for n, f in type(obj).model_fields.items()}
        data = obj.model_dump(by_alias=True, warnings=False)
        # Only fill defaults the schema states; an absent optional stays absent so an
        # HTTP tool does not receive "x": null it never asked for.
        props = self.parameters.get("properties", {})
        set_aliases = {type(obj).model_fields[n].alias or n for n in obj.model_fields_set}
        return {
            k: v
            for k, v in data.items()
            if k in set_aliases or (isinstance(props.get(k), dict) and "default" in props[k])
        }

    def invoke(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Any:
        """Validate ``arguments``, inject the context, call the function, return its value.

        Async functions are run to completion with ``asyncio.run`` (call this from a
        worker thread, as the executor does, not from inside a running event loop).
        """
        if self.fn is None:
            raise ToolDefinitionError(
                f"tool '{self.name}' has no function to call",
                hint="give it a fn, a 'target: module:function', or an 'http' section",
            )
        kwargs = self.validate(arguments)
        if self.context_param:
            kwargs[self.context_param] = ctx if ctx is not None else ToolContext()
        result = self.fn(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly, as if it were not decorated."""
        if self.fn is None:
            raise ToolDefinitionError(f"tool '{self.name}' has no function to call")
        return self.fn(*args, **kwargs)


async def _await(awaitable: Any) -> Any:
    return await awaitable


# -- JSON schema -> pydantic model ------------------------------------------------------

_SIMPLE: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
}


def _schema_to_type(schema: Any, where: str) -> Any:
    if not isinstance(schema, dict) or not schema:
        return Any
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: 'enum' must be a non-empty list")
        return Literal[tuple(values)]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            members = [_schema_to_type(s, where) for s in schema[key]]
            return Union[tuple(members)]  # noqa: UP007 - built at run time
    typ = schema.get("type")
    if isinstance(typ, list):
        members = [_schema_to_type({**schema, "type": t}, where) for t in typ]
        return Union[tuple(members)]  # noqa: UP007
    if typ is None:
        return Any
    if typ in _SIMPLE:
        return _SIMPLE[typ]
    if typ == "array":
        return list[_schema_to_type(schema.get("items"), where)]  # type: ignore[misc]
    if typ == "object":
        if schema.get("properties"):
            return model_from_schema(where, schema)
        return dict[str, Any]
    raise ValueError(f"{where}: unknown type {typ!r}")


def _field_constraints(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = {
        "minimum": "ge",
        "maximum": "le",
        "exclusiveMinimum": "gt",
        "exclusiveMaximum": "lt",
        "minLength": "min_length",
        "maxLength": "max_length",
        "minItems": "min_length",
        "maxItems": "max_length",
        "pattern": "pattern",
    }
    for key, arg in pairs.items():
        if key in schema:
            out[arg] = schema[key]
    return out


def _coerce_default(typ: Any, default: Any) -> Any:
    # Hand-written schemas carry defaults like "false" for a boolean; coerce them once
    # here so a bad default never shows up as the model's mistake.
    if default is None:
        return None
    try:
        return TypeAdapter(typ).validate_python(default)
    except ValidationError:
        return default


def model_from_schema(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """Build a pydantic model (extra parameters forbidden) from an object JSON schema."""
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    fields: dict[str, Any] = {}
    for i, (pname, pschema) in enumerate(props.items()):
        pschema = pschema if isinstance(pschema, dict) else {}
        typ = _schema_to_type(pschema, f"{name}.{pname}")
        finfo: dict[str, Any] = {"alias": pname, **_field_constraints(pschema)}
        if pname in required:
            fields[f"p{i}"] = (Annotated[typ, Field(**finfo)], ...)
        else:
            default = _coerce_default(typ, pschema.get("default"))
            fields[f"p{i}"] = (Annotated[Optional[typ], Field(**finfo)], default)  # noqa: UP045
    safe = re.sub(r"\W", "_", name) or "tool"
    return create_model(f"{safe}_args", __config__=_FORBID, **fields)


# -- pydantic errors -> words a model can act on -----------------------------------------


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def describe_errors(exc: ValidationError, valid_names: list[str]) -> list[str]:
    """One short sentence per validation problem, naming the parameter."""
    problems: list[str] = []
    for err in exc.errors():
        # Union members each report; the first member's message is enough for a model.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal["))) )
        loc = tuple(p for p in loc if p not in ("str", "int", "float", "bool", "list", "dict", "none"))
        path = _loc(loc)
        typ = err["type"]
        ctx = err.get("ctx") or {}
        got = _show(err.get("input"))
        if typ == "extra_forbidden":
            msg = f"unknown parameter '{path}'"
            match = process.extractOne(str(loc[-1]) if loc else path, valid_names, score_cutoff=60)
            if match:
                msg += f" (did you mean '{match[0]}'?)"
            if valid_names:
                msg += "; valid parameters: " + ", ".join(valid_names)
            problems.append(msg)
            continue
        what = _ERROR_WORDS.get(typ)
        text = what.format(got=got, **ctx) if what else err["msg"][:1].lower() + err["msg"][1:]
        line = f"parameter '{path}': {text}" if path else text
        if line not in problems:
            problems.append(line)
    return problems


_ERROR_WORDS: dict[str, str] = {
    "missing": "is required but missing",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "int_parsing": "must be an integer, got {got}",
    "int_type": "must be an integer, got {got}",
    "int_from_float": "must be a whole number, got {got}",
    "float_parsing": "must be a number, got {got}",
    "float_type": "must be a number, got {got}",
    "bool_parsing": "must be true or false, got {got}",
    "bool_type": "must be true or false, got {got}",
    "string_type": "must be a string, got {got}",
    "list_type": "must be a list (JSON array), got {got}",
    "dict_type": "must be an object (JSON object), got {got}",
    "model_type": "must be an object (JSON object), got {got}",
    "model_attributes_type": "must be an object (JSON object), got {got}",
    "literal_error": "must be one of {expected}, got {got}",
    "enum": "must be one of {expected}, got {got}",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "string_pattern_mismatch": "must match the pattern {pattern}, got {got}",
    "none_required": "must be null, got {got}",
}
