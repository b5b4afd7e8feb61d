"""Two server processes' worth of apps on one PostgreSQL continue one conversation: the
server keeps no conversation state of its own."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from serve_fixtures import SESSION

from kapibara.memory import open_store
from kapibara.models.fake import FakeModel

pytestmark = pytest.mark.postgres

CALL = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "cherries"}}</tool_call>'


def test_two_servers_share_one_conversation(make_app, pg_clean):
    first_model = FakeModel([CALL, "Added cherries."])
    second_model = FakeModel([CALL, "Cherries again: 2 now."])
    a = TestClient(make_app(first_model, store_url=pg_clean))
    b = TestClient(make_app(second_model, store_url=pg_clean))
    ask = {"model": "agent:shop", "messages": [{"role": "user", "content": "add cherries"}]}
    assert a.post("/v1/chat/completions", json=ask, headers=SESSION).json()["kapibara"]["session"] == "erin"
    again = {"model": "agent:shop", "messages": [{"role": "user", "content": "once more"}]}
    body = b.post("/v1/chat/completions", json=again, headers=SESSION).json()
    assert body["choices"][0]["message"]["content"] == "Cherries again: 2 now."
    seen = [m["content"] for m in second_model.calls[0].messages if m["role"] in ("user", "assistant")]
    assert seen[0] == "add cherries" and "Added cherries." in seen and seen[-1] == "once more"
    store = open_store(pg_clean)
    try:
        assert store.get_state("erin") == {"cart": {"cherries": 2}}
    finally:
        store.close()
