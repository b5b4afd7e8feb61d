"""The ReAct text parser on the shapes small models actually write."""

from kapibara.agent.parsing import parse_react


def test_strict_action_step():
    p = parse_react('Thought: 查天气\nAction: get_weather\nAction Input: {"city": "北京"}')
    assert [(c.name, c.arguments) for c in p.calls] == [("get_weather", {"city": "北京"})]
    assert p.thought == "查天气" and p.answer is None and not p.lenient and p.error is None


def test_final_answer():
    p = parse_react("Thought: 不需要工具\nFinal Answer: 你好！")
    assert p.answer == "你好！" and p.calls == [] and p.thought == "不需要工具"


def test_invented_observation_and_what_follows_are_ignored():
    p = parse_react(
        'Action: view_cart\nAction Input: {}\nObservation: 购物车里有苹果\nThought: 好\nFinal Answer: 苹果'
    )
    assert [c.name for c in p.calls] == ["view_cart"] and p.answer is None


def test_several_actions_give_several_calls():
    p = parse_react(
        'Action: get_weather\nAction Input: {"city": "北京"}\nAction: get_weather\nAction Input: {"city": "上海"}'
    )
    assert [c.arguments["city"] for c in p.calls] == ["北京", "上海"]


def test_full_width_colon_and_lowercase_are_lenient():
    p = parse_react('thought：查\naction：view_cart\naction input：{}')
    assert p.calls[0].name == "view_cart" and p.lenient


def test_json5_fenced_input_and_quoted_name():
    p = parse_react("Action: `add_to_cart`\nAction Input: ```json\n{'product_name': '车厘子', 'quantity': 2,}\n```")
    assert (p.calls[0].name, p.calls[0].arguments) == ("add_to_cart", {"product_name": "车厘子", "quantity": 2})
    assert p.lenient


def test_python_style_call_in_action_line():
    p = parse_react('Thought: 推荐\nAction: recommend_products(category="手机", limit=2)')
    assert p.calls[0].arguments == {"category": "手机", "limit": 2} and p.lenient


def test_action_without_input_means_no_arguments():
    p = parse_react("Thought: 看看\nAction: view_cart")
    assert p.calls[0].arguments == {} and p.lenient


def test_bad_json_input_is_an_error():
    p = parse_react('Action: get_weather\nAction Input: {"city": ')
    assert p.calls == [] and "JSON" in p.error


def test_input_that_is_not_an_object_is_an_error():
    p = parse_react('Action: get_weather\nAction Input: "北京"')
    assert p.error and "object" in p.error


def test_whole_call_object_as_input_is_unwrapped():
    p = parse_react('Action: get_weather\nAction Input: {"name": "get_weather", "arguments": {"city": "北京"}}')
    assert p.calls[0].arguments == {"city": "北京"} and p.lenient


def test_no_markers_is_a_direct_answer():
    p = parse_react("你好，有什么可以帮你？")
    assert p.answer == "你好，有什么可以帮你？" and p.calls == [] and p.error is None


def test_no_markers_but_a_json_call_is_found_leniently():
    p = parse_react('```json\n{"name": "view_cart", "arguments": {}}\n```')
    assert p.calls[0].name == "view_cart" and p.lenient


def test_thought_only_is_taken_as_the_answer():
    p = parse_react("Thought: 我不能订机票，只能帮你买菜。")
    assert p.answer == "我不能订机票，只能帮你买菜。"


def test_empty_action_is_an_error():
    assert parse_react("Thought: x\nAction: \nAction Input: {}").error
