"""Errors in OpenAI's shape, API keys, limits, the fair queue, metrics and the other routes."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from kapibara.errors import ConfigError
from kapibara.models.fake import FakeModel
from kapibara.serve.auth import check_bind, parse_keys
from kapibara.serve.errors import APIError
from kapibara.serve.queue import ModelGate

USER = [{"role": "user", "content": "hi"}]


def error_of(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_bad_requests_are_400s_naming_the_field(make_client):
    client = make_client(FakeModel(default="ok"))
    post = lambda body, **kw: client.post("/v1/chat/completions", json=body, **kw)  # noqa: E731
    assert error_of(post({"model": "m"}), 400)["param"] == "messages"
    assert error_of(post({"model": "m", "messages": [{"role": "robot", "content": "x"}]}), 400)["param"] == "messages.0.role"
    assert error_of(post({"model": "m", "messages": USER, "n": 2}), 400)["param"] == "n"
    assert error_of(post({"model": "m", "messages": USER, "tool_choice": "sometimes"}), 400)["param"].startswith("tool_choice")
    broken = client.post("/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert "not valid JSON" in error_of(broken, 400)["message"]
    bad_tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}
    assert error_of(post({"model": "m", "messages": USER, "tools": [bad_tool]}), 400)["param"] == "tools"
    unknown = error_of(post({"model": "gpt-9", "messages": USER}), 404)
    assert unknown["code"] == "model_not_found" and "m, agent:shop" in unknown["message"]
    assert error_of(client.get("/v1/nothing"), 404)["code"] == "unknown_url"


def test_token_and_body_limits(make_client):
    client = make_client(FakeModel(default="ok"), max_tokens=100, max_body_bytes=2000)
    too_many = client.post("/v1/chat/completions", json={"model": "m", "messages": USER, "max_tokens": 101})
    assert error_of(too_many, 400)["code"] == "max_tokens_exceeded"
    big = [{"role": "user", "content": "x" * 3000}]
    assert error_of(client.post("/v1/chat/completions", json={"model": "m", "messages": big}), 413)["code"] == "request_too_large"
    assert client.post("/v1/chat/completions", json={"model": "m", "messages": USER, "max_tokens": 100}).status_code == 200


def test_api_keys(make_client):
    client = make_client(FakeModel(default="ok"), api_keys=("k1", "k2"))
    body = {"model": "m", "messages": USER}
    assert error_of(client.post("/v1/chat/completions", json=body), 401)["code"] == "missing_api_key"
    wrong = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer k3"})
    assert error_of(wrong, 401)["type"] == "authentication_error"
    ok = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer k2"})
    assert ok.status_code == 200
    assert client.get("/v1/models").status_code == 401 and client.get("/metrics").status_code == 401
    assert client.get("/healthz").status_code == 200  # for load balancers


def test_no_key_means_loopback_only():
    assert parse_keys("a, b,,a", ["c", "b"]) == ("a", "b", "c")
    check_bind("127.0.0.1", ())
    check_bind("::1", ())
    check_bind("localhost", ())
    check_bind("0.0.0.0", ("k",))
    with pytest.raises(ConfigError, match="without an API key") as info:
        check_bind("0.0.0.0", ())
    assert "--api-key" in (info.value.hint or "")


def test_the_queue_is_fifo_bounded_and_times_out():
    async def scenario() -> tuple[list[int], int, str, int]:
        gate = ModelGate(concurrency=1, max_waiting=2, timeout_s=5)
        order: list[int] = []
        await gate.acquire()

        async def client(i: int) -> None:
            await gate.acquire()
            order.append(i)
            await asyncio.sleep(0.01)
            gate.release()

        tasks = [asyncio.create_task(client(i)) for i in range(2)]
        await asyncio.sleep(0.01)
        assert gate.waiting == 2
        with pytest.raises(APIError) as full:
            await gate.acquire()
        gate.release()
        await asyncio.gather(*tasks)
        slow = ModelGate(concurrency=1, max_waiting=1, timeout_s=0.05)
        await slow.acquire()
        with pytest.raises(APIError) as late:
            await slow.acquire()
        return order, full.value.status, full.value.headers["Retry-After"], late.value.status

    order, full, retry, late = asyncio.run(scenario())
    assert order == [0, 1] and full == 429 and int(retry) >= 1 and late == 503


def test_a_full_queue_answers_429_with_retry_after(make_client):
    client = make_client(FakeModel(default="ok"), max_waiting=0)
    gate = next(iter(client.app.state.kapibara.gates.values()))
    gate.busy = gate.concurrency  # every slot is taken by a request in flight
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": USER})
    assert error_of(r, 429)["code"] == "queue_full" and r.headers["Retry-After"]


def test_metrics_models_health_and_embeddings(make_client, hash_embedder):
    client = make_client(FakeModel(default="ok"), embedder=hash_embedder)
    assert client.post("/v1/chat/completions", json={"model": "m", "messages": USER}).status_code == 200
    client.post("/v1/chat/completions", json={"model": "m"})
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["m", "agent:shop", "usem3"]
    assert client.get("/healthz").json() == {"status": "ok", "models": ["m"], "agents": ["agent:shop"],
                                             "queue": {"m": 0}}
    r = client.post("/v1/embeddings", json={"model": "use", "input": ["苹果", "apple"]})
    data = r.json()["data"]
    assert [d["index"] for d in data] == [0, 1] and len(data[0]["embedding"]) == 256
    assert np.isclose(np.linalg.norm(data[0]["embedding"]), 1.0) and r.json()["usage"]["prompt_tokens"] > 0
    assert error_of(client.post("/v1/embeddings", json={"model": "other", "input": "x"}), 404)
    text = client.get("/metrics").text
    assert 'kapibara_request_seconds_count{endpoint="/v1/chat/completions",model="m"} 1' in text
    assert 'kapibara_requests_total{endpoint="/v1/chat/completions",status="400"} 1' in text
    assert 'kapibara_errors_total{kind="invalid_value"} 1' in text
    assert 'kapibara_ttft_seconds_count{model="m"} 1' in text
    assert 'kapibara_queue_depth{model="m"} 0' in text
    assert "# TYPE kapibara_tokens_per_second histogram" in text


def test_a_server_side_failure_is_a_500_in_openai_shape(make_client):
    client = make_client(FakeModel([]))  # runs out of scripted answers: a ConfigError inside generation
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": USER})
    error = error_of(r, 500)
    assert error["type"] == "server_error" and "ran out of scripted responses" in error["message"]
    streamed = client.post("/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True})
    assert streamed.status_code == 200 and '"type": "server_error"' in streamed.text
