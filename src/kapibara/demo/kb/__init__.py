"""The grocery demo's store-policy documents (delivery, returns, membership, freshness).

    from kapibara.demo.kb import policy_kb
    kb = policy_kb()            # ingested once into $KAPIBARA_HOME/kb/demo-policies/
    kb.search("会员多少钱")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

KB_NAME = "demo-policies"


def policy_docs_path() -> Path:
    """Folder holding the policy documents (``*.md``, Chinese and English; shipped as package data)."""
    return Path(__file__).resolve().parent


def policy_kb(name: str = KB_NAME, **kwargs: Any) -> Any:
    """The policy knowledge base, ingested (incrementally) on every call."""
    from kapibara.rag.knowledge_base import KnowledgeBase

    kb = KnowledgeBase.open(name, **kwargs)
    kb.ingest(policy_docs_path(), pattern="*.md")
    return kb
