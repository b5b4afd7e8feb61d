"""LLM query rewriting and multi-query expansion (the query side of RAG-Fusion)."""

from __future__ import annotations

import re

from kapibara.models.base import Model, Sampling
from kapibara.prompts.loader import detect_language
from kapibara.rag.prompting import render_messages

_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)、]|Query\s*\d*:|查询\s*\d*[:：])\s*", re.I)


def rewrite_queries(model: Model, question: str, n: int = 3, *, max_tokens: int = 120) -> list[str]:
    """The original question plus up to ``n`` rewritten queries (deduplicated, in order).

    The original always comes first, so a model that rewrites badly can only add
    candidates, never lose the user's own words.
    """
    msgs = render_messages("rag_rewrite", detect_language(question), question=question, n=n)
    text = model.chat(msgs, max_tokens=max_tokens, sampling=Sampling(temperature=0.0)).text
    out = [question]
    for line in text.splitlines():
        q = _BULLET.sub("", line).strip().strip('"“”')
        if 2 <= len(q) <= 200 and q not in out:
            out.append(q)
        if len(out) > n:
            break
    return out
