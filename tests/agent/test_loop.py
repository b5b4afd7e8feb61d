import threading
import time

import pytest
from grocery_standin import call

from kapibara.agent import Agent
from kapibara.models.fake import FakeModel
from kapibara.tools import ToolSet, tool


def kinds(events):
    return [e.kind for e in events if e.kind != "token"]


def test_direct_answer_needs_no_tool(tools):
    model = FakeModel(["你好！我是购物助手。"])
    result = Agent(model, tools).run("你好")
    assert result.answer == "你好！我是购物助手。"
    assert result.tool_calls == [] and result.steps == 1 and result.stop_reason == "answer"


def test_one_tool_then_answer(tools):
    model = FakeModel([call("recommend_products", category="手机", scenario="拍照"), "推荐小米11 Ultra。"])
    result = Agent(model, tools).run("我想买一款拍照好的手机，有推荐吗？")
    assert [c.name for c in result.tool_calls] == ["recommend_products"]
    assert "小米11 Ultra" in result.tool_results[0].output
    assert result.answer == "推荐小米11 Ultra。"
    # The second model call saw the tool result as a role=tool message.
    second = model.calls[1].messages
    assert second[-1]["role"] == "tool" and "小米11 Ultra" in second[-1]["content"]
    assert second[-2]["tool_calls"][0]["id"] == second[-1]["tool_call_id"]


def test_parallel_calls_run_concurrently():
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def slow_a(x: str) -> str:
        """A.

        Args:
            x: x
        """
        barrier.wait()  # deadlocks (times out) unless slow_b runs at the same time
        return "a"

    @tool
    def slow_b(x: str) -> str:
        """B.

        Args:
            x: x
        """
        barrier.wait()
        return "b"

    model = FakeModel([call("slow_a", x="1") + call("slow_b", x="2"), "done"])
    t0 = time.perf_counter()
    result = Agent(model, ToolSet([slow_a, slow_b]), ask_missing=False).run("go")
    assert [r.output for r in result.tool_results] == ["a", "b"]
    assert all(r.error is None for r in result.tool_results)
    assert time.perf_counter() - t0 < 5


def test_budget_spent_then_answer_from_observations(tools):
    model = FakeModel(
        [
            call("get_weather", city="北京"),
            call("get_weather", city="上海"),
            "Thought: 北京和上海都是晴天。\nFinal Answer: 两地都是晴天。",
        ]
    )
    result = Agent(model, tools, max_steps=2).run("北京和上海的天气？")
    assert result.stop_reason == "max_steps" and result.steps == 2
    assert result.answer == "两地都是晴天。"
    last = model.calls[-1]
    assert last.tools is None  # no tools offered for the forced answer
    # One plain message holds the question and every observation (small models answer
    # from a text block, not from inside the tool-calling conversation).
    assert [m["role"] for m in last.messages] == ["system", "user"]
    assert "北京和上海的天气？" in last.messages[-1]["content"]
    assert "上海" in last.messages[-1]["content"] and "[get_weather]" in last.messages[-1]["content"]


def test_repeated_identical_call_is_stopped(tools):
    model = FakeModel(
        [
            call("get_weather", city="北京"),
            call("get_weather", city="北京"),
            "Final Answer: 北京晴。",
        ]
    )
    events = list(Agent(model, tools, max_steps=5).stream("北京天气"))
    result = events[-1].data
    assert result.stop_reason == "repeated_call"
    assert len(model.calls) == 3  # decision, repeated decision, forced answer: no step 3
    assert result.tool_results[1].error == "repeated_call"
    assert "不要重复调用" in result.tool_results[1].output
    assert any(e.kind == "error" and "repeated" in e.data for e in events)
    assert result.answer == "北京晴。"


def test_unknown_tool_becomes_an_observation(tools):
    model = FakeModel([call("book_flight", city="北京"), "抱歉，我不能订机票。"])
    result = Agent(model, tools, repair=False).run("帮我订机票")
    r = result.tool_results[0]
    assert r.error_kind == "unknown_tool"
    assert "book_flight" in r.output and "recommend_products" in r.output
    assert result.answer == "抱歉，我不能订机票。"
    end = next(t for t in result.trace if t["type"] == "run_end")
    assert end["errors"] == {"unknown_tool": 1}


def test_tool_that_raises_becomes_an_observation(tools):
    model = FakeModel([call("get_product_info", product_name="不存在", properties=["price"]), "没找到。"])
    result = Agent(model, tools).run("查一下不存在的价格")
    assert result.tool_results[0].error_kind == "tool_error"
    assert "没有找到商品" in model.calls[1].messages[-1]["content"]


def test_stream_event_order(tools):
    model = FakeModel([call("view_cart"), "购物车是空的。"])
    events = list(Agent(model, tools).stream("看看购物车"))
    assert kinds(events) == ["tool_call", "observation", "final"]
    assert events[0].kind == "token"
    tokens = "".join(e.data for e in events if e.kind == "token")
    assert "view_cart" in tokens and tokens.endswith("购物车是空的。")
    assert events[-1].data.answer == "购物车是空的。"


def test_react_stream_has_thoughts(tools):
    model = FakeModel(
        [
            'Thought: 先查天气\nAction: get_weather\nAction Input: {"city": "北京"}',
            "Thought: 晴天\nFinal Answer: 北京晴。",
        ]
    )
    events = list(Agent(model, tools, protocol="react").stream("北京天气"))
    assert kinds(events) == ["thought", "tool_call", "observation", "thought", "final"]
    assert events[-1].data.answer == "北京晴。"
    # Stop sequence and the observation as text.
    assert model.calls[0].stop == ["Observation:"] and model.calls[0].tools is None
    assert model.calls[1].messages[-1] == {"role": "user", "content": "Observation: 北京 today：晴，25°C"}


def test_session_resumes_in_a_new_agent(tools, store):
    first = FakeModel([call("add_to_cart", product_name="车厘子", quantity=2), "已加入。"])
    r1 = Agent(first, tools, store=store).run("买两份车厘子", session_id="s1")
    assert r1.session_id == "s1"
    assert store.get_state("s1") == {"cart": {"车厘子": 2}}

    second = FakeModel([call("view_cart"), "购物车里有车厘子 x2。"])
    r2 = Agent(second, tools, store=store).run("购物车里有什么？", session_id="s1")
    sent = second.calls[0].messages
    assert [m["content"] for m in sent if m["role"] == "user"] == ["买两份车厘子", "购物车里有什么？"]
    assert '"车厘子": 2' in r2.tool_results[0].output  # the cart came back from the store
    roles = [m["role"] for m in store.messages("s1")]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant", "tool", "assistant"]
    assert {t["run_id"] for t in store.traces("s1")} == {r1.trace[0]["run_id"], r2.trace[0]["run_id"]}


def test_each_step_is_saved_before_the_next(tools, store):
    """A process killed mid-run keeps the steps already done."""

    def respond(messages, specs):
        if len(messages) == 2:  # first decision
            return call("get_weather", city="北京")
        raise KeyboardInterrupt  # the process dies in the second decision

    agent = Agent(FakeModel(respond), tools, store=store)
    with pytest.raises(KeyboardInterrupt):
        agent.run("北京天气", session_id="k")
    roles = [m["role"] for m in store.messages("k")]
    assert roles == ["user", "assistant", "tool"]


def test_context_budget_drops_oldest_turns(tools, store):
    store.append("long", [{"role": "user", "content": "旧问题" * 400}, {"role": "assistant", "content": "旧回答"}])
    store.append("long", [{"role": "user", "content": "近的问题"}, {"role": "assistant", "content": "近的回答"}])
    model = FakeModel(["好的"])
    Agent(model, tools, store=store, max_context_tokens=600).run("新问题", session_id="long")
    sent = [m["content"] for m in model.calls[0].messages]
    assert sent[0] and model.calls[0].messages[0]["role"] == "system"
    assert "近的问题" in sent and "新问题" in sent
    assert not any("旧问题" in c for c in sent)


def test_without_session_id_a_new_session_is_made(tools, store):
    r = Agent(FakeModel(["hi"]), tools, store=store).run("hello")
    assert r.session_id and store.messages(r.session_id)[0]["content"] == "hello"
