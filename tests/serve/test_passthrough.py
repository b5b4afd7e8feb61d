"""Model pass-through: the client's tools, one decision through the repair ladder, OpenAI's shapes."""

from __future__ import annotations

import json

from serve_fixtures import TIME, WEATHER

from kapibara.models.fake import FakeModel


def chat(client, **body):
    body.setdefault("model", "m")
    body.setdefault("messages", [{"role": "user", "content": "Weather in Paris?"}])
    return client.post("/v1/chat/completions", json=body)


def sse_chunks(response) -> list:
    lines = [line for line in response.text.split("\n\n") if line.strip()]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def test_a_malformed_call_reaches_the_client_as_a_valid_tool_call(make_client):
    # JSON5 in prose with a misspelled parameter: what small models write.
    model = FakeModel(["Sure: {'name': 'get_weather', 'arguments': {'cty': 'Paris',}}"])
    r = chat(make_client(model), tools=[WEATHER, TIME])
    assert r.status_code == 200, r.text
    body = r.json()
    choice = body["choices"][0]
    assert body["object"] == "chat.completion" and choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert body["kapibara"]["repairs"] == ["lenient_parse", "fuzzy_name"]
    assert model.calls[0].tools == [WEATHER, TIME]
    assert model.calls[0].tool_format is None  # the client's tools as the model's template shows them


def test_an_invalid_call_is_asked_again_and_an_answer_is_content(make_client):
    model = FakeModel([
        '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',  # misses "city"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
    ])
    client = make_client(model)
    call = chat(client, tools=[WEATHER]).json()["choices"][0]["message"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert "city" in model.calls[1].messages[-1]["content"]  # the re-ask quotes the error
    model.enqueue("It is sunny in Paris.")
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 25C"}]
    body = chat(client, messages=messages, tools=[WEATHER]).json()
    assert body["choices"][0] == {"index": 0, "finish_reason": "stop", "logprobs": None,
                                  "message": {"role": "assistant", "content": "It is sunny in Paris."}}
    assert model.calls[-1].messages[-1] == {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 25C"}


def test_tool_choice_none_required_and_named(make_client):
    model = FakeModel(["No tools needed.",
                       '{"name": "get_time", "arguments": {"city": "Paris"}}',
                       '{"name": "get_time", "arguments": {"city": "Paris"}}'])
    client = make_client(model)
    none = chat(client, tools=[WEATHER, TIME], tool_choice="none").json()
    assert none["choices"][0]["message"]["content"] == "No tools needed." and model.calls[0].tools is None
    required = chat(client, tools=[WEATHER, TIME], tool_choice="required").json()
    assert required["choices"][0]["finish_reason"] == "tool_calls"
    schema = model.calls[1].constraint.json_schema  # a call is decoded under the tools' schema...
    assert {o["properties"]["name"]["const"] for o in schema["anyOf"]} == {"get_weather", "get_time"}
    assert not any("answer" in o["properties"] for o in schema["anyOf"])  # ...with no answer branch
    named = chat(client, tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"
    assert [t["function"]["name"] for t in model.calls[2].tools] == ["get_time"]
    bad = chat(client, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tool_choice"


def test_response_format_constrains_the_answer(make_client):
    person = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    model = FakeModel(['{"name": "Ada"}'])
    body = chat(make_client(model), response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": person}}).json()
    assert json.loads(body["choices"][0]["message"]["content"]) == {"name": "Ada"}
    assert model.calls[0].constraint.json_schema == person
    model.enqueue('{"a": 1}')
    chat(make_client(model), response_format={"type": "json_object"})
    assert model.calls[1].constraint.json_schema == {"type": "object"}


def test_streamed_tool_calls_arrive_in_openai_deltas(make_client):
    model = FakeModel(['```json\n{"name": "get_weather", "arguments": {"city": "Paris, the capital of France"}}\n```'])
    r = chat(make_client(model), tools=[WEATHER], stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(r)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"]
              and "tool_calls" in c["choices"][0]["delta"]]
    assert deltas[0]["id"].startswith("call_") and deltas[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert len(deltas) > 2 and all("id" not in d and d["index"] == 0 for d in deltas[1:])
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert json.loads(arguments) == {"city": "Paris, the capital of France"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert not any(c["choices"] and c["choices"][0]["delta"].get("content") for c in chunks)  # no raw JSON leaked


def test_a_streamed_answer_comes_token_by_token(make_client):
    answer = "Paris is sunny today, with a light breeze from the west."
    r = chat(make_client(FakeModel([answer])), tools=[WEATHER], stream=True)
    pieces = [c["choices"][0]["delta"].get("content") for c in sse_chunks(r) if c["choices"]]
    pieces = [p for p in pieces if p]
    assert len(pieces) > 5 and "".join(pieces) == answer
    assert "usage" not in sse_chunks(r)[-1]  # include_usage was not asked for


def test_plain_chat_without_tools_streams_everything(make_client):
    r = chat(make_client(FakeModel(["{not a call, just braces}"])), stream=True)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in sse_chunks(r) if c["choices"])
    assert text == "{not a call, just braces}"
