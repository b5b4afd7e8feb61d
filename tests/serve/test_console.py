"""The web UI's routes: the page, sessions (list, one with its traces, delete) and
knowledge bases (upload, search), under the same API keys as the OpenAI routes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kapibara.memory import open_store
from kapibara.models.fake import FakeModel
from kapibara.serve import SESSION_HEADER, create_app
from kapibara.serve.sessions import RAW_CHARS, turns

CALL = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "cherries", "quantity": 2}}</tool_call>'
DOC = b"# Returns\n\nFresh food can be returned within 7 days with the receipt.\n\n# Shipping\n\nOrders over 99 yuan ship free.\n"


def ask(client, question, session):
    return client.post("/v1/chat/completions", headers={SESSION_HEADER: session},
                       json={"model": "agent:shop", "messages": [{"role": "user", "content": question}]})


def test_the_page_is_open_and_the_routes_it_uses_need_the_key(make_client):
    client = make_client(FakeModel([]), api_keys=("sk-1",))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/app.js"' in page.text
    assert client.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/secrets.py").status_code == 404
    for path in ("/v1/kapibara/sessions", "/v1/kapibara/kb", "/v1/kapibara/kb/x/search?q=a"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer sk-1"}).status_code != 401, path


def test_sessions_are_listed_shown_with_their_traces_and_deleted(make_client, tmp_path):
    client = make_client(FakeModel([CALL, "Added 2 cherries.", "Hello."]))
    assert ask(client, "add 2 cherries", "alice").status_code == 200
    assert ask(client, "hi", "bob").status_code == 200
    listed = client.get("/v1/kapibara/sessions").json()["data"]
    assert [s["session_id"] for s in listed] == ["bob", "alice"]  # most recent first
    assert listed[1]["title"] == "add 2 cherries" and listed[1]["n_messages"] == 4

    alice = client.get("/v1/kapibara/sessions/alice").json()
    assert [m["role"] for m in alice["messages"]] == ["user", "tool_call", "observation", "assistant"]
    assert alice["messages"][1]["name"] == "add_to_cart" and alice["messages"][3]["content"] == "Added 2 cherries."
    assert alice["state"] == {"cart": {"cherries": 2}}
    [turn] = alice["turns"]
    assert turn["question"] == "add 2 cherries" and turn["answer"] == "Added 2 cherries."
    assert [c["rung"] for c in turn["model_calls"]] == [None, "answer_from_observations"]
    assert turn["model_calls"][0]["completion_tokens"] > 0 and turn["model_calls"][0]["raw"] == CALL
    assert [(t["name"], t["output"]) for t in turn["tool_calls"]] == [("add_to_cart", "cart: {'cherries': 2}")]
    assert turn["seconds"] >= 0

    assert client.delete("/v1/kapibara/sessions/alice").json() == {"id": "alice", "object": "session", "deleted": True}
    assert client.get("/v1/kapibara/sessions/alice").status_code == 404
    assert client.delete("/v1/kapibara/sessions/alice").json()["error"]["code"] == "session_not_found"
    assert [s.session_id for s in open_store(str(tmp_path / "sessions.db")).list_sessions()] == ["bob"]


def test_a_server_without_agents_says_it_keeps_no_sessions():
    client = TestClient(create_app({"m": FakeModel([])}, agents=()))
    r = client.get("/v1/kapibara/sessions")
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_session_store"


def test_turns_group_traces_by_run_and_keep_what_a_reader_needs():
    records = [
        {"type": "run_start", "run_id": "r1", "ts": 10.0, "question": "q1", "model": "m"},
        {"type": "model_call", "run_id": "r1", "ts": 10.5, "step": 1, "attempt": 0, "rung": None,
         "raw": "x" * (RAW_CHARS + 50), "messages": ["the whole prompt"],
         "usage": {"prompt_tokens": 900, "cached_prompt_tokens": 800, "completion_tokens": 20, "ttft_s": 0.2, "total_s": 1.0}},
        {"type": "model_call", "run_id": "r1", "ts": 11.0, "step": 1, "attempt": 1, "rung": "reask", "raw": "{}"},
        {"type": "decision", "run_id": "r1", "ts": 11.1, "step": 1, "repairs": ["reask", "fuzzy_name"], "calls": [{"name": "t"}]},
        {"type": "run_end", "run_id": "r1", "ts": 12.5, "answer": "a1", "stop_reason": "answer"},
        {"type": "run_start", "run_id": "r2", "ts": 20.0, "question": "q2"},
    ]
    first, second = turns(records)
    assert first["question"] == "q1" and first["answer"] == "a1" and first["seconds"] == pytest.approx(2.5)
    assert first["repairs"] == ["fuzzy_name", "reask"]
    assert [c["rung"] for c in first["model_calls"]] == [None, "reask"]
    call = first["model_calls"][0]
    assert call["prompt_tokens"] == 900 and call["cached_prompt_tokens"] == 800 and "messages" not in call
    assert len(call["raw"]) == RAW_CHARS + 1  # clipped, with an ellipsis
    assert first["decisions"][0]["calls"] == ["t"]
    assert second["question"] == "q2" and second["answer"] is None and second["model_calls"] == []


@pytest.fixture
def kb_client(make_client, hash_embedder, tmp_path, monkeypatch):
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    return make_client(FakeModel([]), embedder=hash_embedder, max_upload_bytes=4096)


def test_an_uploaded_document_is_ingested_and_found(kb_client, tmp_path):
    r = kb_client.post("/v1/kapibara/kb/policies/documents", files={"file": ("returns.md", DOC, "text/markdown")})
    assert r.status_code == 200, r.text
    [report] = r.json()["data"]
    assert report["file"] == "returns.md" and len(report["added"]) == 1 and report["chunks_added"] == 2
    again = kb_client.post("/v1/kapibara/kb/policies/documents", files={"file": ("returns.md", DOC)}).json()["data"][0]
    assert again["unchanged"] and not again["added"]  # same content: skipped, as kb ingest does
    assert kb_client.get("/v1/kapibara/kb").json()["data"] == [{"id": "policies", "object": "knowledge_base"}]
    hits = kb_client.get("/v1/kapibara/kb/policies/search", params={"q": "return fresh food", "mode": "bm25"}).json()
    assert hits["data"][0]["file"] == "returns.md" and "7 days" in hits["data"][0]["text"]
    assert (tmp_path / "home" / "kb" / "policies" / "uploads" / "returns.md").read_bytes() == DOC
    changed = DOC.replace(b"7 days", b"3 days")
    assert kb_client.post("/v1/kapibara/kb/policies/documents", files={"file": ("returns.md", changed)}).json()["data"][0]["updated"]
    texts = [h["text"] for h in kb_client.get("/v1/kapibara/kb/policies/search",
                                              params={"q": "return fresh food", "mode": "bm25"}).json()["data"]]
    assert any("3 days" in t for t in texts) and not any("7 days" in t for t in texts)


@pytest.mark.parametrize(("path", "files", "status", "code"), [
    ("/v1/kapibara/kb/policies/documents", {"file": ("tool.exe", b"MZ")}, 400, "unsupported_file_type"),
    ("/v1/kapibara/kb/policies/documents", {"file": (".hidden.md", b"x")}, 400, "invalid_file_name"),
    ("/v1/kapibara/kb/.bad/documents", {"file": ("a.md", b"x")}, 400, "invalid_kb_name"),
    ("/v1/kapibara/kb/policies/documents", {"file": ("big.md", b"x" * 5000)}, 413, "request_too_large"),
    ("/v1/kapibara/kb/policies/documents", {"other": ("a.md", b"x")}, 400, None),
])
def test_bad_uploads_are_refused(kb_client, path, files, status, code):
    r = kb_client.post(path, files=files)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_searching_an_unknown_knowledge_base_is_a_404(kb_client):
    r = kb_client.get("/v1/kapibara/kb/nothing/search", params={"q": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "kb_not_found"
