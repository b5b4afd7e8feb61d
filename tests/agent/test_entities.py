"""The ``entities`` rung: a misspelt name of a thing (a product, a city) becomes the name the
tool knows. The 0.5B copies the user's typo into the call ("五长大米", "oppo aec2"); Chinese
typos are mostly homophones, since people type pinyin."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kapibara.agent.repair import closest_entity, fan_out, resolve_entities, resolve_referents
from kapibara.errors import ToolDefinitionError
from kapibara.models.base import ToolCall
from kapibara.tools import Tool, ToolSet, tool, tools_from_config

PRODUCTS = {
    "五常大米": ["五常稻花香", "Wuchang rice"],
    "农夫山泉": ["Nongfu Spring"],
    "蒙牛纯牛奶": ["蒙牛牛奶", "Mengniu pure milk"],
    "蒙牛纯牛奶家庭装": [],
    "光明优倍鲜牛奶": ["鲜牛奶"],
    "小米11 Ultra": ["小米11U", "Xiaomi 11 Ultra"],
    "小米手环8": ["小米手环"],
    "OPPO Ace2": ["oppo ace 2"],
    "iPhone 15": ["苹果15"],
    "iPhone 15 Pro": [],
}


@pytest.mark.parametrize(("value", "name"), [
    ("五长大米", "五常大米"),  # 长 is read chang as well as zhang
    ("农夫三泉", "农夫山泉"),  # s for sh, as pinyin IMEs match it
    ("蒙牛存牛奶", "蒙牛纯牛奶"),
    ("小米11 ultar", "小米11 Ultra"),
    ("oppo aec2", "OPPO Ace2"),
    ("iphnoe 15", "iPhone 15"),
])
def test_a_misspelt_name_becomes_the_known_one(value: str, name: str) -> None:
    assert closest_entity(value, PRODUCTS) == name


@pytest.mark.parametrize("value", [
    "五常大米", "wuchang RICE", "蒙牛纯牛奶家庭装",  # known names, however written
    "牛奶", "进口牛奶",  # generic: the tool lists what it has
    "小米手机",  # one character off, but not a sound-alike: another thing
    "小米12", "iPhone 14",  # a model number is never a typo
    "华为Mate 60",  # unknown
    "",
])
def test_anything_unclear_is_left_as_written(value: str) -> None:
    assert closest_entity(value, PRODUCTS) is None


def test_two_close_candidates_change_nothing() -> None:
    assert closest_entity("蒙牛纯牛奶", {"蒙牛纯牛乳": [], "蒙牛纯羊奶": []}) is None  # one character off each


@tool(entities={"product_name": PRODUCTS})
def add_to_cart(product_name: str, quantity: int = 1) -> str:
    """Add a product to the cart.

    Args:
        product_name: product name
        quantity: how many
    """
    return "ok"


def test_the_rung_resolves_calls_and_says_what_changed() -> None:
    tools = ToolSet([add_to_cart])
    calls = [ToolCall("add_to_cart", {"product_name": "农夫三泉", "quantity": 2}),
             ToolCall("add_to_cart", {"product_name": "牛奶"})]
    out, notes = resolve_entities(calls, tools)
    assert out[0].arguments == {"product_name": "农夫山泉", "quantity": 2}
    assert out[1].arguments == {"product_name": "牛奶"}
    assert notes == ["add_to_cart: product_name='农夫三泉' -> '农夫山泉'"]


@tool(entities={"product_name": PRODUCTS}, vocabulary={"properties": {"battery": ["电池", "续航"], "price": ["价格"]}})
def get_product_info(product_name: str, properties: list[str]) -> str:
    """Facts about a product.

    Args:
        product_name: product name
        properties: what to look up
    """
    return "ok"


@pytest.mark.parametrize(("value", "name"), [
    ("整点农夫山泉", "农夫山泉"),  # the request's verb copied along
    ("帮我买小米手环8", "小米手环8"),
    ("小米11 Ultra电池", "小米11 Ultra"),  # a word another parameter understands after it
    ("小米11U续航", "小米11 Ultra"),
    ("农夫山泉两箱", "农夫山泉"),  # a count after the name
])
def test_a_value_holding_one_known_name_becomes_that_name(value: str, name: str) -> None:
    tools = ToolSet([get_product_info])
    out, notes = resolve_entities([ToolCall("get_product_info", {"product_name": value, "properties": []})], tools)
    assert out[0].arguments["product_name"] == name and notes


@pytest.mark.parametrize("value", [
    "苹果15手机壳",  # the name modifies another thing: not that name
    "农夫山泉和五常大米",  # two things
    "蒙牛纯牛奶家庭装",  # a known name itself
    "牛奶",
    "小米手环",  # a known name
    "Xiaomi小米11U",  # the thing's own word before its name
])
def test_a_value_is_not_cut_down_to_a_name_it_does_not_end_with(value: str) -> None:
    tools = ToolSet([get_product_info])
    out, notes = resolve_entities([ToolCall("get_product_info", {"product_name": value, "properties": []})], tools)
    assert out[0].arguments["product_name"] == value and notes == []


def test_the_agent_records_the_rung() -> None:
    from kapibara.agent import Agent
    from kapibara.models.fake import FakeModel

    model = FakeModel(['<tool_call>\n{"name": "add_to_cart", "arguments": {"product_name": "五长大米", "quantity": 2}}\n</tool_call>'])
    d = Agent(model, ToolSet([add_to_cart])).decide([{"role": "user", "content": "五长大米来两袋"}])
    assert d.calls[0].arguments["product_name"] == "五常大米" and d.repairs == ["entities"]


def test_entities_are_checked_when_the_tool_is_defined() -> None:
    with pytest.raises(ToolDefinitionError, match="not a string parameter"):
        Tool(name="t", description="", parameters={"type": "object", "properties": {"n": {"type": "integer"}}},
             entities={"n": {"a": []}})
    with pytest.raises(ToolDefinitionError, match="mapping of names"):
        Tool(name="t", description="", parameters={"type": "object", "properties": {"s": {"type": "string"}}},
             entities={"s": ["a", "b"]})  # type: ignore[dict-item]


def test_entities_from_a_tool_config_file() -> None:
    tools = tools_from_config([{
        "name": "add", "target": "kapibara.demo.tools:add_to_cart",
        "entities": {"product_name": {"农夫山泉": ["Nongfu Spring"]}}}])
    assert tools.get("add").entities == {"product_name": {"农夫山泉": ["Nongfu Spring"]}}


# -- fan_out: one call per thing the user named together ("A和B都查一下") --

@tool(entities={"product_name": PRODUCTS})
def get_promotions(product_name: str) -> str:
    """Promotions of a product.

    Args:
        product_name: product name
    """
    return "ok"


FAN = ToolSet([add_to_cart, get_promotions])


@pytest.mark.parametrize(("said", "value", "added"), [
    ("农夫山泉和五常大米哪个有优惠？都帮我看看", "五常大米", ["农夫山泉"]),
    ("iPhone 15跟OPPO Ace2有没有优惠，一起查", "iPhone 15", ["OPPO Ace2"]),
    ("五常大米、农夫山泉、蒙牛纯牛奶有活动吗", "农夫山泉", ["五常大米", "蒙牛纯牛奶"]),
    ("any deals on Nongfu Spring and Wuchang rice?", "Nongfu Spring", ["Wuchang rice"]),
    ("iPhone 15 Pro和小米11 Ultra有优惠吗", "iPhone 15 Pro", ["小米11 Ultra"]),  # not "iPhone 15" inside it
])
def test_things_named_together_get_a_call_each(said: str, value: str, added: list[str]) -> None:
    calls = [ToolCall("get_promotions", {"product_name": value}, id="c1")]
    out, notes = fan_out(calls, FAN, said)
    assert [c.arguments["product_name"] for c in out] == [value, *added]
    assert out[0].id == "c1" and len({c.id for c in out}) == len(out)
    assert notes == [f"get_promotions: product_name={name!r} added (named with {value!r})" for name in added]


def test_the_other_arguments_are_copied() -> None:
    out, _ = fan_out([ToolCall("add_to_cart", {"product_name": "农夫山泉", "quantity": 1})], FAN, "农夫山泉和五常大米各来一份")
    assert [c.arguments for c in out] == [{"product_name": "农夫山泉", "quantity": 1},
                                          {"product_name": "五常大米", "quantity": 1}]


@pytest.mark.parametrize(("said", "calls"), [
    ("农夫山泉有优惠吗", [("get_promotions", "农夫山泉")]),  # one thing
    ("农夫山泉和五常大米有优惠吗", [("get_promotions", "农夫山泉"), ("get_promotions", "五常大米")]),  # both called
    ("买了农夫山泉，五常大米有优惠吗", [("get_promotions", "五常大米")]),  # not named together
    ("五常大米2袋，农夫山泉1箱，都加购物车", [("add_to_cart", "农夫山泉")]),  # each with its own count
    ("农夫山泉还是五常大米，哪个有优惠", [("get_promotions", "牛奶")]),  # the call names neither
    ("牛奶和农夫山泉有优惠吗", [("get_promotions", "农夫山泉")]),  # "牛奶" is no known name
])
def test_nothing_is_added_unless_the_user_named_them_together(said: str, calls: list[tuple[str, str]]) -> None:
    made = [ToolCall(name, {"product_name": value}) for name, value in calls]
    out, notes = fan_out(made, FAN, said)
    assert out == made and notes == []


def test_the_agent_records_the_fan_out_and_runs_both_calls() -> None:
    from kapibara.agent import Agent
    from kapibara.models.fake import FakeModel

    model = FakeModel(['<tool_call>\n{"name": "get_promotions", "arguments": {"product_name": "五常大米"}}\n</tool_call>',
                       "都没有优惠。"])
    agent = Agent(model, FAN)
    d = agent.decide([{"role": "user", "content": "农夫山泉和五常大米有优惠吗"}])
    assert [c.arguments["product_name"] for c in d.calls] == ["五常大米", "农夫山泉"] and d.repairs == ["fan_out"]
    model = FakeModel(['<tool_call>\n{"name": "get_promotions", "arguments": {"product_name": "五常大米"}}\n</tool_call>',
                       "都没有优惠。"])
    result = Agent(model, FAN).run("农夫山泉和五常大米有优惠吗")
    assert [c.arguments["product_name"] for c in result.tool_calls] == ["五常大米", "农夫山泉"]


# -- referent: a thing the user refers to ("第一个", "来两斤" after one product) --

LISTED = '[{"name": "OPPO Ace2", "price": 2999}, {"name": "iPhone 15", "price": 5999}]'


@pytest.mark.parametrize(("latest", "earlier", "value", "expected"), [
    ("第一个加购物车", ["三千以内拍照好的手机有哪些", LISTED, "推荐 OPPO Ace2 和 iPhone 15。"], "五常大米", "OPPO Ace2"),
    ("第二款有优惠吗", ["三千以内拍照好的手机有哪些", LISTED, "推荐 OPPO Ace2 和 iPhone 15。"], "第二款", "iPhone 15"),
    ("最后一个有优惠吗", ["手机推荐", LISTED], None, "iPhone 15"),
    ("add the second one to my cart", ["phones please", LISTED], "OPPO Ace2", "iPhone 15"),
    ("来两斤", ["农夫山泉多少钱", '{"name": "农夫山泉", "price": 2}', "农夫山泉 2 元一瓶。"], "五常大米", "农夫山泉"),
    ("挺好，加购", ["iPhone 15有优惠吗", '[{"title": "以旧换新"}]', "iPhone 15 目前有以旧换新。"], "商品名称", "iPhone 15"),
])
def test_a_thing_referred_to_is_the_one_before(latest: str, earlier: list[str], value: str | None,
                                               expected: str) -> None:
    args = {"quantity": 1} if value is None else {"product_name": value, "quantity": 1}
    out, notes = resolve_referents([ToolCall("add_to_cart", args, id="c1")], FAN, latest, earlier)
    assert out[0].arguments == {"product_name": expected, "quantity": 1} and out[0].id == "c1"
    assert notes == [f"add_to_cart: product_name={value!r} -> {expected!r} (referred to)"]


@pytest.mark.parametrize(("latest", "earlier", "value"), [
    ("农夫山泉来一箱", ["iPhone 15多少钱", '{"name": "iPhone 15"}'], "农夫山泉"),  # named now
    ("牛奶有优惠吗", ["iPhone 15多少钱", '{"name": "iPhone 15"}'], "牛奶"),  # said now: a generic word
    ("加购", ["这两款哪个好", LISTED], "五常大米"),  # two things before, no ordinal: ask
    ("帮我加购", [], "五常大米"),  # nothing before: ask
    ("第三个加购", ["手机推荐", LISTED], "五常大米"),  # no third thing
    ("第一次买，推荐一下", ["手机推荐", LISTED], "OPPO Ace2"),  # "the first time", not an item
])
def test_nothing_changes_without_a_clear_referent(latest: str, earlier: list[str], value: str) -> None:
    calls = [ToolCall("add_to_cart", {"product_name": value, "quantity": 1})]
    out, notes = resolve_referents(calls, FAN, latest, earlier)
    assert out == calls and notes == []


def test_the_agent_names_what_a_follow_up_refers_to() -> None:
    from kapibara.agent import Agent
    from kapibara.models.fake import FakeModel

    model = FakeModel(['<tool_call>\n{"name": "add_to_cart", "arguments": {"product_name": "五常大米", "quantity": 1}}\n</tool_call>'])
    messages = [{"role": "user", "content": "手机推荐"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "c0", "type": "function", "function": {
                    "name": "get_promotions", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c0", "content": LISTED},
                {"role": "assistant", "content": "OPPO Ace2 和 iPhone 15 都不错。"},
                {"role": "user", "content": "第二个加购物车"}]
    d = Agent(model, FAN).decide(messages)
    assert d.calls[0].arguments == {"product_name": "iPhone 15", "quantity": 1} and d.repairs == ["referent"]


buy = replace(add_to_cart, name="buy", entities={"product_name": {**PRODUCTS, "东北珍珠米": ["rice"]}})


def test_a_latin_name_inside_a_word_is_no_mention() -> None:
    earlier = ["五常大米多少钱", '{"name": "五常大米", "price": 89.9}']
    out, _ = resolve_referents([ToolCall("buy", {"product_name": "农夫山泉"})], ToolSet([buy]), "来两袋", earlier)
    assert out[0].arguments["product_name"] == "五常大米"  # not "rice" inside "price"
