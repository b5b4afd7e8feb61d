"""The grocery demo's store-policy documents (delivery, returns, membership, freshness).

    from kapibara.demo.kb import policy_kb, assistant_toolset
    kb = policy_kb()              # ingested (incrementally) into $KAPIBARA_HOME/kb/demo-policies/
    kb.search("会员多少钱")
    tools = assistant_toolset()   # the 7 catalog tools + search_knowledge over the policies
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kapibara.rag.knowledge_base import KnowledgeBase
    from kapibara.tools import ToolSet

KB_NAME = "demo-policies"
KB_DESCRIPTION = "store policies: delivery areas and times, returns and refunds, membership, freshness guarantee"


def policy_docs_path() -> Path:
    """Folder holding the policy documents (``*.md``, Chinese and English; shipped as package data)."""
    return Path(__file__).resolve().parent


def policy_kb(name: str = KB_NAME, **kwargs: Any) -> KnowledgeBase:
    """The policy knowledge base, ingested (incrementally: unchanged files skipped) on every call."""
    from kapibara.rag.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.open(name, **kwargs)
    kb.ingest(policy_docs_path(), pattern="*.md")
    return kb


def assistant_toolset(kb: KnowledgeBase | None = None, *, k: int = 3) -> ToolSet:
    """The demo's catalog tools plus ``search_knowledge`` over the store policies, so the
    assistant answers policy questions with citations and products from the catalog."""
    from kapibara.demo import demo_toolset
    from kapibara.rag.knowledge_tool import knowledge_tool
    from kapibara.tools import ToolSet

    tool = knowledge_tool(
        kb or policy_kb(),
        k=k,
        description="查询商店政策（配送范围和时间、退货退款、会员、新鲜保障），返回带编号的资料，回答时用 [编号] 引用。",
    )
    return ToolSet([*demo_toolset(), tool])
