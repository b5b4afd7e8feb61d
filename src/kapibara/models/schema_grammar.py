"""A JSON schema as a GBNF grammar, with a number's ``maximum`` bounding its digits.

llama-cpp-python's converter (``llama_cpp.llama_grammar.SchemaConverter``, a port of
llama.cpp's ``json_schema_to_grammar.py``) ignores ``minimum`` and ``maximum``: any
number may run to sixteen digits. A small model that wants to write a token the grammar
refuses (another key after the last property a tool declares) writes digits instead:
the tuned 0.5B wrote ``"limit": 1000000000000`` for "30块以内的零食", twelve decoding
steps a rung then threw away. Here a ``number`` or ``integer`` with a non-negative
``maximum`` gets as many integer digits as the maximum has, and no more (the bound is on
digits, not on the value: ``maximum: 999`` is exact, ``maximum: 500`` admits 999).

The converter's string characters are also narrowed to what JSON allows: its ``char``
rule admits raw control characters, so a constrained answer could hold a literal newline
and then fail to parse. The 0.5B wrote ``{"answer": "```json`` and a newline under the
answer schema on BFCL ``multiple``: the decision came back malformed, with neither a call
nor an answer. llama.cpp's own converter (``json-schema-to-grammar.cpp``) excludes them
the same way.

    gbnf = schema_gbnf({"type": "object", "properties": {"n": {"type": "integer", "maximum": 99}}})
"""

from __future__ import annotations

import json
from typing import Any

FRACTION_DIGITS = 6
"""Decimal places a bounded ``number`` may write."""


def schema_gbnf(schema: dict[str, Any]) -> str:
    """``schema`` as GBNF text for ``llama_cpp.LlamaGrammar.from_string``."""
    from llama_cpp.llama_grammar import SchemaConverter

    class Converter(SchemaConverter):
        def visit(self, schema: Any, name: str) -> Any:
            rule = bounded_number(schema)
            if rule is not None:
                return self._add_rule(f"{name or 'root'}-bounded", rule)
            return super().visit(schema, name)

    converter = Converter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    resolved = converter.resolve_refs(json.loads(json.dumps(schema)), "stdin")
    converter.visit(resolved, "")
    return json_chars(str(converter.format_grammar()))


LOOSE_CHAR = r'char ::= [^"\\] | '
"""The start of the converter's string-character rule: any character but a quote or a backslash."""
JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] | '
"""The same, without the control characters JSON strings may not hold raw."""


def json_chars(gbnf: str) -> str:
    """``gbnf`` with its string characters limited to those JSON admits unescaped."""
    return gbnf.replace(LOOSE_CHAR, JSON_CHAR)


def bounded_number(schema: Any) -> str | None:
    """The GBNF body for a number with a non-negative ``maximum``; None for anything else."""
    if not isinstance(schema, dict) or schema.get("type") not in ("integer", "number") \
            or "enum" in schema or "const" in schema:
        return None
    top = schema.get("maximum")
    if isinstance(top, bool) or not isinstance(top, int | float) or top < 0:
        return None
    digits = len(str(int(top)))
    whole = "[0-9]" if digits == 1 else f"([0-9] | [1-9] [0-9]{{0,{digits - 1}}})"
    fraction = f' ("." [0-9]{{1,{FRACTION_DIGITS}}})?' if schema["type"] == "number" else ""
    return f'"-"? {whole}{fraction} space'
