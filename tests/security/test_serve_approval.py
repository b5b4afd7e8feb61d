"""Agent mode over HTTP: a held call comes back as ``kapibara.pending_action``; the client
approves or rejects it with a ``tool`` message answering the action's id."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from kapibara.memory import open_store  # noqa: E402
from kapibara.models.fake import FakeModel  # noqa: E402
from kapibara.serve import SESSION_HEADER, AgentSpec, create_app  # noqa: E402
from kapibara.serve.agents import with_policy  # noqa: E402

ADD = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "五常大米", "quantity": 2}}</tool_call>'


def client(tmp_path, model, side_effects=None):
    import kapibara.demo  # noqa: F401 - registers the "demo" tool set

    specs = with_policy((AgentSpec("grocery", "demo"),), side_effects)
    app = create_app({"m": model}, store=open_store(str(tmp_path / "s.db")), agents=specs)
    return TestClient(app)


def post(c, messages, session="s1", **body):
    return c.post("/v1/chat/completions", headers={SESSION_HEADER: session},
                  json={"model": "agent:grocery", "messages": messages, **body})


def test_pending_action_then_approve(tmp_path):
    c = client(tmp_path, FakeModel([ADD, "已加入：五常大米 ×2。"]))
    r = post(c, [{"role": "user", "content": "把两袋五常大米加入购物车"}])
    assert r.status_code == 200, r.text
    ext = r.json()["kapibara"]
    pending = ext["pending_action"]
    assert ext["stop_reason"] == "pending"
    assert pending["calls"][0]["name"] == "add_to_cart"
    assert pending["calls"][0]["arguments"] == {"product_name": "五常大米", "quantity": 2}
    assert [s["type"] for s in ext["steps"]] == ["pending_action"]
    assert open_store(str(tmp_path / "s.db")).get_state("s1").get("cart") is None
    r = post(c, [{"role": "tool", "tool_call_id": pending["id"], "content": "approve"}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["message"]["content"].startswith("已加入购物车：五常大米 ×2")  # rendered
    assert body["kapibara"]["pending_action"] is None
    assert [s["type"] for s in body["kapibara"]["steps"]] == ["tool_call", "observation"]
    assert open_store(str(tmp_path / "s.db")).get_state("s1")["cart"][0]["quantity"] == 2


def test_reject_over_streaming(tmp_path):
    c = client(tmp_path, FakeModel([ADD, "好的，不加了。"]))
    first = post(c, [{"role": "user", "content": "把两袋五常大米加入购物车"}]).json()
    action = first["kapibara"]["pending_action"]["id"]
    r = post(c, [{"role": "tool", "tool_call_id": action, "content": "reject"}], stream=True)
    chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    final = [ch["kapibara"] for ch in chunks if "stop_reason" in ch.get("kapibara", {})][-1]
    assert final["pending_action"] is None
    observation = next(s for s in final["steps"] if s["type"] == "observation")
    assert observation["error"] == "declined by the user"
    assert open_store(str(tmp_path / "s.db")).get_state("s1").get("cart") is None


def test_deny_from_the_server_flag(tmp_path):
    c = client(tmp_path, FakeModel([ADD, "不能加购。"]), side_effects=["deny"])
    ext = post(c, [{"role": "user", "content": "把两袋五常大米加入购物车"}]).json()["kapibara"]
    assert ext["pending_action"] is None
    assert ext["steps"][1]["error"] == "not permitted"


def test_a_bad_answer_to_a_pending_action_is_a_400(tmp_path):
    c = client(tmp_path, FakeModel([ADD]))
    action = post(c, [{"role": "user", "content": "把两袋五常大米加入购物车"}]).json()["kapibara"]["pending_action"]["id"]
    r = post(c, [{"role": "tool", "tool_call_id": action, "content": "maybe"}])
    assert r.status_code == 400 and "approve" in r.json()["error"]["message"]
