"""Agent mode: kapibara's loop runs server-side; sessions live in the store, not the server."""

from __future__ import annotations

import json

from serve_fixtures import SHOP

from kapibara.memory import open_store
from kapibara.models.fake import FakeModel
from kapibara.serve import SESSION_HEADER

CALL = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "cherries", "quantity": 2}}</tool_call>'


def ask(client, question, session=None, **body):
    headers = {SESSION_HEADER: session} if session else {}
    return client.post("/v1/chat/completions", headers=headers,
                       json={"model": "agent:shop", "messages": [{"role": "user", "content": question}], **body})


def test_the_agent_answers_with_its_steps_and_the_session_resumes(make_client, tmp_path):
    model = FakeModel([CALL, "Added 2 cherries.", CALL, "Now 4 cherries."])
    client = make_client(model)
    r = ask(client, "add 2 cherries", session="alice")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Added 2 cherries."}
    assert body["choices"][0]["finish_reason"] == "stop"
    ext = body["kapibara"]
    assert ext["session"] == "alice" and r.headers[SESSION_HEADER] == "alice"
    assert [s["type"] for s in ext["steps"]] == ["tool_call", "observation"]
    assert ext["steps"][0]["name"] == "add_to_cart" and ext["steps"][0]["arguments"] == {"product_name": "cherries", "quantity": 2}
    assert ext["steps"][1]["output"] == "cart: {'cherries': 2}"
    assert body["usage"]["completion_tokens"] > 0
    # A second request (the client sends only its new message): history and cart come from the store.
    assert ask(client, "2 more", session="alice").json()["choices"][0]["message"]["content"] == "Now 4 cherries."
    assert [m["content"] for m in model.calls[2].messages if m["role"] == "user"] == ["add 2 cherries", "2 more"]
    store = open_store(str(tmp_path / "sessions.db"))
    assert store.get_state("alice") == {"cart": {"cherries": 4}}


def test_the_user_field_names_the_session_and_without_one_a_new_session_comes_back(make_client):
    model = FakeModel(["Hello!", "Hi again."])
    client = make_client(model)
    first = ask(client, "hi", user="bob").json()
    assert first["kapibara"]["session"] == "bob"
    anonymous = client.post("/v1/chat/completions", json={"model": "agent:shop", "messages": [
        {"role": "system", "content": "ignored: the agent has its own prompt"},
        {"role": "user", "content": "earlier question"}, {"role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": "hello"}]})
    session = anonymous.json()["kapibara"]["session"]
    assert session and session != "bob" and anonymous.headers[SESSION_HEADER] == session
    sent = model.calls[1].messages  # the client's own history, its system message left out
    assert [m["content"] for m in sent if m["role"] != "system"][-3:] == ["earlier question", "earlier answer", "hello"]
    assert "ignored" not in json.dumps(sent)


def test_the_agent_streams_its_steps_then_the_answer(make_client):
    client = make_client(FakeModel([CALL, "Added."]))
    r = ask(client, "add cherries", session="carol", stream=True, stream_options={"include_usage": True})
    events = [x for x in r.text.split("\n\n") if x.strip()]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(x.removeprefix("data: ")) for x in events[:-1]]
    assert chunks[0]["kapibara"] == {"session": "carol"}
    steps = [c["kapibara"]["step"]["type"] for c in chunks if "step" in c.get("kapibara", {})]
    assert steps == ["tool_call", "observation"]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "Added."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["kapibara"]["session"] == "carol"
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_agent_mode_needs_a_user_message_last(make_client):
    r = make_client(FakeModel([])).post("/v1/chat/completions", json={
        "model": "agent:shop", "messages": [{"role": "assistant", "content": "hi"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"


def test_agents_are_named_by_registered_tool_sets(tmp_path):
    import pytest

    from kapibara.errors import KapibaraError
    from kapibara.serve import AgentSpec

    assert AgentSpec.parse("grocery=demo") == AgentSpec("grocery", "demo")
    assert AgentSpec.parse("serve-test-shop") == AgentSpec("serve-test-shop", "serve-test-shop")
    assert SHOP.toolset == "serve-test-shop"
    from kapibara.serve import create_app

    with pytest.raises(KapibaraError, match="unknown tool set 'nope'"):
        create_app({"m": FakeModel([])}, store=open_store(str(tmp_path / "s.db")), agents=(AgentSpec("x", "nope"),))
