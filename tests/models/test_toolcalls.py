from kapibara.models.toolcalls import parse_tool_calls


def test_strict_qwen_block_is_not_lenient():
    p = parse_tool_calls('<tool_call>\n{"name": "view_cart", "arguments": {}}\n</tool_call>')
    assert [c.name for c in p.calls] == ["view_cart"]
    assert not p.lenient and p.error is None


def test_several_blocks_give_several_calls():
    text = (
        '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {"y": "z"}}</tool_call>'
    )
    p = parse_tool_calls(text)
    assert [(c.name, c.arguments) for c in p.calls] == [("a", {"x": 1}), ("b", {"y": "z"})]


def test_json5_inside_tag_is_lenient():
    p = parse_tool_calls("<tool_call>{'name': 'a', 'arguments': {'x': 1,},}</tool_call>")
    assert p.calls[0].arguments == {"x": 1}
    assert p.lenient


def test_fenced_json_in_prose():
    text = '好的，我来查一下。\n```json\n{"name": "get_weather", "arguments": {"city": "北京"}}\n```'
    p = parse_tool_calls(text)
    assert p.calls[0].name == "get_weather" and p.calls[0].arguments == {"city": "北京"}
    assert p.lenient
    assert "我来查一下" in p.content


def test_bare_json_with_parameters_key_and_string_arguments():
    p = parse_tool_calls('{"name": "f", "parameters": "{\\"a\\": 2}"}')
    assert p.calls[0].arguments == {"a": 2}


def test_plain_text_has_no_call_and_no_error():
    p = parse_tool_calls("你好！有什么可以帮你？")
    assert p.calls == [] and p.error is None
    assert p.content == "你好！有什么可以帮你？"


def test_broken_json_in_tag_reports_error():
    p = parse_tool_calls('<tool_call>{"name": "f", "arguments": {"a": </tool_call>')
    assert p.calls == [] and p.error and "JSON" in p.error


def test_unclosed_tag_still_parses():
    p = parse_tool_calls('<tool_call>\n{"name": "view_cart", "arguments": {}}')
    assert p.calls[0].name == "view_cart"


def test_a_call_cut_off_before_its_closing_brace_is_an_error_not_an_answer():
    for text in ['{"name": "fastest_route", "arguments": {"start": "New York"}',
                 '```json\n{"name": "view_cart", "arguments": {']:
        p = parse_tool_calls(text)
        assert p.calls == [] and p.error and "not closed" in p.error, text
    assert parse_tool_calls("好的，{这} 不是调用").error is None
    assert parse_tool_calls('{"answer": "hi"').error is None  # no call key: left to the caller
