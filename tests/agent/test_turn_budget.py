"""Turn budgets: loops are caught, prose is not waited on, the deadline ends a turn."""

from __future__ import annotations

import time

from grocery_standin import call

from kapibara.agent import Agent, Budgets
from kapibara.agent.budget import (
    DEADLINE,
    NOT_A_CALL,
    REPETITION,
    grows,
    is_looping,
    is_prose,
    looks_like_call_start,
    trim_growing,
    trim_loop,
    watch,
)
from kapibara.agent.grounding import NumberGrounding
from kapibara.models.base import ToolCall
from kapibara.models.fake import FakeModel


def test_loops_are_recognised():
    assert is_looping("好的" + "好的好的" * 10)
    assert is_looping("推荐：\n" + "".join(f"{i}. 华为FreeBuds Pro 3 降噪耳机\n" for i in range(1, 5)))
    assert not is_looping("1. 华为FreeBuds Pro 3，1499元\n2. 漫步者W820NB，399元\n3. 小米Buds 4，699元")
    # a short heading that recurs in a real list is not a loop
    assert not is_looping("\n".join(f"价格：{p}元" for p in (10, 20, 30, 40)))


def test_trim_loop_keeps_the_first_copy():
    text = "推荐这些：\n" + "".join("- 华为FreeBuds Pro 3 降噪耳机\n" for _ in range(5))
    assert trim_loop(text) == "推荐这些：\n- 华为FreeBuds Pro 3 降噪耳机"


def test_prose_is_told_from_a_call_start():
    assert looks_like_call_start('<tool_call>\n{"name"')
    assert looks_like_call_start('  {"name": "get_weather"')
    assert not looks_like_call_start("当然可以！以下是一些适合跑步的耳机")
    assert is_prose("Sure! Here are some great headphones for running. " * 2, 90)
    assert not is_prose("好的，我来帮你查一下。", 90)


def test_watch_reasons():
    assert watch(deadline=time.monotonic() - 1)("x") == DEADLINE
    assert watch(prose_chars=20)("Here is a long answer with no call in it") == NOT_A_CALL
    w = watch()
    assert w("ab" * 40) == REPETITION


def test_repetition_stops_a_decision_and_the_answer_is_trimmed(tools):
    loop = "推荐：\n" + "".join("- 蓝牙耳机 跑步专用 防水防汗\n" for _ in range(60))
    model = FakeModel([loop])
    result = Agent(model, tools).run("推荐耳机")
    assert result.answer == "推荐：\n- 蓝牙耳机 跑步专用 防水防汗"
    record = next(r for r in result.trace if r["type"] == "model_call")
    assert record["finish_reason"] == REPETITION
    assert next(r for r in result.trace if r["type"] == "decision")["stops"] == {REPETITION: 1}


def test_caps_per_generation(tools):
    unknown = '<tool_call>{"name": "no_such_tool", "arguments": {}}</tool_call>'
    model = FakeModel([unknown, unknown, '{"answer": "好的"}'])
    Agent(model, tools, budgets=Budgets(decision_tokens=100, rung_tokens=40)).run("x")
    assert [c.max_tokens for c in model.calls] == [100, 40, 40]


def test_invented_prose_is_cut_and_looked_up(tools):
    prose = "Sure! Here are some headphones for running: Sony WF-1000XM4 at $280, Jabra Elite 8 at $199, " * 3
    model = FakeModel([prose, '{"name": "recommend_products", "arguments": {"category": "耳机"}}', "Found: 漫步者W820NB."])
    agent = Agent(model, tools, grounding=NumberGrounding(), max_steps=1)
    result = agent.run("Can you suggest some headphones for running?")
    first = model.calls[0]
    assert first.watch is not None
    decision = next(r for r in result.trace if r["type"] == "decision")
    assert decision["stops"] == {NOT_A_CALL: 1} and "lookup" in decision["repairs"]
    assert [c.name for c in result.tool_calls] == ["recommend_products"]
    assert model.calls[1].constraint is not None  # the look-up is decoded under the tools' schema
    # the cut text was short: the model did not write 3 copies of the invented list
    lookup = [r for r in result.trace if r["type"] == "model_call"][0]
    assert len(lookup["raw"]) < len(prose) / 2


def test_grounded_prose_is_continued_as_the_answer(tools):
    answer = "Hello! I can help you choose products, check promotions, suggest recipes and manage your cart. " * 2
    model = FakeModel([answer, answer])
    result = Agent(model, tools, grounding=NumberGrounding()).run("hi, what can you do?")
    assert result.answer.strip() == answer.strip() and result.tool_calls == []
    assert [r["rung"] for r in result.trace if r["type"] == "model_call"] == [None, "answer"]


def test_an_invented_fact_that_cannot_be_looked_up_is_not_shown(tools):
    model = FakeModel(["华为畅享20 Pro的价格是1999元。", '{"answer": "还是1999元"}'])
    result = Agent(model, tools, grounding=NumberGrounding(), max_steps=1).run("华为畅享20 Pro多少钱")
    assert "1999" not in result.answer and "没有查到" in result.answer
    decision = next(r for r in result.trace if r["type"] == "decision")
    assert decision["unsupported"] == ["1999"]


def test_facts_from_tool_results_are_fine(tools):
    model = FakeModel([call("get_promotions", product_name="三文鱼"), "三文鱼满199减20。"])
    result = Agent(model, tools, grounding=NumberGrounding()).run("三文鱼有优惠吗")
    assert result.answer == "三文鱼满199减20。"
    assert len(model.calls) == 2  # no look-up: 199 and 20 came from the tool


def test_the_deadline_ends_the_turn_with_a_clear_message(tools):
    model = FakeModel(["x" * 5000])
    agent = Agent(model, tools, budgets=Budgets(timeout_s=0.000001))
    time.sleep(0.001)
    result = agent.run("推荐耳机")
    assert result.stop_reason == "deadline"
    assert "超时" in result.answer


def test_an_answer_cut_by_the_deadline_is_not_shown_half_written(tools):
    model = FakeModel(["根据工具查询结果，推荐的手机是小米14，价格3999元，亮点是徕卡影像。" * 3])
    agent = Agent(model, tools, budgets=Budgets(timeout_s=0.000001))
    time.sleep(0.001)
    d = agent.decide([{"role": "user", "content": "推荐手机"}])
    assert d.text.startswith("抱歉") and "超时" in d.text


def test_an_invented_required_value_becomes_a_question(tools):
    from kapibara.agent.repair import missing_required, text_grounded

    assert text_grounded("三斤车厘子", "整点车厘子，来个三斤") and text_grounded("北京", "What's the weather in Beijing")
    assert not text_grounded("北京", "帮我看看明天的天气")
    model = FakeModel([call("get_weather", city="北京")])
    d = Agent(model, tools, ask_missing=True).decide([{"role": "user", "content": "帮我看看明天的天气"}])
    assert d.calls == [] and "ask" in d.repairs and "城市" in d.text
    # the value given earlier in the conversation is grounded: no question
    history = [{"role": "user", "content": "上海热吗"}, {"role": "assistant", "content": "要查哪天？"},
               {"role": "user", "content": "明天"}]
    d = Agent(FakeModel([call("get_weather", city="上海")]), tools, ask_missing=True).decide(history)
    assert [c.name for c in d.calls] == ["get_weather"]
    assert missing_required([], tools, "") is None


def test_asking_for_an_invented_value_is_the_default_and_can_be_turned_off(tools):
    """An agent built without options asks (BFCL irrelevance: a 'season' nobody gave is
    the 0.5B inventing one where no tool fits); ask_missing=False sends the call."""
    q = [{"role": "user", "content": "帮我看看明天的天气"}]
    d = Agent(FakeModel([call("get_weather", city="北京")]), tools).decide(q)
    assert d.calls == [] and "ask" in d.repairs
    d = Agent(FakeModel([call("get_weather", city="北京")]), tools, ask_missing=False).decide(q)
    assert [c.arguments["city"] for c in d.calls] == ["北京"]


def test_a_value_another_parameter_names_is_not_given():
    """"后天天气怎么样" -> get_weather(city="后天", date="后天"): the day is a term of the
    date parameter's vocabulary, so the city was never said and the agent asks for it."""
    from kapibara.agent.repair import missing_required
    from kapibara.demo.tools import demo_toolset

    tools = demo_toolset()

    bad = [ToolCall("get_weather", {"city": "后天", "date": "后天"})]
    assert missing_required(bad, tools, "后天天气怎么样") == ("get_weather", "city")
    good = [ToolCall("get_weather", {"city": "北京", "date": "后天"})]
    assert missing_required(good, tools, "北京后天天气怎么样") is None
    d = Agent(FakeModel([call("get_weather", city="后天", date="后天")]), tools,
              ask_missing=True).decide([{"role": "user", "content": "后天天气怎么样"}])
    assert d.calls == [] and "ask" in d.repairs and "城市" in d.text


def test_a_known_thing_in_another_script_is_given_only_under_one_of_its_names():
    """"Add three of them to my cart" -> add_to_cart(product_name="三文鱼"): a Chinese name
    cannot be read in English words, but the catalog knows the thing's English names, and
    the user said none of them: the agent asks. Said under any of its names, it is given."""
    from kapibara.agent.repair import missing_required
    from kapibara.demo.tools import demo_toolset

    tools = demo_toolset()
    salmon = [ToolCall("add_to_cart", {"product_name": "三文鱼", "quantity": 3})]
    assert missing_required(salmon, tools, "Add three of them to my cart") == ("add_to_cart", "product_name")
    assert missing_required(salmon, tools, "Add three salmon to my cart") is None
    assert missing_required(salmon, tools, "来三份三文鱼") is None
    yogurt = [ToolCall("get_promotions", {"product_name": "Yili Ambpoial Greek Yogurt"})]
    assert missing_required(yogurt, tools, "Is it on sale?") == ("get_promotions", "product_name")
    assert missing_required(yogurt, tools, "安慕希有优惠吗") is None
    assert missing_required(yogurt, tools, "any deals on greek yogurt?") is None
    beijing = [ToolCall("get_weather", {"city": "Beijing", "date": "明天"})]
    assert missing_required(beijing, tools, "明天会下雨吗") == ("get_weather", "city")
    assert missing_required(beijing, tools, "北京明天会下雨吗") is None
    # a value that names no known thing is judged as before (a script the words do not use
    # cannot be judged: the tool resolves names across languages)
    assert missing_required([ToolCall("get_promotions", {"product_name": "草莓蛋糕"})], tools, "Any deals?") is None


def test_a_value_that_only_points_at_a_thing_is_not_given():
    """"Add three of them to my cart" -> add_to_cart(product_name="three of them"): the
    words are the user's, but they name no product; with nothing named before, the agent
    asks. After one product was named, the referent rung names it instead."""
    from kapibara.agent.repair import missing_required, refers_only
    from kapibara.demo.tools import demo_toolset

    assert refers_only("three of them") and refers_only("这个") and refers_only("两份")
    assert not refers_only("三文鱼") and not refers_only("Norwegian Salmon") and not refers_only("一箱")
    tools = demo_toolset()
    them = [ToolCall("add_to_cart", {"product_name": "three of them", "quantity": 3})]
    assert missing_required(them, tools, "Add three of them to my cart") == ("add_to_cart", "product_name")
    d = Agent(FakeModel([call("add_to_cart", product_name="three of them", quantity=3)]), tools,
              ask_missing=True).decide([{"role": "user", "content": "Add three of them to my cart"}])
    assert d.calls == [] and "ask" in d.repairs
    before = [{"role": "user", "content": "How much is the Norwegian salmon?"},
              {"role": "assistant", "content": "Norwegian Salmon is 89 yuan."},
              {"role": "user", "content": "Add three of them to my cart"}]
    d = Agent(FakeModel([call("add_to_cart", product_name="three of them", quantity=3)]), tools,
              ask_missing=True).decide(before)
    assert [c.arguments["product_name"].lower() for c in d.calls] == ["norwegian salmon"] and "referent" in d.repairs


def test_groundings_name_the_facts_the_evidence_holds():
    from kapibara.agent.grounding import AllOf, NameGrounding

    check = AllOf(NumberGrounding(), NameGrounding(["华为畅享20 Pro", "OPPO Ace2"]))
    evidence = '[{"name": "OPPO Ace2", "price": 2999}, {"name": "华为畅享20 Pro", "price": 1999}]'
    answer = "华为畅享20 Pro（1999 元）更便宜，iPhone 15 要5999元。"
    assert check.supported(answer, evidence) == ["20", "1999", "华为畅享20 Pro"]  # model numbers too
    assert check.unsupported(answer, evidence) == ["15", "5999"]
    assert check.supported("3款都不错", evidence) == []  # small counts are not facts


def test_an_answer_saying_the_cart_changed_needs_the_add_to_cart_result(tools):
    """"好的，我会把 vivo X60 Pro 加入你的购物车。" with no call adds nothing: the claim is a fact
    only add_to_cart's result supports, so the agent looks the call up instead."""
    from kapibara.demo.grounding import demo_grounding

    g = demo_grounding()
    said = "那就要这个吧"
    assert g.unsupported("好的，我会把它加入你的购物车。", said) == ["加入购物车"]
    assert g.unsupported("I've added two of them to your cart.", said) == ["加入购物车"]
    assert g.unsupported("已加入购物车：农夫山泉 ×2", '{"added": "农夫山泉 ×2"}') == []
    assert g.unsupported("已加入购物车：农夫山泉 ×2", "{'added': '农夫山泉 ×2'}") == []  # a Python repr
    for not_a_claim in ("要加入购物车吗？", "抱歉，我没法帮你加入购物车。", "喜欢的话可以把它加入购物车。"):
        assert g.unsupported(not_a_claim, said) == [], not_a_claim
    model = FakeModel(["好的，我会把草莓加入你的购物车。", call("add_to_cart", product_name="草莓", quantity=1)])
    d = Agent(model, tools, grounding=g).decide([{"role": "user", "content": "草莓给我来一份"}])
    assert [c.name for c in d.calls] == ["add_to_cart"] and "lookup" in d.repairs


GROWING = ('{"name": "get_product_info", "arguments": {"product_name": "OPPO Ace2", "properties": ["价格", '
           '"摄像头质量等级", "摄像头质量等级等级", "摄像头质量等级等级等级", "摄像头质量等级等级等级等级", "摄像头质量')


def test_a_list_whose_items_keep_growing_is_a_loop():
    """The 0.5B once listed "摄像头质量等级", "摄像头质量等级等级", ... under a call's
    grammar until the token cap (7 s): each item the one before plus the same words."""
    assert grows(GROWING)
    assert watch()(GROWING) == REPETITION
    assert not grows('["iPhone 13", "iPhone 13 Pro", "iPhone 13 Pro Max", "iPhone 14"]')
    assert not grows('["价格", "库存", "摄像头", "电池"]')
    assert not grows('["a", "aa", "aaa"]')  # three items are not yet a loop


def test_a_growing_list_is_cut_to_its_first_item_and_closed():
    assert trim_growing(GROWING) == ('{"name": "get_product_info", "arguments": {"product_name": "OPPO Ace2", '
                                     '"properties": ["价格", "摄像头质量等级"]}}')
    assert trim_growing('{"a": [1, 2]') == '{"a": [1, 2]'  # nothing growing: unchanged


def test_a_call_stopped_in_a_growing_list_keeps_its_first_item(tools):
    first = "```json\n" + call("get_product_info", product_name="OPPO Ace2", properties=["价格"]) + "\n```"
    model = FakeModel([first, GROWING + "等级" * 40])
    d = Agent(model, tools, constrained=True).decide([{"role": "user", "content": "oppo ace2 拍照咋样"}])
    assert [(c.name, c.arguments) for c in d.calls] == [
        ("get_product_info", {"product_name": "OPPO Ace2", "properties": ["价格", "摄像头质量等级"]})]
    assert d.stops == {REPETITION: 1} and not d.malformed


CYCLING = ('{"name": "get_product_info", "arguments": {"product_name": "车厘子", "properties": ["产地", "保质期", '
           '"价格", "摄像头", "电池", "产地", "保质期", "价格",')


def test_a_list_that_repeats_its_own_item_is_a_loop_and_is_cut_before_it():
    """The 0.5B, asked where 车厘子 come from, cycled through the properties under a
    look-up's grammar until the rung's token cap: the call never closed."""
    from kapibara.agent.budget import repeats_item

    assert repeats_item(CYCLING) and watch()(CYCLING) == REPETITION
    assert trim_growing(CYCLING) == ('{"name": "get_product_info", "arguments": {"product_name": "车厘子", '
                                     '"properties": ["产地", "保质期", "价格", "摄像头", "电池"]}}')
    for fine in ('["产地", "价格"', '{"a": ["x", "y"], "b": "x"', '[{"k": "x"}, {"k": "x"}',
                 '["x", "y"], ["x"', 'he said "x" and "x"'):
        assert not repeats_item(fine), fine
    assert trim_growing('{"a": ["x", "y"]}') == '{"a": ["x", "y"]}'


def test_a_call_stopped_in_a_cycling_list_keeps_the_items_before_the_repeat(tools):
    model = FakeModel(["```json\n" + call("get_product_info", product_name="车厘子", properties=["产地"]) + "\n```",
                       CYCLING + ' "摄像头", "电池", "产地"' * 30])
    d = Agent(model, tools, constrained=True).decide([{"role": "user", "content": "车厘子产地是哪里"}])
    assert [(c.name, c.arguments["properties"]) for c in d.calls] == [
        ("get_product_info", ["产地", "保质期", "价格", "摄像头", "电池"])]
    assert d.stops == {REPETITION: 1} and not d.malformed
