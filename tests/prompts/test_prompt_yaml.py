"""Prompts written in YAML: load, round trip, and errors that name the file and field."""

from __future__ import annotations

import textwrap

import pytest

from kapibara.errors import ConfigError
from kapibara.models.base import ToolCall
from kapibara.prompts import Example, Prompt


def test_round_trip_keeps_every_part(tmp_path):
    original = Prompt(
        role="你是生鲜超市购物助手。",
        context="营业时间 8:00-22:00",
        constraints=["只使用工具结果", "不编造价格"],
        examples=[
            Example(user="来两箱牛奶", calls=[ToolCall("add_to_cart", {"product_name": "蒙牛纯牛奶", "quantity": 2})]),
            Example(user="你是谁", assistant="我是购物助手。", thought="不需要工具"),
        ],
        thinking="react",
        language="en",
    )
    path = tmp_path / "sub" / "prompt.yaml"
    text = original.to_yaml(path)
    assert "蒙牛纯牛奶" in text  # readable, not \u escapes
    loaded = Prompt.from_yaml(path)
    assert loaded == original
    assert loaded.render_system() == original.render_system()


def test_hand_written_yaml(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            """
            role: 你是天气助手
            thinking: cot
            examples:
              - user: 上海明天天气
                calls:
                  - name: get_weather
                    arguments: {city: 上海, date: tomorrow}
            """
        ),
        encoding="utf-8",
    )
    p = Prompt.from_yaml(path)
    assert p.examples[0].calls[0] == ToolCall("get_weather", {"city": "上海", "date": "tomorrow"})
    assert p.language == "zh"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("role: R\nthinking: deep\n", "field 'thinking'"),
        ("role: R\nexamples:\n  - user: hi\n", "field 'examples[0]'"),
        ("role: R\nexamples:\n  - assistant: hi\n", "field 'examples[0].user'"),
        ("role: R\ncolour: red\n", "field 'colour'"),
        ("context: no role\n", "field 'role'"),
        ("role: [unclosed\n", "invalid YAML"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_invalid_yaml_names_file_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Prompt.from_yaml(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read prompt file"):
        Prompt.from_yaml(tmp_path / "nope.yaml")
