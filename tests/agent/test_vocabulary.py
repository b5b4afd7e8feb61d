"""The ``vocabulary`` rung: a free-text parameter keeps only the terms the tool understands
and the user said (the 0.5B writes scenario="推荐水果" for "推荐几款水果吧", "拍照" for
"有什么手机推荐吗？", and "聚会用的零食来5款，每款不超过40元" for the whole request)."""

from __future__ import annotations

import pytest

from kapibara.agent.repair import snap_vocabulary
from kapibara.errors import ToolDefinitionError
from kapibara.models.base import ToolCall
from kapibara.tools import Tool, ToolSet, tool, tools_from_config

SCENARIOS = {
    "camera": ["拍照", "摄影", "camera", "photo"],
    "cheap": ["便宜", "实惠", "cheap"],
    "premium": ["旗舰", "flagship"],
    "elderly": ["老人", "长辈", "爸妈", "elderly", "parents"],
    "gift": ["送礼", "送长辈"],
    "kids": ["儿童", "孩子", "宝宝", "辅食"],
    "party": ["聚会", "派对"],
}


@tool(vocabulary={"scenario": SCENARIOS})
def recommend(category: str, scenario: str = "", limit: int = 3) -> str:
    """Recommend products.

    Args:
        category: category
        scenario: use or preference
        limit: how many
    """
    return "ok"


@tool(vocabulary={"kind": {"a": ["甲"], "b": ["乙"]}})
def pick(kind: str) -> str:
    """Pick one.

    Args:
        kind: which
    """
    return kind


TOOLS = ToolSet([recommend, pick])


def snap(scenario: str, said: str) -> tuple[dict, list[str]]:
    calls = [ToolCall("recommend", {"category": "零食", "scenario": scenario, "limit": 3}, id="c1")]
    fixed, notes = snap_vocabulary(calls, TOOLS, said)
    assert fixed[0].id == "c1" and fixed[0].arguments["category"] == "零食"
    return fixed[0].arguments, notes


@pytest.mark.parametrize(
    ("scenario", "said", "expected"),
    [
        ("聚会用的零食来5款，每款不超过40元", "聚会用的零食来5款，每款不超过40元", "聚会"),  # the request copied
        ("宝宝辅食用", "宝宝辅食用的大米有吗，一百块内", "宝宝"),  # one term per meaning, the first said
        ("拍照旗舰", "想要一台六千以内的拍照旗舰", "拍照旗舰"),  # two meanings, both kept
        ("camera, cheap", "a cheap phone with a good camera", "camera cheap"),
        ("拍照", "还有没有更便宜的\n推荐拍照好的手机", "拍照"),  # an earlier turn counts
        ("摄影", "拍照好的手机", "拍照"),  # the model's own word for a meaning: the tool's term
        ("拍照", "a phone good for taking photos", "camera"),  # ... in the user's script
        ("照片 photo", "a phone good for taking photos", "photo"),  # a word the user said stays
    ],
)
def test_the_terms_the_user_said_are_kept(scenario, said, expected):
    args, notes = snap(scenario, said)
    assert args["scenario"] == expected
    assert notes == ([] if expected == scenario else [f"recommend: scenario={scenario!r} -> {expected!r}"])


@pytest.mark.parametrize(
    ("scenario", "said"),
    [
        ("拍照", "有什么手机推荐吗？"),  # a known term the user never said
        ("推荐水果", "推荐几款水果吧"),  # no known term at all
        ("购买海鲜", "想买点海鲜，推荐一下"),
    ],
)
def test_a_scenario_nobody_asked_for_is_dropped(scenario, said):
    args, notes = snap(scenario, said)
    assert "scenario" not in args
    assert notes == [f"recommend: scenario={scenario!r} is not a term the user said"]


def test_a_garbled_value_takes_the_meaning_the_user_said_in_the_tools_term():
    # The model wrote something unknown; the user's own words hold a known meaning, which
    # the tool gets as its own first term for it (an annotator's and a search index's
    # likeliest word), in the user's script.
    args, notes = snap("购买手机", "给我爸妈买手机，别超过1500")
    assert args["scenario"] == "老人"
    assert notes == ["recommend: scenario='购买手机' -> '老人'"]
    args, _ = snap("buy a phone", "a phone for my parents")
    assert args["scenario"] == "elderly"


def test_a_term_inside_a_longer_one_is_not_a_second_meaning():
    # "送长辈" is a gift; the "长辈" inside it is not also a request for elderly products.
    args, _ = snap("送长辈", "过年送长辈的零食")
    assert args["scenario"] == "送长辈"


def test_empty_and_absent_values_and_other_tools_are_left_alone():
    calls = [ToolCall("recommend", {"category": "零食", "scenario": ""}),
             ToolCall("recommend", {"category": "零食"}),
             ToolCall("unknown_tool", {"scenario": "推荐"})]
    fixed, notes = snap_vocabulary(calls, TOOLS, "推荐零食")
    assert [c.arguments for c in fixed] == [c.arguments for c in calls] and notes == []


def test_a_required_parameter_is_never_dropped():
    calls = [ToolCall("pick", {"kind": "丙"})]
    fixed, notes = snap_vocabulary(calls, TOOLS, "随便来一个")
    assert fixed[0].arguments == {"kind": "丙"} and notes == []


def test_a_vocabulary_must_name_a_string_parameter():
    with pytest.raises(ToolDefinitionError, match="'limit' is not a string parameter"):
        Tool("t", "d", {"type": "object", "properties": {"limit": {"type": "integer"}}},
             vocabulary={"limit": {"a": ["x"]}})
    with pytest.raises(ToolDefinitionError, match="non-empty lists of words"):
        Tool("t", "d", {"type": "object", "properties": {"s": {"type": "string"}}}, vocabulary={"s": {"a": []}})


def test_a_configured_tool_carries_its_vocabulary():
    tools = tools_from_config([{
        "name": "recommend", "target": "kapibara.demo.tools:recommend_products",
        "vocabulary": {"scenario": {"camera": ["拍照"]}},
    }])
    assert tools.get("recommend").vocabulary == {"scenario": {"camera": ["拍照"]}}


PROPERTIES = {"battery": ["电池", "续航", "battery"], "screen": ["屏幕", "screen"], "price": ["价格", "多少钱", "price"],
              "camera": ["摄像头", "拍照", "camera"]}


@tool(vocabulary={"properties": PROPERTIES})
def product_info(product_name: str, properties: list[str]) -> str:
    """Look up a product.

    Args:
        product_name: product name
        properties: what to look up
    """
    return ""


@pytest.mark.parametrize(("said", "given", "fixed"), [
    ("小米11电池咋样", ["价格", "摄像头", "电池"], ["电池"]),  # the five properties of an example, copied
    ("小米11啥处理器", ["价格", "摄像头"], None),  # no meaning of the vocabulary said: left alone
    ("电池和屏幕怎么样", ["电池"], ["电池", "屏幕"]),  # a meaning the user asked for, added
    ("多少钱？", ["续航"], ["价格"]),  # nothing the user asked for: their meaning, in the tool's term
    ("续航咋样", ["续航"], ["电池"]),  # every item in the tool's term for its meaning
    ("how long does the battery last", ["电池"], ["battery"]),  # ... in the user's script
    ("介绍一下小米11", ["价格", "摄像头"], None),
])
def test_a_list_parameter_keeps_the_meanings_the_user_asked_for(said, given, fixed):
    calls = [ToolCall("product_info", {"product_name": "小米11", "properties": given})]
    out, notes = snap_vocabulary(calls, ToolSet([product_info]), said)
    assert out[0].arguments["properties"] == (fixed or given)
    assert bool(notes) == (fixed is not None and fixed != given)


DAYS = {"+0": ["今天", "today"], "+1": ["明天", "tomorrow"]}


@tool(vocabulary={"date": DAYS})
def weather(city: str, date: str = "today") -> str:
    """Weather.

    Args:
        city: city
        date: day
    """
    return ""


@pytest.mark.parametrize(("said", "given", "fixed"), [
    ("北京明天天气", "今天", "明天"),  # the default day kept where the user said another
    ("北京天气", "2023-04-15", None),  # an invented date dropped: the default applies
    ("5月3日北京天气", "5月3日", "5月3日"),  # no term of the vocabulary, but the user's own words: kept
])
def test_a_day_the_user_did_not_say_is_not_sent(said, given, fixed):
    out, _ = snap_vocabulary([ToolCall("weather", {"city": "北京", "date": given})], ToolSet([weather]), said)
    assert out[0].arguments.get("date") == fixed


def test_a_follow_up_changes_the_day_said_before():
    # "北京今天天气" then "那明天呢": the whole conversation says both days; the latest
    # message decides (the 0.5B kept 今天).
    said = "北京今天天气怎么样\n那明天呢"
    out, _ = snap_vocabulary([ToolCall("weather", {"city": "北京", "date": "今天"})], ToolSet([weather]), said, "那明天呢")
    assert out[0].arguments["date"] == "明天"
    # A follow-up that says no day keeps the one said before.
    out, _ = snap_vocabulary([ToolCall("weather", {"city": "上海", "date": "明天"})], ToolSet([weather]),
                             "北京明天天气怎么样\n上海呢", "上海呢")
    assert out[0].arguments["date"] == "明天"


def test_a_description_the_user_said_is_still_no_term():
    # "吃海鲜" is in the request, but the tool understands no such scenario: dropped.
    out, _ = snap_vocabulary([ToolCall("recommend", {"category": "海鲜", "scenario": "吃海鲜"})], ToolSet([recommend]),
                             "推荐点海鲜，晚上想吃海鲜")
    assert "scenario" not in out[0].arguments


@pytest.mark.parametrize(("latest", "args", "expected"), [
    ("适合聚会的零食推荐两款", {"category": "零食", "limit": 2}, "聚会"),  # left out
    ("送礼用的零食", {"category": "零食", "scenario": ""}, "送礼"),  # empty
    ("snacks for a party", {"category": "零食"}, None),  # "party" is no term of this vocabulary
    ("便宜点的拍照手机", {"category": "手机"}, None),  # two meanings: not guessed
    ("推荐零食", {"category": "零食"}, None),  # none said
])
def test_a_term_the_user_said_fills_the_parameter_left_out(latest, args, expected):
    fixed, notes = snap_vocabulary([ToolCall("recommend", args)], TOOLS, latest, latest)
    assert fixed[0].arguments.get("scenario", args.get("scenario")) == (expected if expected else args.get("scenario"))
    assert bool(notes) == bool(expected)
