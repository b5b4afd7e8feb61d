"""Tools that render their own result as the answer (``Tool.direct_answer``): the turn
ends with the rendering, no generation spent restating results (fake models only)."""

from __future__ import annotations

from grocery_standin import call

from kapibara.agent import Agent
from kapibara.demo.tools import add_to_cart, recommend_products, recommendation_answer
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
    assert Agent(model, _tools(), language="en", ask_missing=False).run("x").answer == "both done"
    model = FakeModel([call("find", q="a"), "model's answer"])
    r = Agent(model, _tools(lambda v, lang: None), language="en", ask_missing=False).run("x")
    assert r.answer == "model's answer" and r.stop_reason == "answer"
    model = FakeModel([call("find", q="a"), "off"])
    assert Agent(model, _tools(), language="en", direct_answers=False, ask_missing=False).run("x").answer == "off"


def test_a_failing_renderer_is_traced_and_the_model_answers():
    def broken(value, language):
        raise KeyError("items")

    model = FakeModel([call("find", q="a"), "fallback"])
    r = Agent(model, _tools(broken), language="en", ask_missing=False).run("x")
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


def test_the_demo_cart_add_renders_what_was_added_and_the_total_in_the_users_language():
    from kapibara.demo.tools import cart_answer

    value = add_to_cart("农夫山泉", 2)
    zh, en = cart_answer(value, "zh"), cart_answer(value, "en")
    assert zh is not None and en is not None
    assert "农夫山泉 ×2" in zh and value["cart_total"] in zh
    assert "×2" in en and "¥" + value["cart_total"].removesuffix("元") in en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en)
    assert cart_answer({"error": "sold out"}, "zh") is None


def test_an_approved_cart_add_is_answered_from_its_result_without_a_model_call(tmp_path):
    from kapibara.demo import demo_toolset
    from kapibara.memory import open_store

    add = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "农夫山泉", "quantity": 2}}</tool_call>'
    a = Agent(FakeModel([add]), demo_toolset(), store=open_store(str(tmp_path / "s.db")), side_effects="confirm")
    pending = a.run("来两箱农夫山泉", session_id="s").pending
    assert pending is not None
    model = FakeModel([])  # no reply scripted: a model call would fail the test
    b = Agent(model, demo_toolset(), store=open_store(str(tmp_path / "s.db")), side_effects="confirm")
    final = list(b.resume("s", pending.id, approve=True))[-1].data
    assert final.stop_reason == "direct" and "已加入购物车：农夫山泉 ×2" in final.answer
    assert model.calls == []
