"""Tools shown as signatures (kapibara.models.tool_text): everything the JSON says, fewer tokens."""

from __future__ import annotations

import json

from kapibara.models.tool_text import signature, signatures, splice

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather\n in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city's name."},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
        "days": {"type": "integer", "description": "How many days ahead."}},
        "required": ["city"]}}}
ORDER = {"name": "place_order", "description": "Order items.", "parameters": {"type": "object", "properties": {
    "items": {"type": "array", "description": "What to order.", "items": {"type": "object", "properties": {
        "sku": {"type": "string", "description": "Stock code."}, "count": {"type": "integer"}},
        "required": ["sku"]}},
    "address": {"type": "object", "properties": {"city": {"type": "string"}}, "description": "Where to."},
    "tags": {"type": "array", "items": {"type": "string"}},
    "note": {"type": ["string", "null"]},
    "any": {}},
    "required": ["items"]}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}

# The tools part of Qwen2.5's chat template, as the GGUF carries it.
QWEN_LIKE = (
    "{%- if tools %}<|im_start|>system\n{{ messages[0]['content'] }}\n\n# Tools\n\n<tools>"
    '{%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}{{- "\\n</tools>\\n\\nFor each call..." }}'
    "<|im_end|>\n{%- endif %}<|im_start|>user\n{{ messages[-1]['content'] }}<|im_end|>\n"
)
# A template that pretty-prints each tool over several lines (Llama 3.1's does).
INDENTED = "{%- for tool in tools %}{{ tool | tojson(indent=4) }}\n\n{%- endfor %}{{ messages[-1]['content'] }}"


def test_a_signature_keeps_names_types_enums_defaults_required_and_descriptions():
    assert signature(WEATHER) == (
        "// The current weather in a city.\n"
        'get_weather(city: string, unit?: "celsius"|"fahrenheit" = "celsius", days?: integer)\n'
        "  city: The city's name.\n"
        "  days: How many days ahead.")


def test_nested_objects_and_arrays_show_their_fields_and_descriptions():
    text = signature(ORDER)
    assert text.splitlines()[:2] == ["// Order items.", (
        "place_order(items: array[{sku: string, count?: integer}], address?: {city?: string}, "
        "tags?: array[string], note?: string|null, any?: any)")]
    assert "  items.sku: Stock code." in text and "  address: Where to." in text


def test_a_tool_with_no_parameters_or_description_is_one_line():
    assert signature(CLOCK) == "get_time()"
    assert signatures([CLOCK, CLOCK]) == "get_time()\nget_time()"


def _template(source):
    from kapibara.models.llamacpp import _compile_template

    return _compile_template(source)


def test_splice_puts_the_signatures_where_the_template_puts_the_json():
    template = _template(QWEN_LIKE)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather?"}]

    def render(tools):
        return template.render(messages=messages, tools=tools)

    shown = render([WEATHER, CLOCK])
    spliced = splice(render, [WEATHER, CLOCK])
    assert spliced is not None
    assert json.dumps(WEATHER, ensure_ascii=False) in shown
    assert spliced == shown.replace(
        json.dumps(WEATHER, ensure_ascii=False) + "\n" + json.dumps(CLOCK), signatures([WEATHER, CLOCK]))
    assert "<tools>\n// The current weather in a city.\nget_weather(city: string" in spliced
    assert "get_time()\n</tools>" in spliced
    assert len(spliced) < len(shown)


def test_a_template_that_does_not_show_a_tool_as_one_json_line_is_not_spliced():
    template = _template(INDENTED)

    def render(tools):
        return template.render(messages=[{"role": "user", "content": "hi"}], tools=tools)

    assert splice(render, [WEATHER]) is None
    assert splice(lambda tools: "no tools here", [WEATHER]) is None
