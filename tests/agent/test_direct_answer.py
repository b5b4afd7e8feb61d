"""Tools that render their own result as the answer (``Tool.direct_answer``): the turn
ends with the rendering, no generation spent restating results (fake models only)."""

from __future__ import annotations

from grocery_standin import call

from kapibara.agent import Agent
from kapibara.demo.tools import recommend_products, recommendation_answer
from kapibara.models.fake import FakeModel
from kapibara.tools import ToolSet, tool


def _tools(render=lambda v, lang: f"[{lang}] {v['n']} items"):
    @tool(direct_answer=render)
    def find(q: str) -> dict:
        """Find things."""
        return {"n": len(q)}

    @tool
    def other(q: str) -> str:
        """Something else."""
        return "x"

    return ToolSet([find, other])


def test_a_rendering_tool_answers_the_turn_without_another_generation(store):
    model = FakeModel([call("find", q="abc")])
    agent = Agent(model, _tools(), store=store, language="en")
    r = agent.run("find abc", session_id="s")
    assert r.answer == "[en] 3 items" and r.stop_reason == "direct"
    assert len(model.calls) == 1  # the decision only
    assert [e["type"] for e in r.trace if e["type"] == "direct_answer"] == ["direct_answer"]
    history = store.messages("s")
    assert history[-1]["role"] == "assistant" and history[-1]["content"] == "[en] 3 items"


def test_the_model_answers_when_a_call_has_no_renderer_or_the_renderer_declines():
    model = FakeModel([call("find", q="a") + call("other", q="b"), "both done"])
    assert Agent(model, _tools(), language="en").run("x").answer == "both done"
    model = FakeModel([call("find", q="a"), "model's answer"])
    r = Agent(model, _tools(lambda v, lang: None), language="en").run("x")
    assert r.answer == "model's answer" and r.stop_reason == "answer"
    model = FakeModel([call("find", q="a"), "off"])
    assert Agent(model, _tools(), language="en", direct_answers=False).run("x").answer == "off"


def test_a_failing_renderer_is_traced_and_the_model_answers():
    def broken(value, language):
        raise KeyError("items")

    model = FakeModel([call("find", q="a"), "fallback"])
    r = Agent(model, _tools(broken), language="en").run("x")
    assert r.answer == "fallback"
    err = [e for e in r.trace if e["type"] == "direct_answer_error"]
    assert err and "KeyError" in err[0]["error"]


def test_the_demo_recommendation_renders_every_figure_in_the_users_language():
    value = recommend_products("耳机", "跑步")
    zh = recommendation_answer(value, "zh")
    en = recommendation_answer(value, "en")
    assert zh is not None and en is not None
    for item in value["items"]:
        assert item["name"] in zh and item["price"] in zh and item["highlight"] in zh
        assert item["name_en"] in en and item["price"].removesuffix("元") in en and str(item["rating"]) in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)  # no Chinese in the English answer
    assert recommendation_answer({"items": [], "message": "none"}, "zh") is None
    assert recommendation_answer({"error": "no such category"}, "en") is None
