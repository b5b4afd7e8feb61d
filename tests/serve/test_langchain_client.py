"""LangChain's ``ChatOpenAI(...).bind_tools(...)``, unmodified, against a real uvicorn server:
tool calls arrive as ``AIMessage.tool_calls``, streaming assembles them, errors raise.

Skipped when langchain-openai is missing, except with ``CI=true`` where that fails. Nothing
here counts tokens: that would make tiktoken download its encodings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from serve_fixtures import LiveServer

from kapibara.models.fake import FakeModel
from kapibara.serve import ServeConfig, create_app

try:
    import openai
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI
except ImportError as exc:  # pragma: no cover - depends on the environment
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f'langchain-openai is not installed ({exc}): pip install "kapibara[dev]"', allow_module_level=True)

NAME = "qwen2.5-coder-0.5b"
# What a small model writes: a fenced call in JSON5 with a misspelled parameter.
MALFORMED = "```json\n{'name': 'get_weather', 'arguments': {'cty': 'Paris',}}\n```"


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: the city, e.g. Paris
    """
    return f"Sunny in {city}"


def get_time(city: str) -> str:
    """Get the local time in a city.

    Args:
        city: the city
    """
    return "12:00"


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(model, **config)``: a live server passing ``model`` through as qwen2.5-coder-0.5b."""
    servers: list[LiveServer] = []

    def start(model: FakeModel, **config: Any) -> LiveServer:
        server = LiveServer(create_app({NAME: model}, agents=(), config=ServeConfig(**config))).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def chat(server: LiveServer, key: str = "unused", model: str = NAME, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=f"{server.url}/v1", api_key=key, model=model, max_retries=0, timeout=30, **kwargs)


def test_a_tool_call_comes_back_as_aimessage_tool_calls(serve):
    model = FakeModel([MALFORMED, "It is sunny in Paris."])
    server = serve(model)
    llm = chat(server).bind_tools([get_weather, get_time])
    reply = llm.invoke("What is the weather in Paris?")
    assert isinstance(reply, AIMessage)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert reply.tool_calls[0]["id"] and reply.response_metadata["finish_reason"] == "tool_calls"
    assert {t["function"]["name"] for t in model.calls[0].tools} == {"get_weather", "get_time"}  # LangChain's schemas reached the model
    # The tool's result goes back as a ToolMessage; the model answers from it.
    answer = llm.invoke([HumanMessage("What is the weather in Paris?"), reply,
                         ToolMessage("Sunny, 25°C", tool_call_id=reply.tool_calls[0]["id"])])
    assert answer.content == "It is sunny in Paris." and answer.tool_calls == []
    assert any(m["role"] == "tool" and "Sunny, 25°C" in str(m["content"]) for m in model.calls[1].messages)


def test_streaming_assembles_the_tool_call_and_the_text(serve):
    server = serve(FakeModel([MALFORMED, "Sunny and warm in Paris today."]))
    llm = chat(server).bind_tools([get_weather])
    chunks = list(llm.stream("What is the weather in Paris?"))
    assert len(chunks) > 2  # the arguments arrive in fragments
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert [(c["name"], c["args"]) for c in whole.tool_calls] == [("get_weather", {"city": "Paris"})]
    text_chunks = [c.content for c in llm.stream("And tomorrow?") if c.content]
    assert len(text_chunks) > 1 and "".join(text_chunks) == "Sunny and warm in Paris today."


def test_errors_surface_as_exceptions(serve):
    server = serve(FakeModel(["unused"]), api_keys=("sk-test",))
    with pytest.raises(openai.AuthenticationError):
        chat(server, key="sk-wrong").invoke("hi")
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        chat(server, key="sk-test", model="no-such-model").bind_tools([get_weather]).invoke("hi")
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        chat(server, key="sk-test", max_tokens=10**6).invoke("hi")
