"""The grocery agent on the real bundled Qwen2.5-Coder-0.5B, asked over HTTP (slow; -m model)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kapibara.memory import open_store
from kapibara.serve import DEFAULT_AGENTS, SESSION_HEADER, create_app

pytestmark = pytest.mark.model


def test_the_grocery_agent_answers_a_demo_question_over_http(real_model, tmp_path):
    pytest.importorskip("kapibara.demo")
    app = create_app({"qwen2.5-coder-0.5b": real_model}, store=open_store(str(tmp_path / "s.db")),
                     agents=DEFAULT_AGENTS)
    app.state.kapibara.agents.warm()  # what kapibara serve does at startup
    client = TestClient(app)
    r = client.post("/v1/chat/completions", headers={SESSION_HEADER: "shopper"}, json={
        "model": "agent:grocery", "max_tokens": 96,
        "messages": [{"role": "user", "content": "我想买一款拍照好的手机，有推荐吗？"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    steps = body["kapibara"]["steps"]
    assert [s["name"] for s in steps if s["type"] == "tool_call"][:1] == ["recommend_products"], body
    observation = next(s for s in steps if s["type"] == "observation")
    assert observation["error"] is None and observation["output"]
    assert body["choices"][0]["message"]["content"].strip()
    assert body["usage"]["completion_tokens"] > 0
