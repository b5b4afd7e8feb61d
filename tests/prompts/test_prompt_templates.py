"""Template files: every template exists in zh and en and renders with StrictUndefined."""

from __future__ import annotations

import pytest

from kapibara.errors import ConfigError
from kapibara.prompts import load_template, render_template, template_names

EXPECTED = {
    "heading_role", "heading_constraints", "heading_thinking", "heading_tools", "heading_context",
    "heading_examples", "section", "example", "thinking_cot", "thinking_react", "react_format",
    "react_question", "react_observation", "answer_from_observations", "reask_error",
    "no_tool_guidance", "observation_unknown_tool", "observation_invalid_arguments",
    "observation_tool_error", "observation_timeout",
}


def test_documented_templates_exist_in_both_languages():
    assert set(template_names()) >= EXPECTED
    for name in template_names():
        assert load_template(name, "zh").strip(), name
        assert load_template(name, "en").strip(), name


def test_zh_and_en_differ_where_wording_matters():
    assert "一步一步" in load_template("thinking_cot", "zh")
    assert "step by step" in load_template("thinking_cot", "en")
    en = render_template("answer_from_observations", "en", question="Q?", observations="[f] 1")
    zh = render_template("answer_from_observations", "zh", question="问？", observations="[f] 1")
    assert "using only the tool results" in en and "Q?" in en and "[f] 1" in en
    assert "只根据工具查询结果" in zh and "问？" in zh


def test_reask_quotes_the_error_and_optional_tool_names():
    text = render_template("reask_error", "zh", error="Expecting ',' delimiter: line 1 column 20")
    assert "Expecting ',' delimiter: line 1 column 20" in text
    with_names = render_template("reask_error", "en", error="unknown tool 'x'", tool_names="a, b")
    assert "unknown tool 'x'" in with_names and "[a, b]" in with_names


def test_react_transcript_lines():
    assert render_template("react_question", "zh", question="车厘子多少钱？") == "Question: 车厘子多少钱？"
    assert render_template("react_observation", "en", observation="42") == "Observation: 42"


def test_missing_variable_and_unknown_names_raise_config_error():
    with pytest.raises(ConfigError, match="reask_error"):
        render_template("reask_error", "zh")
    with pytest.raises(ConfigError, match="unknown prompt template 'nope'"):
        load_template("nope", "zh")
    with pytest.raises(ConfigError, match="no 'fr' text"):
        load_template("thinking_cot", "fr")
