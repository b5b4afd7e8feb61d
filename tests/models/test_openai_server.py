"""The OpenAI-compatible backend against a real server: llama-cpp-python's own
OpenAI-compatible server on the bundled 0.5B, started on localhost for this module.

The server renders prompts with the GGUF's chat template (Qwen's, tools included), so
tool calls come back as ``<tool_call>`` text in the content, which the backend parses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kapibara.models.base import Completion, Constraint, TextDelta
from kapibara.models.openai import OpenAIModel

pytestmark = pytest.mark.model

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "city name"}},
                "required": ["city"],
            },
        },
    }
]
STARTUP_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _model_file() -> Path:
    from kapibara.errors import KapibaraError
    from kapibara.models.bundled import model_path

    try:
        return model_path("qwen2.5-coder-0.5b")
    except KapibaraError as exc:
        pytest.skip(f"bundled model not available: {exc}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``python -m llama_cpp.server`` on a free port; yield its base URL."""
    pytest.importorskip("llama_cpp", reason='needs pip install "kapibara[llamacpp]"')
    for mod in ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
        pytest.importorskip(mod, reason='needs pip install "kapibara[server]"')
    port = _free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    threads = os.environ.get("KAPIBARA_TEST_THREADS", "2")
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(_model_file()),
        "--model_alias", "qwen",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", "4096",
        "--n_threads", threads,
        "--verbose", "False",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not up after {STARTUP_S}s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def model(server: str) -> Iterator[OpenAIModel]:
    with OpenAIModel("qwen", server, timeout_s=120, max_retries=1, schema_format="json_object") as m:
        yield m


def test_plain_chat_returns_text_and_usage(model: OpenAIModel):
    out = model.chat([{"role": "user", "content": "Say hello."}], max_tokens=16)
    assert out.text.strip() and out.tool_calls == []
    assert out.usage.prompt_tokens > 0 and 0 < out.usage.completion_tokens <= 16
    assert out.usage.total_s > 0


def test_stream_yields_deltas_then_one_completion(model: OpenAIModel):
    events = list(model.chat([{"role": "user", "content": "Count: 1, 2, 3"}], max_tokens=12, stream=True))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas and isinstance(events[-1], Completion)
    assert sum(isinstance(e, Completion) for e in events) == 1
    done = events[-1]
    assert done.text == "".join(deltas)
    assert done.usage.completion_tokens > 0 and 0 < done.usage.ttft_s <= done.usage.total_s


def test_tool_request_round_trip(model: OpenAIModel):
    messages = [{"role": "user", "content": "What is the weather in Paris right now?"}]
    out = model.chat(messages, tools=TOOLS, max_tokens=32)
    assert out.usage.prompt_tokens > 0 and out.usage.completion_tokens > 0
    assert out.tool_calls or out.text.strip()
    if not out.tool_calls:
        return
    assert out.tool_calls[0].name == "get_weather" and out.finish_reason == "tool_calls"
    # The call and its result go back in OpenAI shape and the server accepts them.
    call = out.as_message()
    result = {
        "role": "tool",
        "tool_call_id": call["tool_calls"][0]["id"],
        "name": "get_weather",
        "content": json.dumps({"city": "Paris", "weather": "sunny, 21°C"}),
    }
    follow = model.chat([*messages, call, result], tools=TOOLS, max_tokens=24)
    assert follow.text.strip() and follow.usage.prompt_tokens > out.usage.prompt_tokens


def test_constraints_reach_the_server(model: OpenAIModel):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    out = model.chat(
        [{"role": "user", "content": "Give a number as JSON."}],
        constraint=Constraint(json_schema=schema),
        max_tokens=16,
    )
    assert isinstance(json.loads(out.text)["n"], int)
    yes_no = model.chat(
        [{"role": "user", "content": "Is the sky blue?"}],
        constraint=Constraint(grammar='root ::= "yes" | "no"'),
        max_tokens=4,
    )
    assert yes_no.text in ("yes", "no")


def test_call_probability_from_the_servers_top_logprobs(model: OpenAIModel):
    """llama.cpp's server sends the first token's alternatives; the backend sums the call
    openers among them: high for a question the tool fits, a probability either way."""
    from kapibara.models.base import ChatRequest, final_completion

    fits = ChatRequest(messages=[{"role": "user", "content": "What is the weather in Paris right now?"}],
                       tools=TOOLS, max_tokens=24, call_probability=True)
    off = ChatRequest(messages=[{"role": "user", "content": "Write a haiku about autumn leaves."}],
                      tools=TOOLS, max_tokens=24, call_probability=True)
    p_fits = final_completion(model.complete(fits)).call_probability
    p_off = final_completion(model.complete(off)).call_probability
    assert p_fits is not None and p_off is not None
    assert 0.0 <= p_off < p_fits <= 1.0
    assert model.logprobs, "the server accepted logprobs"
