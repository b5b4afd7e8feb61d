"""A JSON schema as GBNF: llama-cpp-python's converter, JSON's string characters, a number's maximum."""

from __future__ import annotations

import json

import pytest

from kapibara.models.base import Constraint
from kapibara.models.schema_grammar import (
    JSON_CHAR,
    LOOSE_CHAR,
    bounded_number,
    json_chars,
    schema_gbnf,
)

llama_cpp = pytest.importorskip("llama_cpp")


def test_without_a_maximum_the_grammar_is_llama_cpp_python_s_own_with_json_s_string_characters():
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                                               "max": {"type": "number", "minimum": 0}},
              "required": ["city"], "additionalProperties": False}
    theirs = json_schema_to_gbnf(json.dumps(schema))
    assert LOOSE_CHAR in theirs  # the converter's rule this module narrows is still there
    ours = schema_gbnf(schema)
    assert ours == theirs.replace(LOOSE_CHAR, JSON_CHAR) == json_chars(theirs)
    assert LOOSE_CHAR not in ours
    llama_cpp.LlamaGrammar.from_string(ours, verbose=False)  # llama.cpp parses the \x escapes


@pytest.mark.model
def test_a_constrained_string_holds_no_raw_newline(real_model):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
              "additionalProperties": False}
    asked = [{"role": "user", "content": "Write a Python hello world program in a markdown code block."}]
    opened = '{"answer": "```python'  # written for the model: a code block's first line
    loose = schema_gbnf(schema).replace(JSON_CHAR, LOOSE_CHAR)
    free = real_model.chat(asked, constraint=Constraint(grammar=loose, prefix=opened), max_tokens=24)
    assert "\n" in free.text  # what the converter's own rule lets through: not JSON
    done = real_model.chat(asked, constraint=Constraint(json_schema=schema, prefix=opened), max_tokens=24)
    assert done.text.startswith('{"answer": "') and not any(ord(ch) < 0x20 for ch in done.text)


def test_a_maximum_bounds_the_digits():
    assert bounded_number({"type": "integer", "maximum": 999}) == '"-"? ([0-9] | [1-9] [0-9]{0,2}) space'
    assert bounded_number({"type": "integer", "maximum": 9}) == '"-"? [0-9] space'
    assert '("." [0-9]{1,6})?' in (bounded_number({"type": "number", "maximum": 50}) or "")
    for not_bounded in ({"type": "integer"}, {"type": "string", "maximum": 9}, {"type": "integer", "maximum": -1},
                        {"type": "integer", "maximum": 9, "enum": [1, 2]}, {"type": "integer", "maximum": True}):
        assert bounded_number(not_bounded) is None
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 99}}, "required": ["n"]}
    llama_cpp.LlamaGrammar.from_string(schema_gbnf(schema), verbose=False)  # llama.cpp parses it


@pytest.mark.model
def test_the_model_cannot_write_more_digits_than_the_maximum_has(real_model):
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 99}}, "required": ["n"],
              "additionalProperties": False}
    asked = [{"role": "user", "content": 'Reply with exactly this JSON: {"n": 123456}'}]
    free = real_model.chat(asked, constraint=Constraint(json_schema={**schema, "properties": {"n": {"type": "integer"}}}),
                           max_tokens=20)
    assert json.loads(free.text)["n"] == 123456  # what it writes when nothing bounds it
    done = real_model.chat(asked, constraint=Constraint(json_schema=schema), max_tokens=20)
    assert 0 <= json.loads(done.text)["n"] <= 99
