"""bench/peers.py's measuring parts, offline: the logging proxy, the recording tools and
the scoring of an intercepted first decision (no peer framework, no model)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import peer_adapters as pa  # noqa: E402
import peers  # noqa: E402

from kapibara.demo.tools import TOOL_FUNCTIONS  # noqa: E402
from kapibara.evals.cases import case_from_dict, resolve_tools  # noqa: E402

CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "北京"}'}}


@pytest.fixture()
def upstream() -> Any:
    seen: list[dict[str, Any]] = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append(body)
            data = json.dumps({"id": "x", "model": body["model"], "choices": [
                {"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [CALL]},
                 "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 321, "completion_tokens": 9}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def post(url: str, body: dict[str, Any]) -> Any:
    import httpx

    return httpx.post(url + "/chat/completions", json=body, timeout=10)


def test_proxy_records_usage_streams_one_chunk_and_refuses_after_a_call(upstream: Any) -> None:
    url, seen = upstream
    proxy = peers.Proxy(url, "served-name")
    try:
        r = post(proxy.url, {"model": "local", "messages": [], "stream": True, "stream_options": {"include_usage": True}})
        assert r.headers["content-type"] == "text/event-stream"
        chunk = json.loads(r.text.split("\n\n")[0].removeprefix("data: "))
        assert chunk["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
        assert seen[0]["model"] == "served-name" and "stream" not in seen[0]  # upstream asked non-streamed
        assert proxy.capture.requests[0]["prompt_tokens"] == 321
        proxy.capture.record("get_weather", {"city": "北京"})
        assert post(proxy.url, {"model": "local", "messages": []}).status_code == 400  # the first decision is over
        assert proxy.capture.refused == 1 and len(seen) == 1
    finally:
        proxy.close()


def test_recording_tools_keep_signature_and_record_instead_of_running() -> None:
    got: list[tuple[str, dict[str, Any]]] = []
    tools = pa.recording_tools(TOOL_FUNCTIONS, lambda n, a: got.append((n, a)) or "ok")
    import inspect

    add = next(t for t in tools if t.__name__ == "add_to_cart")
    assert list(inspect.signature(add).parameters) == ["product_name", "quantity"]  # ctx left out
    assert add(product_name="牛奶", quantity=2) == {"result": "ok"}
    assert got == [("add_to_cart", {"product_name": "牛奶", "quantity": 2})]


def test_defaults_a_framework_injected_are_dropped_and_the_call_is_scored() -> None:
    call = {"name": "get_weather", "arguments": {"city": "北京", "date": ""}}
    requests = [{"tool_calls": [CALL]}]
    assert peers.model_arguments(call, requests)["arguments"] == {"city": "北京"}
    case = case_from_dict({"id": "w", "category": "weather", "messages": [{"role": "user", "content": "北京天气"}],
                           "tools": "demo", "expected": [{"get_weather": {"city": ["北京"]}}]})
    from kapibara.models.base import ToolCall

    specs = resolve_tools("demo")
    assert peers.score(case, [ToolCall("get_weather", {"city": "北京"})], specs, {})["correct"]
    wrong = peers.score(case, [], specs, {"malformed": True, "text": "<tool_call>{"})
    assert not wrong["correct"] and wrong["rule"] == "malformed"


def test_a_shortened_run_spreads_over_every_category() -> None:
    from kapibara.evals.cases import Case

    cases = [Case(id=f"{c}-{i}", category=c, messages=[{"role": "user", "content": "x"}], tools="demo") for c in ("a", "b", "c") for i in range(4)]
    picked = peers.spread(cases, 5)
    assert [c.id for c in picked] == ["a-0", "b-0", "c-0", "a-1", "b-1"]
    assert peers.spread(cases, None) == cases and len(peers.spread(cases, 99)) == 12


def test_bfcl_names_a_framework_had_to_change_are_restored_before_scoring() -> None:
    # Frameworks derive tools from Python functions, so "triangle_properties.get" reaches
    # them as "triangle_properties_get"; scored as sent, every such call read as the wrong
    # function (LangGraph: 1 of 21 BFCL multiple cases right before the names were restored).
    fn = {"name": "triangle_properties.get", "description": "Triangle properties.",
          "parameters": {"type": "object", "required": ["side-1"],
                         "properties": {"side-1": {"type": "number"}, "get_area": {"type": "boolean"}}}}
    f = peers.schema_function(fn)
    import inspect

    assert f.__name__ == "triangle_properties_get"
    assert list(inspect.signature(f).parameters) == ["side_1", "get_area"]
    restored = peers.original_names({"name": "triangle_properties_get", "arguments": {"side_1": 3, "get_area": True}}, (f,))
    assert restored == {"name": "triangle_properties.get", "arguments": {"side-1": 3, "get_area": True}}
    demo = {"name": "get_weather", "arguments": {"city": "北京"}}
    assert peers.original_names(demo, TOOL_FUNCTIONS) == demo


def test_limits_cap_every_set_or_each_one() -> None:
    assert peers.limits(None, ["domain", "multiple"]) == {"domain": None, "multiple": 100}
    assert peers.limits("24", ["domain", "multiple"]) == {"domain": 24, "multiple": 24}
    assert peers.limits("domain=24,multiple=30", ["domain", "multiple", "irrelevance"]) == {
        "domain": 24, "multiple": 30, "irrelevance": 100}
    with pytest.raises(ValueError, match="SET=N"):
        peers.limits("bfcl=3", ["domain"])


def test_a_spec_named_call_reaches_the_python_function():
    # Qwen-Agent calls tools by their spec names: BFCL's dotted names and parameter names
    # that are not identifiers reach the function schema_function made of them.
    fn = peers.schema_function({"name": "triangle_properties.get", "description": "d", "parameters": {
        "type": "dict", "properties": {"side-1": {"type": "integer"}, "side2": {"type": "integer"}}}})
    got = []
    tools = pa.recording_tools((fn,), lambda name, args: got.append((name, args)) or "ok")
    tool, args = pa.python_call({t.__name__: t for t in tools}, "triangle_properties.get", {"side-1": 5, "side2": 4})
    tool(**args)
    assert got == [("triangle_properties_get", {"side_1": 5, "side2": 4})]
    assert peers.original_names({"name": got[0][0], "arguments": got[0][1]}, (fn,)) == {
        "name": "triangle_properties.get", "arguments": {"side-1": 5, "side2": 4}}


def test_the_winner_of_each_column_is_named_with_ties_and_partial_rows_left_out() -> None:
    def row(name: str, n: int, acc: float, p50: float, tokens: int, malformed: float = 0.0) -> dict[str, Any]:
        return {"model": "0.5b", "set": "domain", "row": name, "framework": name.split("/")[0], "n": n,
                "accuracy": acc, "tool_acc": acc, "call_acc": acc, "no_call_acc": None, "p50_s": p50,
                "p95_s": p50 * 2, "prompt_tokens_mean": tokens, "malformed_rate": malformed, "error_rate": 0.0}

    table = [row("kapibara/default", 72, 80.0, 4.0, 1800), row("langgraph/react@kapibara", 72, 80.0, 3.0, 0),
             row("llamaindex/function@kapibara", 72, 60.0, 2.0, 1600, malformed=5.0),
             row("smolagents/required@kapibara", 10, 95.0, 1.0, 900)]  # partial: never a winner
    lines = peers.winners(table)
    text = "\n".join(lines)
    acc = next(line for line in lines if line.startswith("| 0.5b | domain | accuracy"))
    assert "kapibara/default, langgraph/react@kapibara (80.0)" in acc  # a tie names both
    assert "smolagents" not in acc
    assert "| p50 s (lower) | llamaindex/function@kapibara (2.0) |" in text
    # a row whose server reported no tokens (0) does not win the token column
    assert "| prompt tokens (lower) | llamaindex/function@kapibara (1600) |" in text
    assert "| malformed % (lower) | kapibara/default, langgraph/react@kapibara (0.0) |" in text
    assert not any("no-call" in line for line in lines)  # no row has that column here
    assert "smolagents/required@kapibara (n=10 of 72)" in text


def test_live_tools_run_the_real_tool_keep_the_cart_and_return_errors() -> None:
    from kapibara.tools import ToolContext

    got: list[tuple[str, dict[str, Any], Any]] = []
    ctx = ToolContext()
    tools = {t.__name__: t for t in pa.live_tools(TOOL_FUNCTIONS, lambda n, a, r: got.append((n, a, r)) or "ok", ctx)}
    added = tools["add_to_cart"](product_name="五常大米", quantity=2)
    assert added["ok"] and got[0][2] is added
    assert tools["view_cart"]()["total_quantity"] == 2  # the conversation's cart persists
    bad = tools["add_to_cart"](product_name="五常大米", quantity=500)
    assert set(bad) == {"error"} and "ToolArgumentError" in bad["error"]  # shown to the model, not raised


def conversation(case_id: str, expected: list[dict[str, Any]], content: str = "北京明天天气怎么样？") -> Any:
    return case_from_dict({"id": peers.CONV_PREFIX + case_id, "category": "weather", "tools": "demo",
                           "messages": [{"role": "user", "content": content}], "expected": expected})


def test_a_conversation_through_a_peer_runs_its_tools_and_scores_calls_answer_and_grounding(upstream: Any) -> None:
    url, seen = upstream
    proxy = peers.Proxy(url, "served-name")
    case = conversation("w1", [{"get_weather": {"city": ["北京"]}}])

    def framework(answer: str) -> Any:
        def run(messages: Any, system: str, tools: Any, specs: Any, base_url: str, steps: int = 1) -> str:
            assert steps == peers.E2E_STEPS
            post(base_url, {"model": "local", "messages": messages})  # the model asks for the call
            weather = next(t for t in tools if t.__name__ == "get_weather")(city="北京")
            post(base_url, {"model": "local", "messages": messages})  # e2e: no refusal after a call
            return answer.format(**weather) if "error" not in weather else weather["error"]
        return run

    try:
        row = peers.Row("fake/e2e", "fake", "scripted", "kapibara", framework("北京{date}：{weather}"))
        good = peers.run_peer(row, case, proxy)
        assert good["correct"] and good["grounded"] and good["requests"] == 2 and good["refused"] == 0
        assert good["calls"] == [{"name": "get_weather", "arguments": {"city": "北京"}}]
        assert "北京" in good["results"][0] and good["prompt_tokens"] == 642
        invented = peers.run_peer(peers.Row("fake/inv", "fake", "s", "kapibara", framework("北京明天37度，有雨")), case, proxy)
        assert not invented["correct"] and invented["rule"] == "ungrounded" and "37" in invented["unsupported"]
        silent = peers.run_peer(peers.Row("fake/none", "fake", "s", "kapibara", framework("")), case, proxy)
        assert not silent["correct"] and silent["rule"] == "no_answer"
        for empty in ("Sorry, need more steps to process this request.", "北京明天天气怎么样？"):  # an echo too
            out = peers.run_peer(peers.Row("fake/empty", "fake", "s", "kapibara", framework(empty)), case, proxy)
            assert out["grounded"] and not out["correct"] and out["rule"] == "results_unused"
    finally:
        proxy.close()


def test_a_conversation_that_loops_is_stopped_by_the_request_cap(upstream: Any) -> None:
    url, _ = upstream
    proxy = peers.Proxy(url, "served-name")

    def loop(messages: Any, system: str, tools: Any, specs: Any, base_url: str, steps: int = 1) -> str:
        while True:
            r = post(base_url, {"model": "local", "messages": messages})
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}")

    try:
        out = peers.run_peer(peers.Row("fake/loop", "fake", "s", "kapibara", loop), conversation("w2", [{"get_weather": {"city": ["北京"]}}]), proxy)
        assert out["requests"] == peers.E2E_MAX_REQUESTS and out["refused"] == 1
        assert not out["correct"] and out["rule"] == "error"
    finally:
        proxy.close()


def test_conversations_are_spread_domain_cases_with_their_own_ids() -> None:
    data = peers.cases_for(["domain", "conversation"], peers.limits(None, ["domain", "conversation"]))
    conv = data["conversation"]
    assert len(conv) == peers.CONVERSATIONS and all(c.id.startswith(peers.CONV_PREFIX) for c in conv)
    assert len({c.category for c in conv}) == len({c.category for c in data["domain"]})  # every category
    assert {c.id.removeprefix(peers.CONV_PREFIX) for c in conv} <= {c.id for c in data["domain"]}


def test_the_conversation_table_counts_right_calls_answers_and_grounding() -> None:
    cases = [conversation(f"t{i}", [{"get_weather": {"city": ["北京"]}}]) for i in range(4)]
    row = peers.ROW_BY_NAME["kapibara/default"]
    outcomes = [(True, True, True), (True, True, False), (True, False, False), (False, True, False)]  # calls, answered, grounded
    cache = {}
    for c, (calls, answered, grounded) in zip(cases, outcomes, strict=True):
        k = peers.key("0.5b", row.name, c.id)
        cache[k] = {"id": c.id, "calls_correct": calls, "answered": answered, "grounded": grounded, "uses_results": answered,
                    "correct": calls and answered and grounded, "decision_s": 2.0, "e2e_s": 2.0, "requests": 2,
                    "prompt_tokens": 100, "calls_made": [{}]}
    lines = peers.conversations({"conversation": cases}, [row], ["0.5b"], cache)
    line = next(x for x in lines if x.startswith("| 0.5b | kapibara/default |"))
    assert line.startswith("| 0.5b | kapibara/default | 4 | 75.0 | 75.0 | 25.0 | 75.0 | 25.0 [")
    assert peers.conversations({"domain": cases}, [row], ["0.5b"], cache) == []


def test_result_facts_are_the_values_a_tool_returned_that_the_user_had_not_said() -> None:
    result = json.dumps({"city": "上海", "date": "2026-12-03", "weather": "小雨", "temperature": "3~9°C",
                         "items": [{"name": "vivo X100 Pro", "price": 4999, "rating": 4.9}]}, ensure_ascii=False)
    facts = peers.result_facts([result[:-12]], "上海明天天气怎么样")  # cut short, as the cache keeps it
    assert {"小雨", "2026-12-03", "vivo X100 Pro", "4999", "2026"} <= facts
    assert "上海" not in facts and "9" not in facts and "city" not in facts  # said, small, a key
    assert peers.result_facts([], "x") == set()


def test_rescoring_a_conversation_applies_todays_rules_to_what_was_kept() -> None:
    case = conversation("r1", [{"get_weather": {"city": ["北京"]}}])
    hit = {"id": case.id, "calls_correct": True, "correct": True, "rule": None, "detail": "", "error": None,
           "text": "Sorry, need more steps.", "results": ['{"city": "北京", "weather": "晴"}']}
    out = peers.e2e_verdict(case, dict(hit))
    assert not out["correct"] and out["rule"] == "results_unused"
    fixed = peers.e2e_verdict(case, dict(out, text="北京明天晴"))
    assert fixed["correct"] and fixed["rule"] is None


def test_peers_ask_kapibara_serve_for_the_model_it_was_started_with() -> None:
    """The pass-through server is started on the shipped file by name (``NAME@q4_k_m``) and
    answers 404 to any other name: every peer row through it had failed on that."""
    for short in peers.MODELS:
        argv, _, _ = peers.server_argv("kapibara", short, 1, 2)
        served = argv[argv.index("--model") + 1]
        assert peers.Servers(short, 2).model_name("kapibara") == served
