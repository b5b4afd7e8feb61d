"""``search_knowledge(query)``: a tool any agent can be given to search a knowledge base."""

from __future__ import annotations

from kapibara.rag.context import build_context
from kapibara.rag.knowledge_base import KnowledgeBase, Mode
from kapibara.tools import Tool, tool


def knowledge_tool(
    kb: KnowledgeBase,
    *,
    k: int = 4,
    mode: Mode = "hybrid",
    budget_tokens: int = 800,
    name: str = "search_knowledge",
    description: str | None = None,
) -> Tool:
    """A ``Tool`` that returns the top ``k`` chunks as a numbered ``<documents>`` block.

    The output is the same delimited block the answer prompt uses, so the model can cite
    [n] and instructions inside documents stay marked as data.
    """

    def search_knowledge(query: str) -> str:
        """Search the knowledge base (store policies, documents) and return numbered passages to cite.

        Args:
            query: what to look for, in the user's language
        """
        hits = kb.search(query, k=k, mode=mode)
        if not hits:
            return "no matching documents"
        return build_context(hits, budget_tokens=budget_tokens).text

    return tool(name=name, description=description)(search_knowledge)
