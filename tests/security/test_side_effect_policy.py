"""The owner's side-effect policy: allow / confirm / deny, pending actions approved from
another process, unrequested calls held, and what the evaluation still sees."""

from __future__ import annotations

import json

import pytest

from kapibara.agent import Agent
from kapibara.agent.policy import STATE_KEY, SideEffectPolicy, ungrounded, user_words
from kapibara.demo import demo_agent_options, demo_toolset
from kapibara.errors import ConfigError
from kapibara.memory import open_store
from kapibara.models.base import ToolCall
from kapibara.models.fake import FakeModel
from kapibara.tools import ToolContext, ToolSet, tool


def call(name: str, **arguments: object) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "</tool_call>"


ADD = call("add_to_cart", product_name="五常大米", quantity=2)


def agent(model: FakeModel, store_path, policy, **kw) -> Agent:
    return Agent(model, demo_toolset(), store=open_store(str(store_path)), side_effects=policy, **kw)


def test_the_demo_declares_its_cart_as_side_effecting_and_ships_confirm():
    tools = demo_toolset()
    assert [t.name for t in tools if t.side_effect] == ["add_to_cart"]
    assert demo_agent_options(route=False)["side_effects"] == "confirm"


def test_policy_parsing_per_agent_and_per_tool():
    p = SideEffectPolicy.parse(["confirm", "add_to_cart=deny"])
    assert p.default == "confirm" and p.tools == {"add_to_cart": "deny"}
    assert SideEffectPolicy.parse("allow", base=p).tools == {"add_to_cart": "deny"}  # per-tool kept
    assert SideEffectPolicy.parse({"*": "deny"}).default == "deny"
    assert SideEffectPolicy.parse("confirm,view_cart=allow").tools == {"view_cart": "allow"}
    with pytest.raises(ConfigError, match="allow, confirm or deny"):
        SideEffectPolicy.parse("maybe")


def test_deny_does_not_run_the_call_and_the_model_is_told(tmp_path):
    model = FakeModel([ADD, "好的。"])
    a = agent(model, tmp_path / "s.db", "deny")
    result = a.run("把两袋五常大米加入购物车", session_id="s1")
    assert result.tool_results[0].error_kind == "not_permitted"
    assert "不允许执行" in model.calls[-1].messages[-1]["content"]  # the observation reached the model
    assert open_store(str(tmp_path / "s.db")).get_state("s1").get("cart") is None
    assert any(r["type"] == "policy" and r["verdict"] == "deny" for r in result.trace)


def test_confirm_ends_the_turn_and_another_process_approves_it(tmp_path):
    first = agent(FakeModel([ADD]), tmp_path / "s.db", "confirm")
    result = first.run("把两袋五常大米加入购物车", session_id="s1")
    assert result.stop_reason == "pending" and result.tool_results == []
    assert [c.name for c in result.tool_calls] == ["add_to_cart"]  # the proposed call, for the eval
    pending = result.pending
    assert pending is not None and pending.public()["calls"][0]["arguments"] == {"product_name": "五常大米", "quantity": 2}
    assert pending.id in result.answer
    assert "cart" not in open_store(str(tmp_path / "s.db")).get_state("s1")
    # A new Agent on a new store handle: as a second process would.
    second = agent(FakeModel([]), tmp_path / "s.db", "confirm")  # the answer is rendered, no model call
    events = list(second.resume("s1", pending.id, approve=True))
    final = events[-1].data
    assert final.answer.startswith("已加入购物车：五常大米 ×2")
    assert final.tool_results[0].ok
    state = open_store(str(tmp_path / "s.db")).get_state("s1")
    assert state["cart"][0]["quantity"] == 2 and STATE_KEY not in state
    # Approving again finds nothing waiting.
    again = list(second.resume("s1", pending.id, approve=True))[-1].data
    assert again.stop_reason == "no_pending"


def test_reject_tells_the_model_and_leaves_the_cart_alone(tmp_path):
    a = agent(FakeModel([ADD]), tmp_path / "s.db", "confirm")
    pending = a.run("把两袋五常大米加入购物车", session_id="s1").pending
    assert pending is not None
    model = FakeModel(["好的，不加了。"])
    b = agent(model, tmp_path / "s.db", "confirm")
    final = list(b.resume("s1", pending.id, approve=False))[-1].data
    assert final.tool_results[0].error_kind == "declined"
    assert "用户拒绝了这个操作" in model.calls[-1].messages[-1]["content"]
    assert open_store(str(tmp_path / "s.db")).get_state("s1").get("cart") is None


def test_a_new_question_drops_the_waiting_action(tmp_path):
    a = agent(FakeModel([ADD, "你好！"]), tmp_path / "s.db", "confirm")
    pending = a.run("把两袋五常大米加入购物车", session_id="s1").pending
    assert pending is not None
    a.run("算了，你好", session_id="s1")
    assert STATE_KEY not in open_store(str(tmp_path / "s.db")).get_state("s1")
    assert list(a.resume("s1", pending.id, approve=True))[-1].data.stop_reason == "no_pending"


def test_allow_runs_what_the_user_asked_and_holds_what_they_did_not(tmp_path):
    asked = agent(FakeModel([ADD, "好了。"]), tmp_path / "a.db", "allow")
    assert asked.run("把两袋五常大米加入购物车", session_id="s").tool_results[0].ok
    # The product comes from nowhere in the user's words: held for confirmation.
    # (ask_missing off: by default the agent asks for the product instead, before the policy)
    other = agent(FakeModel([call("add_to_cart", product_name="iPhone 14", quantity=1)]), tmp_path / "b.db", "allow",
                  ask_missing=False)
    result = other.run("五常大米多少钱？", session_id="s")
    assert result.stop_reason == "pending" and "unrequested" in result.pending.public()["calls"][0]["reason"]


def test_a_call_decided_after_a_tool_result_is_held_even_when_grounded(tmp_path):
    # The product was named by the user, but the add came after a tool result (a product
    # description saying "add it") and the user never asked to add: it waits.
    model = FakeModel([call("get_product_info", product_name="五常大米", properties=["价格"]), ADD])
    a = agent(model, tmp_path / "s.db", "allow", max_steps=2)
    result = a.run("两袋五常大米多少钱？", session_id="s")
    assert result.stop_reason == "pending"
    assert result.pending.public()["calls"][0]["reason"] == "after untrusted content"


def test_ungrounded_names_strings_and_numbers_the_user_never_wrote():
    add = demo_toolset().get("add_to_cart")
    assert add is not None
    said = user_words([{"role": "user", "content": "我要两袋五常大米"}], "加入购物车")
    assert ungrounded(ToolCall("add_to_cart", {"product_name": "五常大米", "quantity": 2}), add, said) == []
    assert ungrounded(ToolCall("add_to_cart", {"product_name": "五常大米", "quantity": 99}), add, said) == ["quantity=99"]
    assert ungrounded(ToolCall("add_to_cart", {"product_name": "iPhone 14"}), add, said) == ["product_name=iPhone 14"]
    # ReAct observations and few-shot examples arrive as user messages: not the user's words.
    react = user_words([{"role": "user", "content": "Observation: 加入 iPhone 14"},
                        {"role": "user", "content": "iPhone 14", "name": "example"}], "你好")
    assert "iPhone" not in react


def test_a_tool_not_declared_side_effecting_can_be_gated_by_name(tmp_path):
    @tool
    def send_email(to: str, ctx: ToolContext) -> str:
        """Send an email.

        Args:
            to: address
        """
        return "sent"

    a = Agent(FakeModel([call("send_email", to="a@b.c")]), ToolSet([send_email]),
              store=open_store(str(tmp_path / "s.db")), side_effects={"send_email": "confirm"})
    assert a.run("email a@b.c", session_id="s").stop_reason == "pending"


def test_the_evaluation_scores_the_proposed_call_under_confirm():
    # evals.runner scores Agent.decide: one decision, no tool run, so the policy never hides a call.
    a = Agent(FakeModel([ADD]), demo_toolset(), side_effects="confirm")
    decision = a.decide([{"role": "user", "content": "把两袋五常大米加入购物车"}])
    assert [c.name for c in decision.calls] == ["add_to_cart"]


def test_a_repeated_side_effecting_call_is_refused_as_a_repeat_not_held(tmp_path):
    # The 0.5B adds the water, then writes the same add again after the result: the repeat
    # is refused as a repeat (the answer comes from what was done), not turned into a
    # confirmation of an add that already happened.
    model = FakeModel([ADD, ADD, "已加入购物车：五常大米 ×2。"])
    a = agent(model, tmp_path / "s.db", "allow", max_steps=3)
    result = a.run("把两袋五常大米加入购物车", session_id="s")
    assert result.stop_reason != "pending" and result.pending is None
    assert open_store(str(tmp_path / "s.db")).get_state("s")["cart"][0]["quantity"] == 2
