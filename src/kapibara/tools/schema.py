"""JSON schemas as tools are written in the wild, made standard: the one normalisation.

Benchmark tool sets (BFCL) write ``dict``, ``float``, ``tuple`` and ``any``; Python-minded
authors write ``int``, ``str``, ``bool``. Validators and grammar compilers accept only
the standard names, so every schema that enters a ``Tool`` passes through here.
"""

from __future__ import annotations

from typing import Any

_TYPE_ALIASES = {"dict": "object", "float": "number", "tuple": "array", "int": "integer", "bool": "boolean", "str": "string"}


def standard_schema(schema: Any) -> Any:
    """A copy of a parameters schema in standard JSON-schema types.

    Tool sets from benchmarks (BFCL) write ``dict``, ``float``, ``tuple`` and ``any``;
    grammar compilers accept only the standard names.
    """
    if isinstance(schema, list):
        return [standard_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: standard_schema(v) for k, v in schema.items() if k != "properties"}
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {k: standard_schema(v) for k, v in schema["properties"].items()}
    typ = schema.get("type")
    if typ == "any":
        out.pop("type")
    elif isinstance(typ, str):
        out["type"] = _TYPE_ALIASES.get(typ, typ)
    elif isinstance(typ, list):
        out["type"] = [_TYPE_ALIASES.get(t, t) for t in typ if t != "any"] or None
        if out["type"] is None:
            out.pop("type")
    return out
