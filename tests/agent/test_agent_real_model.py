"""The agent on the real bundled Qwen2.5-Coder-0.5B with the grocery demo (slow; -m model)."""

from __future__ import annotations

import pytest

from kapibara.agent import Agent

pytestmark = pytest.mark.model


def test_recommends_phones_with_the_demo_tools(real_model):
    demo = pytest.importorskip("kapibara.demo")
    # The demo's default agent, as `make demo` runs it (its router over the shipped example
    # bank sends this question to recommend_products; the bare prompt alone picked
    # get_product_info on the 0.5B's Q4_0 copy, and recommend_products on the shipped file).
    agent = Agent(real_model, demo.demo_toolset(), max_steps=1, max_tokens=96, **demo.demo_agent_options("zh"))
    result = agent.run("我想买一款拍照好的手机，有推荐吗？")
    assert [c.name for c in result.tool_calls][:1] == ["recommend_products"]
    assert result.tool_calls[0].arguments["category"] in ("手机", "phones", "phone")
    assert "max_price" not in result.tool_calls[0].arguments  # the question names no budget
    items = result.tool_results[0].value["items"]
    assert items, result.tool_results[0].output
    # The answer names at least one of the catalog's real phones from the observation.
    assert any(item["name"] in result.answer for item in items), result.answer


def test_cached_prefix_makes_a_new_process_skip_the_system_prompt(tmp_path):
    """The CLI saves the agent's fixed prefix; a fresh model's first decision loads it."""
    demo = pytest.importorskip("kapibara.demo")
    from kapibara.models.bundled import model_path
    from kapibara.models.llamacpp import LlamaCppModel

    path = model_path("qwen2.5-coder-0.5b")
    first = LlamaCppModel(path, n_ctx=4096, threads=1, shared=False, prefix_state_dir=tmp_path / "pc")
    agent = Agent(first, demo.demo_toolset(), demo.demo_prompt("zh"), max_steps=1, max_tokens=8)
    saved = agent.cache_prefix()
    assert saved.exists() and agent.cache_prefix() == saved  # idempotent: no second file
    fresh = LlamaCppModel(path, n_ctx=4096, threads=1, shared=False, prefix_state_dir=tmp_path / "pc")
    d = Agent(fresh, demo.demo_toolset(), demo.demo_prompt("zh"), max_steps=1, max_tokens=8).decide(
        [{"role": "user", "content": "你好"}])
    assert d.usage.cached_prompt_tokens > 0.8 * d.usage.prompt_tokens
