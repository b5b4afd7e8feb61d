"""The agent on the real bundled Qwen2.5-Coder-0.5B with the grocery demo (slow; -m model)."""

from __future__ import annotations

import pytest

from kapibara.agent import Agent
from kapibara.models.base import ToolCall

pytestmark = pytest.mark.model


def _fewshot_demo_prompt():
    from kapibara.demo import demo_prompt
    from kapibara.prompts import Example

    # Without examples the 0.5B answers this question from imagination (measured: it
    # refuses or invents products); three examples are enough for it to call the tool.
    return demo_prompt("zh").model_copy(
        update={
            "examples": [
                # Chosen not to overlap the demo's smoke set.
                Example(user="有适合煮粥的大米推荐吗？", calls=[ToolCall("recommend_products", {"category": "大米", "scenario": "煮粥"})]),
                Example(user="草莓有打折吗？", calls=[ToolCall("get_promotions", {"product_name": "草莓"})]),
                Example(user="今天心情不错", assistant="那太好了！需要买点什么吗？我可以帮你挑选商品、查优惠、推荐菜谱和管理购物车。"),
            ]
        }
    )


def test_recommends_phones_with_the_demo_tools(real_model):
    demo = pytest.importorskip("kapibara.demo")
    agent = Agent(real_model, demo.demo_toolset(), _fewshot_demo_prompt(), max_steps=2, max_tokens=96)
    result = agent.run("我想买一款拍照好的手机，有推荐吗？")
    assert [c.name for c in result.tool_calls][:1] == ["recommend_products"]
    assert result.tool_calls[0].arguments["category"] in ("手机", "phones", "phone")
    assert result.tool_results[0].error is None
    assert result.answer.strip()
