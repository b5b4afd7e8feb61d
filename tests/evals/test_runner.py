"""The runner with FakeModel: verdicts, recorded fields, concurrency, configurations."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from kapibara.errors import BackendError, ConfigError
from kapibara.evals.cases import Case
from kapibara.evals.results import EvalRun
from kapibara.evals.runner import run_eval
from kapibara.models.base import ToolCall, Usage
from kapibara.models.fake import FakeModel

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "天气", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "date": {"type": "string"}}, "required": ["city"]}}}]


def cases():
    return [
        Case("w1", "weather", [{"role": "user", "content": "北京天气"}], TOOLS, [[{"get_weather": {"city": ["北京"], "date": ["", "today"]}}]]),
        Case("w2", "weather", [{"role": "user", "content": "上海明天天气"}], TOOLS, [[{"get_weather": {"city": ["上海"], "date": ["明天"]}}]]),
        Case("n1", "none", [{"role": "user", "content": "讲个笑话"}], TOOLS, [], answer={"contains": ["笑"]}),
    ]


def responder(messages, tools):
    q = messages[-1]["content"]
    if "北京" in q:
        return '<tool_call>{"name": "get_weather", "arguments": {"city": "北京"}}</tool_call>'
    if "上海" in q:
        return '<tool_call>{"name": "get_weather", "arguments": {"city": "上海"}}</tool_call>'
    return "好的，给你讲个笑话"


def test_raw_config_judges_and_records():
    model = FakeModel(responder)
    run = run_eval(cases(), model, config="raw", dataset="t")
    by = {r.id: r for r in run.results}
    assert by["w1"].correct and by["w1"].calls == [{"name": "get_weather", "arguments": {"city": "北京"}}]
    assert not by["w2"].correct and by["w2"].rule == "missing_param" and by["w2"].tool_correct
    assert by["n1"].correct and by["n1"].text.startswith("好的")
    assert model.calls[0].tools == TOOLS  # raw passes the specs to the model's own template
    assert all(r.decision_s >= 0 and r.e2e_s >= r.decision_s for r in run.results)
    assert by["w1"].raw.startswith("<tool_call>")


def test_answer_check_fails_no_call_reply():
    model = FakeModel(lambda m, t: "不知道")
    run = run_eval(cases()[2:], model, config="raw")
    assert run.results[0].rule == "answer_mismatch"


def test_malformed_output_is_its_own_rule():
    model = FakeModel(lambda m, t: '<tool_call>{"name": "get_weather", "arguments": {"city": </tool_call>')
    r = run_eval(cases()[:1], model, config="raw").results[0]
    assert not r.correct and r.malformed and r.rule == "malformed"


def test_limit_progress_and_saved_run_roundtrip(tmp_path):
    seen = []
    run = run_eval(cases(), FakeModel(responder), config="raw", limit=2, progress=lambda d, t: seen.append((d, t)))
    assert len(run.results) == 2 and seen == [(1, 2), (2, 2)]
    p = run.save(tmp_path / "run.json")
    again = EvalRun.load(p)
    assert [r.correct for r in again.results] == [r.correct for r in run.results]


@dataclass
class FakeDecision:
    calls: list
    text: str = ""
    raw: str = ""
    repairs: list = field(default_factory=list)
    usage: Usage | None = None
    decision_s: float = 0.01
    ttft_s: float = 0.005
    malformed: bool = False
    error: str | None = None
    stops: dict = field(default_factory=dict)
    unsupported: list = field(default_factory=list)


class FakeAgent:
    def __init__(self, model, tools, config, prompt=None):
        self.model, self.tools, self.config = model, tools, config

    def decide(self, messages):
        c = self.model.chat(messages, tools=self.tools)
        return FakeDecision(c.tool_calls, c.content, c.text, ["fuzzy_name"] if self.config == "constrained" else [],
                            Usage(prompt_tokens=10, completion_tokens=3))


def test_agent_configs_use_decide_and_record_repairs():
    run = run_eval(cases(), FakeModel(responder), config="constrained", agent_factory=FakeAgent)
    assert [r.correct for r in run.results] == [True, False, True]
    assert run.results[0].repairs == ["fuzzy_name"] and run.results[0].prompt_tokens == 10
    assert run.results[0].ttft_s == 0.005


@pytest.mark.parametrize("exc", [BackendError("server down"), ValueError("server down: prompt exceeds n_ctx")])
def test_backend_error_is_recorded_not_raised(exc):
    def boom(m, t):
        raise exc
    run = run_eval(cases(), FakeModel(boom), config="raw")
    r = run.results[2]  # a no-call case: a crash must not count as "correctly made no call"
    assert len(run.results) == 3
    assert not r.correct and r.rule == "error" and "server down" in r.error


def test_concurrency_runs_in_parallel_and_keeps_order():
    active, peak = [0], [0]
    lock = threading.Lock()

    def slow(m, t):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return responder(m, t)

    many = [Case(f"c{i}", "w", c.messages, c.tools, c.expected, c.answer) for i, c in enumerate(cases() * 4)]
    run = run_eval(many, FakeModel(slow), config="raw", concurrency=4)
    assert peak[0] > 1
    assert [r.id for r in run.results] == [c.id for c in many]


def test_unknown_config():
    with pytest.raises(ConfigError, match="unknown configuration"):
        run_eval(cases(), FakeModel(responder), config="magic")


def test_real_agent_configs_build_toolsets():
    pytest.importorskip("kapibara.agent", reason="agent not built yet")
    from kapibara import agent as agent_mod
    if not hasattr(agent_mod, "Agent"):
        pytest.skip("kapibara.agent.Agent not available yet")
    model = FakeModel(responder)
    run = run_eval(cases()[:1], model, config="native")
    assert run.results[0].correct, run.results[0]
    assert run.results[0].calls[0]["name"] == "get_weather"
    assert isinstance(run.results[0].calls[0], dict) and ToolCall


def test_domain_case_through_the_real_agent_and_an_episode():
    """A domain case runs with the demo tools and prompt; --episodes acts and answers."""
    from kapibara.evals.adapters import load_dataset

    case = next(c for c in load_dataset("domain:dev") if c.id == "cart-003")
    assert case.messages[-1]["content"] == "车厘子给我加3斤"
    call = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "车厘子", "quantity": 3}}</tool_call>'
    model = FakeModel([call, call])
    run = run_eval([case], model, config="native", episodes=True)
    r = run.results[0]
    assert r.correct, (r.rule, r.detail)
    assert r.answer.startswith("已加入购物车：车厘子 ×3")  # the cart renders its own answer
    assert "add_to_cart" in str(model.calls[0].tools)
    assert r.e2e_s >= r.decision_s


def test_raw_marks_calls_found_only_by_lenient_parsing():
    fenced = '```json\n{"name": "get_weather", "arguments": {"city": "北京"}}\n```'
    r = run_eval(cases()[:1], FakeModel(lambda m, t: fenced), config="raw").results[0]
    assert r.correct and r.repairs == ["lenient_parse"]
    strict = run_eval(cases()[:1], FakeModel(responder), config="raw").results[0]
    assert strict.correct and strict.repairs == []


def test_an_episode_of_a_multi_turn_case_sees_the_earlier_turns():
    """--episodes replays the whole conversation, not only the last user message."""
    messages = [
        {"role": "user", "content": "上海明天天气怎么样"},
        {"role": "assistant", "content": "上海明天晴，20度。"},
        {"role": "user", "content": "那北京呢"},
    ]
    case = Case("mt1", "weather", messages, TOOLS, [[{"get_weather": {"city": ["北京"], "date": ["", "明天"]}}]])
    seen: list[list[dict]] = []

    def answer(msgs, tools):
        seen.append([m for m in msgs if m.get("role") != "system"])
        return "北京明天多云。"

    r = run_eval([case], FakeModel(answer), config="native", episodes=True).results[0]
    assert r.answer == "北京明天多云。"
    episode = seen[-1]  # the episode's own decision
    assert [m["content"] for m in episode[:3]] == [m["content"] for m in messages]
