"""An agent given search_knowledge next to the demo's catalog tools answers a policy question
from the knowledge base (with a citation) and still calls catalog tools for products."""

import pytest

from kapibara.models.fake import FakeModel
from kapibara.rag.knowledge_base import KnowledgeBase


@pytest.fixture
def policy_tools(tmp_path, hash_embedder):
    from kapibara.demo.kb import assistant_toolset, policy_docs_path

    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    kb.ingest(policy_docs_path(), pattern="*.md")
    return assistant_toolset(kb)


def test_policy_question_goes_through_search_knowledge(policy_tools):
    from kapibara.agent.loop import Agent

    def script(messages, tools):
        last = messages[-1]
        if last["role"] == "tool":
            assert "<documents>" in last["content"] and "通州" in last["content"]
            return "通州区只配送到指定自提点 [1]。"
        return '<tool_call>{"name": "search_knowledge", "arguments": {"query": "配送 通州"}}</tool_call>'

    res = Agent(FakeModel(script), policy_tools).run("你们配送到通州吗？")
    assert [c.name for c in res.tool_calls] == ["search_knowledge"]
    assert res.tool_results[0].error is None
    assert "[1]" in res.answer
    assert {"search_knowledge", "get_product_info"} <= set(policy_tools.names)
