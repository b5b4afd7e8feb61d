"""Rerankers score (query, passage) pairs; ``rerank`` reorders hits by those scores.

A sentence-transformers cross-encoder (by local path) when the user has one; otherwise
``LLMReranker``, a pointwise grader on any ``Model`` (the bundled 0.5B by default).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, runtime_checkable

from kapibara.errors import ConfigError, require
from kapibara.models.base import Model, Sampling
from kapibara.prompts.loader import detect_language
from kapibara.rag.prompting import render_messages
from kapibara.rag.types import Hit


@runtime_checkable
class Reranker(Protocol):
    """Relevance scores for passages against one query (higher is more relevant)."""

    def score(self, query: str, passages: list[str]) -> list[float]:
        """One score per passage."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder loaded from a local folder (never downloads)."""

    def __init__(self, path: str, *, device: str = "cpu") -> None:
        if not Path(path).is_dir():
            raise ConfigError(f"reranker folder {path!r} not found", hint="give a local cross-encoder model folder")
        st = require("sentence_transformers", "sentence-transformers", "sentence-transformers")
        self._model = st.CrossEncoder(path, device=device, local_files_only=True)

    def score(self, query: str, passages: list[str]) -> list[float]:
        """Cross-encoder logits."""
        return [float(s) for s in self._model.predict([(query, p) for p in passages])]


_DIGIT = re.compile(r"[0-3]")


class LLMReranker:
    """Pointwise LLM grading 0-3 with the ``rag_rerank`` template (one short call each).

    Ties keep the first-stage order (``rerank`` sorts stably), so a grader that cannot
    decide does no harm.
    """

    def __init__(self, model: Model, *, max_chars: int = 600) -> None:
        self.model = model
        self.max_chars = max_chars
        self.failures = 0

    def score(self, query: str, passages: list[str]) -> list[float]:
        """Grades 0-3; an unparseable answer counts as 0 and is tallied in ``failures``."""
        lang = detect_language(query)
        out: list[float] = []
        for p in passages:
            msgs = render_messages("rag_rerank", lang, query=query, passage=p[: self.max_chars])
            text = self.model.chat(msgs, max_tokens=3, sampling=Sampling(temperature=0.0)).text
            m = _DIGIT.search(text)
            if m is None:
                self.failures += 1
            out.append(float(m.group()) if m else 0.0)
        return out


def rerank(query: str, hits: list[Hit], reranker: Reranker, *, top_n: int | None = None) -> list[Hit]:
    """Hits reordered by reranker score (stable for ties), cut to ``top_n``."""
    if not hits:
        return []
    scores = reranker.score(query, [h.chunk.text for h in hits])
    order = sorted(range(len(hits)), key=lambda i: -scores[i])
    out = [Hit(hits[i].chunk, scores[i], hits[i].retriever + "+rerank") for i in order]
    return out[:top_n] if top_n else out
