"""The OpenAI-compatible backend against scripted HTTP (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kapibara.errors import BackendError
from kapibara.models import openai as openai_mod
from kapibara.models.base import (
    Completion,
    Constraint,
    Model,
    Sampling,
    TextDelta,
    final_completion,
)
from kapibara.models.openai import OpenAIModel
from kapibara.models.registry import load_model

URL = "http://llm.test/v1"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
HI = [{"role": "user", "content": "hi"}]


def reply(message: dict[str, Any], usage: dict[str, Any] | None = None, finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "x",
        "model": "served-name",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": usage or {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


class Server:
    """Records requests; answers from a list of responses or a function of the request."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def make(server: Server, **kw: Any) -> OpenAIModel:
    kw.setdefault("api_key", None)
    return OpenAIModel("qwen", URL, transport=httpx.MockTransport(server), **kw)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries wait through openai._sleep; record the waits instead of sleeping."""
    waits: list[float] = []
    monkeypatch.setattr(openai_mod, "_sleep", waits.append)
    monkeypatch.delenv("KAPIBARA_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return waits


def sse(*chunks: dict[str, Any], done: bool = True) -> httpx.Response:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content="".join(lines).encode()
    )


def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"model": "served-name", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


# -- request shape ---------------------------------------------------------------------


def test_is_a_model_with_the_declared_flags():
    model = make(Server(httpx.Response(200, json=reply({"content": "hello"}))))
    assert isinstance(model, Model)
    assert model.supports_tools and model.can_stream and model.supports_json_schema
    assert model.context_window == 32768
    assert model.name == f"openai:qwen@{URL}"


def test_request_body_carries_messages_tools_sampling_stop_and_max_tokens():
    server = Server(httpx.Response(200, json=reply({"content": "hello"})))
    model = make(server)
    out = model.chat(
        HI, tools=TOOLS, sampling=Sampling(temperature=0.3, top_p=0.9, seed=7), stop=["\n\n"], max_tokens=16
    )
    assert out.text == "hello" and out.content == "hello" and out.tool_calls == []
    req = server.requests[0]
    assert str(req.url) == f"{URL}/chat/completions" and req.method == "POST"
    assert "authorization" not in req.headers
    body = server.bodies[0]
    assert body["model"] == "qwen" and body["messages"] == HI
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.3, 0.9, 7)
    assert body["stop"] == ["\n\n"] and body["max_tokens"] == 16
    assert "stream" not in body and "response_format" not in body


def test_json_schema_constraint_becomes_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    server = Server(httpx.Response(200, json=reply({"content": '{"a": 1}'})))
    make(server).chat(HI, constraint=Constraint(json_schema=schema))
    assert server.bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema},
    }
    make(server, schema_format="json_object").chat(HI, constraint=Constraint(json_schema=schema))
    assert server.bodies[1]["response_format"] == {"type": "json_object", "schema": schema}


def test_grammar_goes_in_both_server_fields_or_is_refused_when_disabled():
    server = Server(httpx.Response(200, json=reply({"content": "yes"})))
    make(server).chat(HI, constraint=Constraint(grammar='root ::= "yes"'))
    assert server.bodies[0]["grammar"] == server.bodies[0]["guided_grammar"] == 'root ::= "yes"'
    make(server, grammar_fields=("structured_outputs.grammar",)).chat(
        HI, constraint=Constraint(grammar='root ::= "yes"')
    )
    assert server.bodies[1]["structured_outputs"] == {"grammar": 'root ::= "yes"'}
    assert "grammar" not in server.bodies[1]
    strict = make(server, grammar_fields=())
    assert not strict.supports_grammar
    with pytest.raises(BackendError, match="grammar"):
        strict.chat(HI, constraint=Constraint(grammar='root ::= "yes"'))


def test_api_key_from_argument_then_environment(monkeypatch: pytest.MonkeyPatch):
    server = Server(httpx.Response(200, json=reply({"content": "ok"})))
    make(server, api_key="sk-arg").chat(HI)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    make(server).chat(HI)
    monkeypatch.setenv("KAPIBARA_OPENAI_API_KEY", "sk-kapibara")
    make(server).chat(HI)
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer sk-arg",
        "Bearer sk-openai",
        "Bearer sk-kapibara",
    ]


def test_spec_string_builds_this_backend():
    model = load_model("openai:my-model@http://127.0.0.1:8000/v1/", timeout_s=5)
    assert isinstance(model, OpenAIModel)
    assert (model.model, model.base_url, model.timeout_s) == ("my-model", "http://127.0.0.1:8000/v1", 5)


# -- responses -------------------------------------------------------------------------


def test_tool_calls_are_decoded_with_ids_and_usage():
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "北京"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
    ]
    usage = {"prompt_tokens": 40, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 32}}
    server = Server(httpx.Response(200, json=reply({"content": None, "tool_calls": calls}, usage, "tool_calls")))
    out = make(server).chat(HI, tools=TOOLS)
    assert [(c.name, c.arguments, c.id) for c in out.tool_calls] == [
        ("get_weather", {"city": "北京"}, "call_1"),
        ("get_weather", {}, "call_2"),
    ]
    assert out.finish_reason == "tool_calls" and out.parse_error is None
    assert out.content == "" and '"city": "北京"' in out.text
    assert (out.usage.prompt_tokens, out.usage.cached_prompt_tokens, out.usage.completion_tokens) == (40, 32, 9)
    assert out.usage.total_s > 0 and out.model == "served-name"
    # The assistant message goes back to the server as OpenAI expects it.
    assert out.as_message()["tool_calls"][0]["function"]["name"] == "get_weather"


def test_malformed_arguments_set_parse_error_and_keep_the_raw_text():
    calls = [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": 北京'}}]
    server = Server(httpx.Response(200, json=reply({"content": "", "tool_calls": calls}, finish="tool_calls")))
    out = make(server).chat(HI, tools=TOOLS)
    assert out.tool_calls == []
    assert out.parse_error and "get_weather" in out.parse_error and "not valid JSON" in out.parse_error
    assert '{"city": 北京' in out.text


def test_tool_call_left_in_content_is_parsed():
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    server = Server(httpx.Response(200, json=reply({"content": text})))
    out = make(server).chat(HI, tools=TOOLS)
    assert [(c.name, c.arguments) for c in out.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert out.text == text and out.content == "" and out.finish_reason == "tool_calls"


def test_json_content_is_not_taken_for_a_call_without_tools():
    text = '{"name": "get_weather", "arguments": {}}'
    server = Server(httpx.Response(200, json=reply({"content": text})))
    out = make(server).chat(HI)
    assert out.tool_calls == [] and out.content == text


# -- streaming -------------------------------------------------------------------------


def test_stream_yields_deltas_then_one_completion_with_usage():
    server = Server(
        sse(
            delta({"role": "assistant", "content": ""}),
            delta({"content": "Hel"}),
            delta({"content": "lo"}, finish="stop"),
            {"model": "served-name", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
        )
    )
    events = list(make(server).chat(HI, stream=True, max_tokens=8))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert isinstance(events[-1], Completion) and sum(isinstance(e, Completion) for e in events) == 1
    done = events[-1]
    assert done.text == "Hello" and done.finish_reason == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (5, 2)
    assert 0 < done.usage.ttft_s <= done.usage.total_s
    body = server.bodies[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_joins_tool_call_fragments_by_index():
    def tc(index: int, **fn: str) -> dict[str, Any]:
        part: dict[str, Any] = {"index": index, "function": fn}
        if "name" in fn:
            part.update(id=f"call_{index}", type="function")
        return part

    server = Server(
        sse(
            delta({"role": "assistant", "tool_calls": [tc(0, name="get_weather", arguments="")]}),
            delta({"tool_calls": [tc(0, arguments='{"ci')]}),
            delta({"tool_calls": [tc(1, name="get_weather", arguments='{"city"')]}),
            delta({"tool_calls": [tc(0, arguments='ty": "Oslo"}')]}),
            delta({"tool_calls": [tc(1, arguments=': "Rome"}')]}, finish="tool_calls"),
        )
    )
    events = list(make(server).chat(HI, tools=TOOLS, stream=True))
    assert not any(isinstance(e, TextDelta) for e in events)
    done = events[-1]
    assert isinstance(done, Completion)
    assert [(c.id, c.name, c.arguments) for c in done.tool_calls] == [
        ("call_0", "get_weather", {"city": "Oslo"}),
        ("call_1", "get_weather", {"city": "Rome"}),
    ]
    assert done.finish_reason == "tool_calls"
    # No usage in the stream: completion tokens are counted from the deltas.
    assert done.usage.completion_tokens == 5


def test_stream_of_tool_call_text_is_parsed_at_the_end():
    text = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    server = Server(sse(*(delta({"content": text[i : i + 7]}) for i in range(0, len(text), 7))))
    events = list(make(server).chat(HI, tools=TOOLS, stream=True))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    done = events[-1]
    assert isinstance(done, Completion) and done.tool_calls[0].arguments == {"city": "Oslo"}


def test_error_event_mid_stream_raises():
    server = Server(sse(delta({"content": "a"}), {"error": {"message": "out of memory"}}, done=False))
    with pytest.raises(BackendError, match="out of memory"):
        list(make(server).chat(HI, stream=True))


# -- errors and retries ----------------------------------------------------------------


def test_503_is_retried_until_success(no_sleep: list[float]):
    server = Server(
        httpx.Response(503, json={"error": {"message": "loading"}}),
        httpx.Response(503, json={"error": {"message": "loading"}}),
        httpx.Response(200, json=reply({"content": "ok"})),
    )
    out = make(server, backoff_s=0.5).chat(HI)
    assert out.text == "ok" and len(server.requests) == 3
    # Exponential with jitter: about 0.5 then about 1.0.
    assert 0.25 <= no_sleep[0] <= 0.75 and 0.5 <= no_sleep[1] <= 1.5


def test_retries_are_bounded_and_the_error_names_the_status(no_sleep: list[float]):
    server = Server(httpx.Response(500, json={"error": {"message": "boom"}}))
    with pytest.raises(BackendError, match=r"HTTP 500 after 3 attempts: boom"):
        make(server, max_retries=2).chat(HI)
    assert len(server.requests) == 3 and len(no_sleep) == 2


def test_400_is_not_retried_and_carries_the_server_message(no_sleep: list[float]):
    server = Server(httpx.Response(400, json={"error": {"message": "unknown field 'grammar'"}}))
    with pytest.raises(BackendError, match="HTTP 400: unknown field 'grammar'"):
        make(server).chat(HI)
    assert len(server.requests) == 1 and no_sleep == []


def test_401_hint_names_the_key_variables():
    server = Server(httpx.Response(401, json={"error": "bad key"}))
    with pytest.raises(BackendError) as info:
        make(server).chat(HI)
    assert "bad key" in info.value.message and "OPENAI_API_KEY" in (info.value.hint or "")


def test_retry_after_is_honoured(no_sleep: list[float]):
    server = Server(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}}),
        httpx.Response(200, json=reply({"content": "ok"})),
    )
    assert make(server).chat(HI).text == "ok"
    assert no_sleep == [7.0]


def test_streamed_request_is_retried_too():
    server = Server(httpx.Response(502, text="bad gateway"), sse(delta({"content": "hi"})))
    events = list(make(server).chat(HI, stream=True))
    assert events[-1].text == "hi" and len(server.requests) == 2


def test_unreachable_server_names_url_and_timeout(no_sleep: list[float]):
    attempts = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        raise httpx.ConnectError("connection refused", request=request)

    model = OpenAIModel("m", "http://127.0.0.1:1/v1", timeout_s=60, transport=httpx.MockTransport(refuse))
    with pytest.raises(BackendError) as info:
        model.chat(HI)
    assert info.value.message == "cannot reach http://127.0.0.1:1/v1 (timeout 60s)"
    assert len(attempts) == 4 and len(no_sleep) == 3


def test_unreachable_real_socket_raises_for_stream_at_call_time():
    # Port 1 on localhost refuses at once; no mock transport involved.
    model = load_model("openai:m@http://127.0.0.1:1/v1", timeout_s=2, max_retries=1)
    with pytest.raises(BackendError, match=r"cannot reach http://127\.0\.0\.1:1/v1 \(timeout 2s\)"):
        model.chat(HI, stream=True)


def test_read_timeout_is_not_retried():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    server = Server(slow)
    with pytest.raises(BackendError, match="within the timeout"):
        make(server, timeout_s=3).chat(HI)
    assert len(server.requests) == 1


def test_empty_stream_is_an_error_not_an_empty_answer():
    server = Server(httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b""))
    with pytest.raises(BackendError, match="without sending any event"):
        list(make(server).chat(HI, stream=True))


def test_long_multiline_server_error_becomes_one_short_line():
    server = Server(httpx.Response(422, text="validation error:\n  " + "x" * 1000 + "\n  at body"))
    with pytest.raises(BackendError) as info:
        make(server).chat(HI)
    assert "\n" not in info.value.message and len(info.value.message) < 400


def test_content_parts_and_non_completion_json():
    parts = {"content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]}
    assert make(Server(httpx.Response(200, json=reply(parts)))).chat(HI).text == "Hello"
    with pytest.raises(BackendError, match="not a completion"):
        make(Server(httpx.Response(200, json=["not", "a", "completion"]))).chat(HI)
    with pytest.raises(BackendError, match="not JSON"):
        make(Server(httpx.Response(200, text="<html>proxy login</html>"))).chat(HI)



# -- CLI -------------------------------------------------------------------------------


def test_generate_against_an_unreachable_server_ends_with_one_line_naming_url_and_timeout(
    capsys: pytest.CaptureFixture[str],
):
    from kapibara.cli import main

    rc = main(["generate", "hi", "--model", "openai:MODEL@http://127.0.0.1:1/v1"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "error: cannot reach http://127.0.0.1:1/v1 (timeout 60s)",
        "  hint: start the server, or fix the host and port in the URL",
    ]


# -- call probability from top_logprobs -------------------------------------------------


def _first_token(*alts: tuple[str, float]) -> dict[str, Any]:
    top = [{"token": t, "logprob": lp} for t, lp in alts]
    return {"content": [{"token": alts[0][0], "logprob": alts[0][1], "top_logprobs": top}]}


def _asking(stream: bool = False) -> Any:
    from kapibara.models.base import ChatRequest

    return ChatRequest(messages=HI, tools=TOOLS, call_probability=True, stream=stream)


def test_call_probability_is_the_mass_of_call_openers_among_the_top_logprobs():
    import math

    body = reply({"content": '{"name": "get_weather", "arguments": {"city": "Oslo"}}'})
    body["choices"][0]["logprobs"] = _first_token(("{", math.log(0.6)), ("Sorry", math.log(0.3)),
                                                  ("<tool_call>", math.log(0.05)), (" {\n", math.log(0.01)))
    server = Server(httpx.Response(200, json=body))
    model = make(server)
    done = final_completion(model.complete(_asking()))
    assert done.call_probability == pytest.approx(0.66)
    assert server.bodies[0]["logprobs"] is True and server.bodies[0]["top_logprobs"] == openai_mod.TOP_LOGPROBS
    # Not asked for: no logprobs requested, none reported.
    model.chat(HI, tools=TOOLS)
    assert "logprobs" not in server.bodies[1]


def test_call_probability_from_the_first_streamed_token():
    import math

    first = delta({"role": "assistant", "content": "Sorry"})
    first["choices"][0]["logprobs"] = _first_token(("Sorry", math.log(0.9)), ("```", math.log(0.1)))
    later = delta({"content": ", no."}, finish="stop")
    later["choices"][0]["logprobs"] = _first_token(("{", math.log(0.99)))
    server = Server(sse(first, later))
    done = final_completion(make(server).complete(_asking(stream=True)))
    assert done.text == "Sorry, no." and done.call_probability == pytest.approx(0.1)


def test_a_server_that_refuses_logprobs_is_asked_again_without_and_not_asked_again():
    def server_fn(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("logprobs"):
            return httpx.Response(400, json={"error": {"message": "logprobs is not supported"}})
        return httpx.Response(200, json=reply({"content": "hello"}))

    server = Server(server_fn)
    model = make(server)
    done = final_completion(model.complete(_asking()))
    assert done.text == "hello" and done.call_probability is None
    assert [b.get("logprobs") for b in server.bodies] == [True, None]
    final_completion(model.complete(_asking()))
    assert len(server.bodies) == 3 and "logprobs" not in server.bodies[2]


def test_an_http_error_unrelated_to_logprobs_still_raises():
    server = Server(httpx.Response(401, json={"error": {"message": "bad key"}}))
    with pytest.raises(BackendError, match="401"):
        final_completion(make(server).complete(_asking()))
    assert len(server.bodies) == 1
