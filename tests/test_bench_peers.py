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
