"""An answer written after tool calls that is no answer (raw result JSON, the question
echoed, a looping phrase) is written again from the results, or the results are shown."""

from __future__ import annotations

import json

import pytest
from grocery_standin import call

from kapibara.agent import Agent
from kapibara.agent.answer_check import answer_problem, call_shaped, claims_action
from kapibara.agent.router import Route
from kapibara.models.fake import FakeModel
from kapibara.tools import ToolSet, tool

CART = json.dumps({"ok": True, "added": "农夫山泉 ×2", "in_cart": 2, "cart_total": "59.8元"}, ensure_ascii=False)


def test_raw_result_json_is_not_an_answer():
    assert answer_problem(CART, "把两瓶农夫山泉加入购物车", [CART]) == "raw_data"
    fenced = '```json\n{"response": {"product": "iPhone 15", "price": "5999元"}}\n```'
    assert answer_problem(fenced, "iPhone 15多少钱") == "raw_data"
    assert answer_problem(f"好的，结果如下：{CART}", "加入购物车", [CART]) == "raw_data"
    assert answer_problem(CART, "加入购物车，结果用 JSON 给我", [CART]) is None  # asked for


def test_the_question_repeated_is_not_an_answer():
    assert answer_problem("杭州今天适合出门吗？看下天气。", "杭州今天适合出门吗？看下天气。") == "echo"
    assert answer_problem("Is it raining in Paris", "is it raining in paris today?") == "echo"


def test_a_looping_phrase_is_not_an_answer():
    assert answer_problem("五常大米饭，五常大米饭，五常大米饭，五常大米饭，", "五常大米怎么煮") == "repetition"


def test_real_answers_pass():
    assert answer_problem("已把农夫山泉 ×2 加入购物车，现在共 2 件，合计 59.8元。", "加两瓶农夫山泉", [CART]) is None
    assert answer_problem("好的", "好的，谢谢") is None  # too short to be an echo
    assert answer_problem("1. 五花肉切块焯水\n2. 小火炒糖色\n3. 加料酒炖1小时", "红烧肉怎么做") is None
    assert answer_problem("哈哈哈哈", "讲个笑话") is None  # a short laugh, not a loop over the answer
    assert answer_problem("", "x") is None
    assert answer_problem("[1, 2] is the list you gave", "sort [2, 1]") is None


def _tools():
    @tool
    def add_to_cart(product_name: str, quantity: int = 1) -> dict:
        """Add a product to the cart."""
        return {"ok": True, "added": f"{product_name} ×{quantity}", "in_cart": quantity, "cart_total": "59.8元"}

    return ToolSet([add_to_cart])


def test_raw_json_after_a_call_is_rewritten_from_the_results():
    model = FakeModel([call("add_to_cart", product_name="农夫山泉", quantity=2), CART,
                       "已加入购物车：农夫山泉 ×2，合计59.8元。"])
    r = Agent(model, _tools(), language="zh").run("把两瓶农夫山泉加入购物车")
    assert r.answer == "已加入购物车：农夫山泉 ×2，合计59.8元。"
    assert [e["problem"] for e in r.trace if e["type"] == "answer_rewritten"] == ["raw_data"]
    # the rewrite is asked from the results alone, no tools offered
    assert model.calls[-1].tools is None and "农夫山泉 ×2" in str(model.calls[-1].messages)


def test_a_rewrite_that_fails_too_shows_the_results_readably():
    model = FakeModel([call("add_to_cart", product_name="农夫山泉", quantity=2), CART, CART])
    r = Agent(model, _tools(), language="zh").run("把两瓶农夫山泉加入购物车")
    assert "{" not in r.answer and "added: 农夫山泉 ×2" in r.answer and "59.8元" in r.answer


def test_an_answer_without_tool_results_is_left_alone():
    model = FakeModel(["你好，你好，你好，你好，"])
    r = Agent(model, _tools(), language="zh").run("你好")
    assert r.answer == "你好，你好，你好，你好，" and len(model.calls) == 1


@pytest.mark.parametrize("text, name", [
    ('{"name": "book_ticket", "arguments": {"destination": "上海"}}\n', "book_ticket"),
    ('```json\n{"name": "book_ticket", "parameters": {}}\n```', "book_ticket"),
    ('<tool_call>{"name": "get_weather", "arguments": {"city": "杭州"}}</tool_call>', "get_weather"),
    ('{"name": "张三", "age": 3}', None),           # a JSON object, not a call
    ('可以帮你查 {"name": "x", "arguments": {}}', None),  # prose with JSON in it is an answer
    ("好的。", None),
])
def test_call_shaped_names_the_tool_a_call_written_as_an_answer_reaches_for(text, name):
    assert call_shaped(text) == name


class _NoTool:
    def route(self, messages, tool_names):
        return Route("answer", [], 0.9, {"__none__": 0.9})


def test_a_call_to_a_tool_it_does_not_have_written_as_the_answer_is_not_shown():
    # "帮我订一张明天去上海的机票": the router says no tool, the 0.5B writes a book_ticket call,
    # then writes it again as its tool-less answer. The user reads a plain "cannot do".
    ticket = '{"name": "book_ticket", "arguments": {"destination": "上海", "date": "明天"}}'
    r = Agent(FakeModel([ticket, ticket]), _tools(), language="zh", router=_NoTool()).run("帮我订一张明天去上海的机票")
    assert "book_ticket" not in r.answer and r.tool_calls == []
    assert "办不到" in r.answer


def test_an_answer_wrapped_as_the_constrained_rungs_json_is_unwrapped():
    from kapibara.agent.answer_check import unwrap_answer

    assert unwrap_answer('{"answer": "你好！"}') == "你好！"
    assert unwrap_answer('{"answer": "a", "x": 1}') == '{"answer": "a", "x": 1}'
    assert unwrap_answer("好的") == "好的"


def test_an_answer_that_repeats_the_error_the_model_was_shown_is_not_shown():
    # conv:cart-005 on the 0.5B: every rung failed, the loop showed the error, and the
    # model wrote it back: '{"answer": "观察到上一次的输出无法执行：constrained output is not JSON: ..."}'
    bad = "<tool_call>{not json at all</tool_call>"
    echo = '{"answer": "你上一次的输出无法执行：the tool call could not be parsed as JSON, please fix it"}'
    model = FakeModel(lambda messages, tools: echo if "无法执行" in str(messages[-1]) else bad)
    r = Agent(model, _tools(), language="zh", max_steps=3).run("把两瓶农夫山泉加入购物车")
    assert "无法执行" not in r.answer and "JSON" not in r.answer
    assert any(e["type"] == "answer_replaced" and e["problem"] == "error_echo" for e in r.trace)


# Replies the bundled models wrote with no call in them (bench/results caches): each says
# an action is done or under way, and none was.
CLAIMS = [
    "好的，这个我帮你处理。",
    "好的，我会把 vivo X60 Pro 加入你的购物车。",
    "好的，我帮你购买了一台 vivo X60 Pro。",
    "好的，我帮你设置一个明早7点的闹钟。",
    "好的，我已经设置了一个明早7点的闹钟。",
    "好的，我帮你订机票。",
    "好的，删除农夫山泉。",
    "好的，查看购物车里的商品、数量和总价。",
    "已为你加入购物车。",
    "Sure, I'll add two bottles of Nongfu Spring to your cart.",
    "Done! I've added the rice to your cart.",
]

NOT_CLAIMS = [
    "抱歉，这个我帮不上忙。我是购物助手，可以帮你推荐商品、查询商品信息和优惠、推荐菜谱、管理购物车或查天气。",
    "抱歉，这个问题我没有查到可靠的信息，不能凭空给出。请告诉我具体想查的商品、城市或菜品，我来帮你查询。",
    "好的，这个我可以帮你查，请告诉我需要。",
    "好的，请告诉我您需要预订的机票的出发地、目的地、出发日期和返回日期。",
    "好的，有什么其他问题吗？",
    "好的，可以聊聊你的心情和感受。",
    "好的，周末可以试试三文鱼。",
    "好的，我明白了。",
    "我不能帮你订机票，我没有这个工具。",
    "vivo X60 Pro 是 6.56 英寸 AMOLED 屏，120Hz 刷新率。",
    "I can't book flights: none of my tools does that.",
    "The boiling point of water at sea level is 100 degrees Celsius. At higher altitudes the pressure is "
    "lower, so water boils at a lower temperature; I'll explain why: the vapour pressure must equal the "
    "surrounding pressure.",
]


@pytest.mark.parametrize("text", CLAIMS)
def test_claims_action_reads_a_reply_that_says_it_acted(text: str) -> None:
    assert claims_action(text)


@pytest.mark.parametrize("text", NOT_CLAIMS)
def test_claims_action_leaves_refusals_questions_and_answers(text: str) -> None:
    assert not claims_action(text)
