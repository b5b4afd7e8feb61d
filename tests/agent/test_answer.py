"""The answer-from-observations prompt: its two layouts, the compact results, and the
saved prefix of the cached layout (fake models only)."""

from __future__ import annotations

import json

import pytest
from grocery_standin import call

from kapibara.agent import Agent
from kapibara.agent.answer import answer_messages, compact, observations
from kapibara.models.base import ToolCall
from kapibara.models.fake import FakeModel
from kapibara.tools import ToolResult

HEADPHONES = {"category": "headphones", "scenario": "running", "items": [
    {"name": "华为FreeBuds Pro 3", "name_en": "HUAWEI FreeBuds Pro 3", "price": "1499元", "rating": 4.9,
     "highlight": "单次6.5小时/配合充电盒31小时"},
    {"name": "漫步者W820NB", "name_en": "Edifier W820NB", "price": "399元", "rating": 4.8, "highlight": "49小时"},
]}


def result(value: object, name: str = "recommend_products", error: str | None = None) -> ToolResult:
    output = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return ToolResult(call=ToolCall(name=name, arguments={}), output=output, error=error)


def test_compact_keeps_every_value_one_line_per_item_and_is_shorter():
    text = compact(HEADPHONES)
    lines = text.splitlines()
    assert lines[0] == "category: headphones; scenario: running" and lines[1] == "items:"
    assert lines[2].startswith("1. name: 华为FreeBuds Pro 3;") and "31小时" in lines[2] and "399元" not in lines[2]
    assert lines[3].startswith("2. name: 漫步者W820NB;") and "399元" in lines[3]
    for item in HEADPHONES["items"]:
        assert all(str(v) in text for v in item.values())
    assert len(text) < len(json.dumps(HEADPHONES, ensure_ascii=False))


def test_compact_lists_and_nested_values():
    assert compact([{"a": 1}, {"a": 2}]) == "1. a: 1\n2. a: 2"
    assert compact({"tags": ["x", "y"], "promo": {"t": 1}}) == 'tags: x, y; promo: {"t": 1}'


def test_cached_layout_compacts_json_but_keeps_errors_and_cut_outputs_as_they_are():
    cut = json.dumps(HEADPHONES, ensure_ascii=False)[:80] + "[output truncated]"
    text = observations([result(HEADPHONES), result("boom", error="boom"), result(cut)], "cached")
    lines = text.splitlines()
    assert lines[0] == "[recommend_products] category: headphones; scenario: running"
    assert "[recommend_products] boom" in lines and f"[recommend_products] {cut}" in lines
    plain = observations([result(HEADPHONES)], "plain")
    assert plain == "[recommend_products] " + json.dumps(HEADPHONES, ensure_ascii=False)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_cached_layout_has_one_system_message_for_every_question(language):
    a = answer_messages("cached", "ROLE", language, "Q1?", [result(HEADPHONES)])
    b = answer_messages("cached", "ROLE", language, "Q2?", [result({"x": 1}, "get_weather")])
    assert a[0] == b[0] and a[0]["content"].startswith("ROLE\n\n")
    assert "Q1?" not in a[0]["content"] and "Q1?" in a[1]["content"]
    user = a[1]["content"]
    assert user.index("31小时") < user.index("Q1?")  # the question last, nearest the answer


def test_plain_layout_is_the_first_one():
    messages = answer_messages("plain", "ROLE", "en", "Q?", [result(HEADPHONES)])
    assert messages[0] == {"role": "system", "content": "ROLE"}
    user = messages[1]["content"]
    assert user.startswith("The user's question: Q?") and json.dumps(HEADPHONES, ensure_ascii=False) in user


class PrefixModel(FakeModel):
    """A fake that records the prefixes it is asked to save (``CachesPrefix``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prefixes: list[list[dict]] = []

    def ensure_prefix(self, prefix, tools=None, tool_format=None):
        self.prefixes.append(list(prefix))
        return f"state-{len(self.prefixes)}"


def test_agent_answers_from_the_cached_layout_and_cache_prefix_saves_its_system_message(tools):
    model = PrefixModel([call("recommend_products", category="手机", scenario="拍照"), "推荐小米11 Ultra。"])
    agent = Agent(model, tools, max_steps=1, answer_prompt="cached")
    result_ = agent.run("有拍照好的手机吗？")
    assert result_.answer == "推荐小米11 Ultra。" and result_.stop_reason == "max_steps"
    answer_request = model.calls[-1]
    assert answer_request.tools is None
    system, user = answer_request.messages
    assert "只根据工具查询结果" in system["content"] and "有拍照好的手机吗？" in user["content"]
    assert "小米11 Ultra" in user["content"] and "[recommend_products]" in user["content"]
    saved = agent.cache_prefix("zh")
    # the answer's prefix first, the decision's last: the KV cache is left holding the
    # prefix the next turn starts with
    assert len(model.prefixes) == 2 and model.prefixes[0] == [system] and saved == "state-2"
    assert model.prefixes[1][0]["role"] == "system" and model.prefixes[1] != [system]


def test_plain_layout_saves_no_answer_prefix(tools):
    model = PrefixModel([call("recommend_products", category="手机"), "好的。"])
    agent = Agent(model, tools, max_steps=1)  # the default
    agent.run("推荐手机")
    system, user = model.calls[-1].messages
    assert user["content"].startswith("用户的问题：推荐手机")
    agent.cache_prefix("zh")
    assert len(model.prefixes) == 1  # the decision's only


def test_unknown_answer_prompt_is_refused(tools):
    from kapibara.errors import ConfigError

    with pytest.raises(ConfigError, match="answer_prompt"):
        Agent(FakeModel(["x"]), tools, answer_prompt="short")  # type: ignore[arg-type]


def test_setting_selects_the_layout(monkeypatch, tmp_path):
    from kapibara.errors import ConfigError
    from kapibara.settings import Settings

    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))  # no config file
    monkeypatch.delenv("KAPIBARA_ANSWER_PROMPT", raising=False)
    assert Settings.load().answer_prompt == "plain"
    monkeypatch.setenv("KAPIBARA_ANSWER_PROMPT", "cached")
    assert Settings.load().answer_prompt == "cached"
    monkeypatch.setenv("KAPIBARA_ANSWER_PROMPT", "short")
    with pytest.raises(ConfigError, match="answer_prompt"):
        Settings.load()
