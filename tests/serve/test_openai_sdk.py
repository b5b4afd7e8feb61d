"""A real uvicorn server driven by the official ``openai`` SDK, unmodified."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from serve_fixtures import WEATHER

from kapibara.models.base import ChatModel, ChatRequest, Completion, StreamEvent, TextDelta, Usage
from kapibara.models.fake import FakeModel

openai = pytest.importorskip("openai")

MALFORMED = "```json\n{'name': 'get_weather', 'arguments': {'city': 'Paris',}}\n```"


def client(server, key: str = "sk-test") -> object:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_tool_calls_streamed_and_not(live):
    with live(FakeModel([MALFORMED, MALFORMED, "It is sunny."]), api_keys=("sk-test",)) as server:
        sdk = client(server)
        done = sdk.chat.completions.create(model="m", tools=[WEATHER],
                                           messages=[{"role": "user", "content": "Weather in Paris?"}])
        assert done.choices[0].finish_reason == "tool_calls"
        call = done.choices[0].message.tool_calls[0]
        assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}

        stream = sdk.chat.completions.create(model="m", tools=[WEATHER], stream=True,
                                             stream_options={"include_usage": True},
                                             messages=[{"role": "user", "content": "Weather in Paris?"}])
        calls: dict[int, dict[str, str]] = {}
        finish, usage = None, None
        for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for d in choice.delta.tool_calls or []:
                    slot = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] += d.id or ""
                    slot["name"] += (d.function.name or "") if d.function else ""
                    slot["arguments"] += (d.function.arguments or "") if d.function else ""
        assert finish == "tool_calls" and usage is not None and usage.completion_tokens > 0
        assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {"city": "Paris"}

        follow = sdk.chat.completions.create(model="m", tools=[WEATHER], messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "tool_calls": [{"id": calls[0]["id"], "type": "function",
                                                  "function": {"name": "get_weather", "arguments": calls[0]["arguments"]}}]},
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"}])
        assert follow.choices[0].message.content == "It is sunny."


def test_errors_surface_as_the_sdks_exceptions(live):
    with live(FakeModel(default="ok"), api_keys=("sk-test",)) as server:
        with pytest.raises(openai.AuthenticationError):
            client(server, "sk-wrong").chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.BadRequestError) as bad:
            client(server).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], n=3)
        assert bad.value.param == "n"
        with pytest.raises(openai.NotFoundError):
            client(server).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert [m.id for m in client(server).models.list()] == ["m", "agent:shop"]


def test_agent_mode_through_the_sdk(live):
    call = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "cherries"}}</tool_call>'
    with live(FakeModel([call, "Added.", "You have cherries."])) as server:
        sdk = client(server)
        first = sdk.chat.completions.create(model="agent:shop", messages=[{"role": "user", "content": "add cherries"}],
                                            extra_headers={"X-Kapibara-Session": "dora"})
        assert first.choices[0].message.content == "Added."
        assert [s["type"] for s in first.model_extra["kapibara"]["steps"]] == ["tool_call", "observation"]
        again = sdk.chat.completions.create(model="agent:shop", user="dora", stream=True,
                                            messages=[{"role": "user", "content": "what is in my cart?"}])
        assert "".join(c.choices[0].delta.content or "" for c in again if c.choices) == "You have cherries."


class SlowModel(ChatModel):
    """Writes up to 400 tokens, 20 ms apart; records how many it wrote and that it was stopped."""

    name = "slow"
    supports_tools = supports_grammar = supports_json_schema = can_stream = True
    thread_safe = False
    context_window = 4096

    def __init__(self) -> None:
        self.written = 0
        self.stopped = threading.Event()

    def complete(self, request: ChatRequest) -> Iterator[StreamEvent]:
        try:
            for _ in range(400):
                time.sleep(0.02)
                self.written += 1
                yield TextDelta("la ")
            yield Completion(text="la " * 400, usage=Usage(completion_tokens=400))
        finally:
            self.stopped.set()


def test_a_client_that_disconnects_stops_the_generation(live):
    model = SlowModel()
    with live(model) as server:
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "sing"}]}
        with httpx.Client(timeout=30) as http, http.stream("POST", f"{server.url}/v1/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if '"la ' in line:
                    break  # one token arrived: hang up
        assert model.stopped.wait(10)
        assert model.written < 100
        # The model's slot is free again: the next request runs at once.
        deadline = time.monotonic() + 5
        while httpx.get(f"{server.url}/healthz").json()["queue"]["m"] and time.monotonic() < deadline:
            time.sleep(0.05)
        gate = next(iter(server.server.config.app.state.kapibara.gates.values()))
        assert gate.busy == 0
        metrics = httpx.get(f"{server.url}/metrics").text
        assert 'kapibara_errors_total{kind="cancelled"} 1' in metrics
