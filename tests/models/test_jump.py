"""Jump-forward text for tool calls (kapibara.models.jump): what a call must go on with."""

import pytest

from kapibara.models.jump import continuation

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                   "days": {"type": "integer"}},
    "required": ["city", "days"]}}}
PRODUCT = {"type": "function", "function": {"name": "get_product_info", "parameters": {
    "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
TOOLS = [WEATHER, PRODUCT]


@pytest.mark.parametrize(("text", "forced"), [
    ("<tool_call>", '\n{"name": "'),
    ('<tool_call>\n{"name": "get_weather"', ', "arguments": {"'),
    ('<tool_call>\n{"name": "get_weather",', ' "arguments": {"'),
    ('<tool_call>\n{"name": "get_weather", "arguments": {"ci', 'ty": "'),
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"', ', "'),
    # never a lone space at the end: the model's next token starts with it (` 3`, ` [`)
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京", "da', 'ys":'),
    # pretty-printed: the indentation the model began is finished, not replaced
    ('```json\n{\n  "name": "get_weather",\n', '  "arguments":'),
    ('```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "x",\n', '    "'),
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京", "days": 3,', ' "unit": "'),
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "x", "days": 3, "unit": "f', 'ahrenheit"}}\n</tool_call>'),
    ('<tool_call>\n{"name": "get_product_info", "arguments": {"name": "x"}', "}\n</tool_call>"),
    ('```json\n{\n  "name": "get_weather"', ',\n  "arguments":'),
    ('```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "x"', ',\n    "'),
    ('```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "x",\n    "days": 1\n  }', "\n}\n```"),
])
def test_forced_text_follows_the_schema_and_the_written_format(text, forced):
    assert continuation(text, TOOLS) == forced


@pytest.mark.parametrize("text", [
    "",
    "你好，今天天气不错",
    'Sure: {"name": "get_weather"',  # prose first: not a call the parser reads first
    '<tool_call>\n{"name": "get_w',  # names are the model's to finish (below)
    '<tool_call>\n{"name": "get_weather_forecast"',  # a made-up tool: nothing forced
    '<tool_call>\n{"name": "get_weather", "arguments": {"town', # no such parameter
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "x", "days": 3',  # optional unit left
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "x", "days": 3}}\n</tool_call>',
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "x", "days": {"a": ',  # nested: free
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "x",, ',  # invalid JSON: free
    '```json\n{\n  "name": "get_weather",\n  "arguments": {',  # pretty: whitespace not known yet
    '```json\n{\n  "name": "get_weather",\n\t',  # whitespace that is not the object's own
])
def test_nothing_is_forced_where_the_model_has_a_choice(text):
    assert continuation(text, TOOLS) == ""


def test_names_are_completed_only_when_asked_and_unique():
    assert continuation('<tool_call>\n{"name": "get_w', TOOLS, names=True) == 'eather", "arguments": {"'
    assert continuation('<tool_call>\n{"name": "get_', TOOLS, names=True) == ""


def test_a_tool_without_parameters_closes_at_once():
    assert continuation('<tool_call>\n{"name": "get_time"', [CLOCK]) == ', "arguments": {}}\n</tool_call>'


def test_arguments_with_nothing_required_are_opened_by_the_model():
    optional = {"type": "function", "function": {"name": "view_cart", "parameters": {
        "type": "object", "properties": {"detail": {"type": "boolean"}}}}}
    assert continuation('<tool_call>\n{"name": "view_cart"', [optional]) == ', "arguments":'


def test_escapes_and_quotes_inside_values_do_not_end_the_string():
    text = '<tool_call>\n{"name": "get_product_info", "arguments": {"name": "a \\"b\\" {c}'
    assert continuation(text, TOOLS) == ""
    assert continuation(text + '"', TOOLS) == "}}\n</tool_call>"


def test_forced_text_completes_a_call_the_parser_reads():
    from kapibara.models.toolcalls import parse_tool_calls

    text = "<tool_call>"
    text += continuation(text, TOOLS)
    for written in ['get_weather"', "ci", '上海"', "days", " 2}"]:  # what the model writes
        text += written
        text += continuation(text, TOOLS)
    assert text == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "上海", "days": 2}}\n</tool_call>'
    parsed = parse_tool_calls(text)
    assert not parsed.lenient
    assert [(c.name, c.arguments) for c in parsed.calls] == [("get_weather", {"city": "上海", "days": 2})]


def test_tools_without_a_table_force_nothing():
    assert continuation("<tool_call>", []) == ""


def test_a_call_schemas_tools_are_what_its_grammar_admits():
    from kapibara.models.jump import schema_tools

    args = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    schema = {"anyOf": [
        {"type": "object", "properties": {"name": {"const": "get_weather"}, "arguments": args}},
        {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
    ]}
    tools = schema_tools(schema)
    assert tools == [{"function": {"name": "get_weather", "parameters": args}}]
    assert schema_tools({"type": "object", "properties": {"name": {"const": "x"}, "arguments": args}})[0][
        "function"]["name"] == "x"
    assert schema_tools(None) == [] and schema_tools({"type": "object"}) == []
    # under the grammar a tool name only one tool starts is completed; bare JSON leaves the
    # arguments' brace to the model
    assert continuation('{"name": "get_w', tools, names=True) == 'eather", "arguments":'
    assert continuation('{"name": "get_weather", "arguments": {"ci', tools, names=True) == 'ty": "'
