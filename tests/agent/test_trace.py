"""Traces are complete and lossless: rebuildable model requests, raw outputs, tool I/O."""

import json

from grocery_standin import call

from kapibara.agent import Agent, export_jsonl, read_jsonl
from kapibara.models.fake import FakeModel


def _run(tools, store=None):
    model = FakeModel(
        [
            "```json\n" + json.dumps({"name": "get_weathr", "arguments": {"city": "北京"}}) + "\n```",
            call("get_product_info", product_name="没有", properties=["price"]),
            "北京晴；没有这个商品。",
        ]
    )
    return model, Agent(model, tools, store=store, ask_missing=False).run("北京天气？顺便查下价格", session_id="t1")


def test_trace_records_every_model_and_tool_call(tools):
    model, result = _run(tools)
    types = [r["type"] for r in result.trace]
    assert types[0] == "run_start" and types[-1] == "run_end"
    model_calls = [r for r in result.trace if r["type"] == "model_call"]
    assert len(model_calls) == len(model.calls) == 3
    # The exact request can be rebuilt: messages and tool specs as sent.
    for rec, sent in zip(model_calls, model.calls, strict=True):
        assert rec["messages"] == sent.messages
        assert rec["tools"] == sent.tools
        assert rec["usage"]["completion_tokens"] > 0 and "ttft_s" in rec
    assert model_calls[0]["raw"].startswith("```json")
    decisions = [r for r in result.trace if r["type"] == "decision"]
    assert decisions[0]["repairs"] == ["lenient_parse", "fuzzy_name"]
    assert decisions[0]["calls"][0]["name"] == "get_weather"
    tool_calls = [r for r in result.trace if r["type"] == "tool_call"]
    assert [t["name"] for t in tool_calls] == ["get_weather", "get_product_info"]
    assert tool_calls[0]["output"] and tool_calls[0]["duration_s"] >= 0
    assert tool_calls[1]["error_kind"] == "tool_error" and "没有找到商品" in tool_calls[1]["error"]
    end = result.trace[-1]
    assert end["answer"] == "北京晴；没有这个商品。" and end["errors"] == {"tool_error": 1}
    assert len({r["run_id"] for r in result.trace}) == 1


def test_trace_is_json_and_stored_with_the_session(tools, store, tmp_path):
    _, result = _run(tools, store)
    assert store.traces("t1") == result.trace
    path = export_jsonl(result.trace, tmp_path / "out" / "trace.jsonl")
    assert read_jsonl(path) == json.loads(json.dumps(result.trace))
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_decide_reports_timings_and_usage(tools):
    d = Agent(FakeModel([call("view_cart")]), tools).decide([{"role": "user", "content": "购物车"}])
    assert d.decision_s > 0 and d.ttft_s > 0 and d.usage.completion_tokens > 0
    assert d.raw.startswith("<tool_call>")


def test_decide_returns_its_trace_records(tools):
    model = FakeModel(['<tool_call>{"name": "view_cart", "arguments": {"x": </tool_call>', call("view_cart")])
    d = Agent(model, tools).decide([{"role": "user", "content": "购物车"}])
    assert [r["type"] for r in d.trace] == ["model_call", "model_call", "decision"]
    assert [r["rung"] for r in d.trace[:2]] == [None, "reask"]
    assert d.trace[0]["raw"].startswith("<tool_call>") and d.trace[-1]["repairs"] == ["reask"]


def test_constrained_answer_is_stored_as_plain_text(tools, store):
    bad = '<tool_call>{"name": "view_cart", "arguments": {</tool_call>'
    model = FakeModel([bad, bad, '{"answer": "你好！"}'])  # the ladder's constrained rung answers
    r = Agent(model, tools, store=store).run("你好", session_id="c")
    assert r.answer == "你好！"
    assert store.messages("c")[-1] == {"role": "assistant", "content": "你好！"}
