"""Prompt rendering: ### sections, instructions first, ReAct format with the tool list."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from kapibara.models.base import ToolCall
from kapibara.prompts import Example, Prompt, render_react_format
from kapibara.tools import ToolSet, tool


@tool
def get_weather(city: str, date: str = "today") -> str:
    """查询城市天气。

    Args:
        city: 城市名
        date: 日期
    """
    return city


@tool
def view_cart() -> str:
    """查看购物车。"""
    return "[]"


TOOLS = ToolSet([get_weather, view_cart])


def full_prompt(language: str = "zh", thinking: str = "cot") -> Prompt:
    return Prompt(
        role="你是购物助手。" if language == "zh" else "You are a shopping assistant.",
        context="CONTEXT-MARK",
        constraints=["CONSTRAINT-MARK"],
        examples=[
            Example(user="北京天气怎么样", calls=[ToolCall("get_weather", {"city": "北京"})], thought="要查天气"),
            Example(user="你好", assistant="你好！有什么可以帮你？"),
        ],
        thinking=thinking,  # type: ignore[arg-type]
        language=language,  # type: ignore[arg-type]
    )


def headings(text: str) -> list[str]:
    return re.findall(r"^### (.+)$", text, flags=re.M)


def test_sections_in_order_instructions_first_zh():
    text = full_prompt().render_system()
    assert headings(text) == ["角色", "输出要求", "思考方式", "背景信息", "示例"]
    assert text.startswith("### 角色\n你是购物助手。")
    assert text.index("CONSTRAINT-MARK") < text.index("一步一步") < text.index("CONTEXT-MARK")
    # Native examples show the Qwen tool-call markup.
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call>' in text
    assert "助手：你好！有什么可以帮你？" in text


def test_sections_english():
    text = full_prompt("en").render_system(TOOLS.specs())
    assert headings(text) == ["Role", "Output requirements", "How to think", "Context", "Examples"]
    assert "Think step by step" in text
    # With tools offered, the no-tool guidance joins the constraints.
    assert "do not call a tool; answer directly and honestly" in text


def test_minimal_prompt_has_only_role():
    text = Prompt(role="R").render_system()
    assert headings(text) == ["角色"]


def test_react_protocol_lists_tools_in_msagent_format():
    text = full_prompt().render_system(TOOLS, protocol="react")
    assert headings(text) == ["角色", "输出要求", "工具", "背景信息", "示例"]
    params = json.dumps(get_weather.parameters, ensure_ascii=False)
    assert f"get_weather: 调用此工具与 get_weather API 交互。get_weather API 有什么用？查询城市天气。 参数：{params}" in text
    assert "view_cart: " in text
    for marker in ("Question:", "Thought:", "Action:", "Action Input:", "Observation:", "Final Answer:"):
        assert re.search(rf"^{re.escape(marker)} ", text, flags=re.M), marker
    assert "[get_weather, view_cart]" in text
    # Examples switch to the ReAct transcript form.
    assert "Question: 北京天气怎么样\nThought: 要查天气\nAction: get_weather\nAction Input: {\"city\": \"北京\"}" in text
    assert "Question: 你好\nFinal Answer: 你好！有什么可以帮你？" in text
    assert "<tool_call>" not in text


def test_react_format_english_matches_msagent_lines():
    text = render_react_format(TOOLS.specs(), "en")
    lines = text.splitlines()
    assert "Action: the action to take, should be one of [get_weather, view_cart]" in lines
    assert "Final Answer: the final answer to the original input question" in lines
    assert any(
        ln.startswith("get_weather: Call this tool to interact with the get_weather API. What is the get_weather API useful for? 查询城市天气。 Parameters: {")
        for ln in lines
    )


def test_render_prepends_system_and_merges_an_existing_one():
    user = {"role": "user", "content": "车厘子多少钱？"}
    msgs = full_prompt().render([user], TOOLS, protocol="native")
    assert msgs[0]["role"] == "system" and msgs[1] == user and len(msgs) == 2
    merged = Prompt(role="R").render([{"role": "system", "content": "EXTRA"}, user])
    assert len(merged) == 2 and merged[0]["content"].endswith("EXTRA")
    assert merged[0]["content"].startswith("### 角色")


def test_bare_function_dicts_accepted_as_tools():
    bare = {"name": "f", "description": "F does it.", "parameters": {"type": "object", "properties": {}}}
    assert "f: Call this tool" in Prompt(role="R", language="en").render_system([bare], "react")


def test_strict_fields_and_examples_need_an_answer():
    with pytest.raises(ValidationError):
        Prompt(role="R", colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Prompt(role="R", thinking="deep")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="needs 'assistant'"):
        Example(user="hi")


def test_builtin_grocery_prompt_both_languages():
    zh = Prompt.builtin("grocery_assistant", "zh")
    en = Prompt.builtin("grocery_assistant", "en")
    assert "生鲜超市购物助手" in zh.role and zh.language == "zh"
    assert any("绝不编造" in c for c in zh.constraints)
    assert en.language == "en" and "never invent" in " ".join(en.constraints)


def test_thinking_react_with_native_calls_asks_for_a_thought():
    text = Prompt(role="R", thinking="react", language="en").render_system(TOOLS, protocol="native")
    assert headings(text) == ["Role", "Output requirements", "How to think"]
    assert "(Thought)" in text
    # Native tool calls go through the chat template, not the system text.
    assert "get_weather" not in text
