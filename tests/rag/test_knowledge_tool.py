from kapibara.models.base import ToolCall
from kapibara.rag.knowledge_base import KnowledgeBase
from kapibara.rag.knowledge_tool import knowledge_tool
from kapibara.rag.types import Document
from kapibara.tools import ToolContext, ToolSet, execute_call


def test_search_knowledge_tool_returns_numbered_documents(tmp_path, hash_embedder):
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    kb.ingest_documents([Document("returns.md", "非生鲜商品七天内可以退货。"), Document("m.md", "会员月卡十五元。")])
    t = knowledge_tool(kb, k=2)
    spec = t.spec()["function"]
    assert spec["name"] == "search_knowledge" and spec["parameters"]["required"] == ["query"]
    res = execute_call(ToolSet([t]), ToolCall("search_knowledge", {"query": "退货"}), ToolContext(session_id="s"))
    assert res.error is None
    assert res.output.startswith("<documents>") and 'id="1"' in res.output and "七天" in res.output
    empty = execute_call(ToolSet([t]), ToolCall("search_knowledge", {"query": "zzzz qqqq"}), ToolContext(session_id="s"))
    assert empty.error is None
