"""The retrieval pipeline: route -> rewrite/expand -> retrieve per query -> RRF fuse ->
rerank -> assemble a cited context -> answer. Every stage is optional and swappable.

    pipe = RagPipeline(kb, model, rewrite=True, reranker=LLMReranker(model))
    ans = pipe.answer("生鲜坏了怎么赔？")
    print(ans.text, [c.source for c in ans.cited])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kapibara.models.base import Model, Sampling
from kapibara.prompts.loader import detect_language
from kapibara.rag.context import Citation, Context, attribute, build_context, cited_numbers
from kapibara.rag.fusion import rrf
from kapibara.rag.knowledge_base import KnowledgeBase, Mode
from kapibara.rag.prompting import render_messages
from kapibara.rag.rerank import Reranker, rerank
from kapibara.rag.rewrite import rewrite_queries
from kapibara.rag.routing import Route, route
from kapibara.rag.stores import Where
from kapibara.rag.types import Hit


@dataclass
class Answer:
    """A cited answer: ``cited`` are the sources the answer's [n] markers point at."""

    text: str
    context: Context
    hits: list[Hit]
    queries: list[str]
    route: Route | None = None
    timings: dict[str, float] = field(default_factory=dict)
    attributed: bool = False
    """True when the model gave no [n] markers and they were added by word overlap."""

    @property
    def cited(self) -> list[Citation]:
        nums = cited_numbers(self.text, self.context)
        return [c for c in self.context.citations if c.number in nums]


@dataclass
class RagPipeline:
    """Configurable retrieval-augmented answering over one knowledge base.

    ``weights``: (BM25, dense) weights of the hybrid fusion; ``rewrite``: ask the model for ``n_queries`` rewrites and fuse their results (RAG-Fusion);
    ``reranker``: rerank the fused top ``rerank_top`` hits; ``route_first``: let the model
    decide whether the question needs the knowledge base at all; ``attribute``: when the
    model cites nothing, add [n] markers for the sources its answer overlaps most.
    """

    kb: KnowledgeBase
    model: Model
    k: int = 4
    mode: Mode = "hybrid"
    weights: tuple[float, float] = (1.0, 1.0)
    rewrite: bool = False
    n_queries: int = 3
    reranker: Reranker | None = None
    rerank_top: int = 10
    budget_tokens: int = 1200
    route_first: bool = False
    kb_description: str = "the user's documents"
    max_tokens: int = 256
    attribute: bool = True

    def retrieve(self, question: str, *, where: Where | None = None) -> tuple[list[Hit], list[str]]:
        """Hits for the question (after expansion, fusion and reranking) and the queries used."""
        queries = rewrite_queries(self.model, question, self.n_queries) if self.rewrite else [question]
        pool = max(self.k, self.rerank_top if self.reranker else self.k)
        with self.kb.lock:
            per_query = [
                self.kb.search_ids(q, pool, mode=self.mode, where=where, weights=self.weights) for q in queries
            ]
        if len(per_query) == 1:
            ranked = [(i, s) for i, s, _ in per_query[0]]
        else:
            ranked = rrf([[i for i, _, _ in r] for r in per_query])[:pool]
        with self.kb.lock:
            found = self.kb.chunks([i for i, _ in ranked])
        hits = [Hit(found[i], s, self.mode if len(queries) == 1 else "fusion") for i, s in ranked if i in found]
        if self.reranker is not None:
            hits = rerank(question, hits, self.reranker)
        return hits[: self.k], queries

    def answer(self, question: str, *, where: Where | None = None, history: list[dict[str, Any]] | None = None) -> Answer:
        """Answer with numbered citations; with ``route_first`` a ``direct`` route skips retrieval."""
        timings: dict[str, float] = {}
        lang = detect_language(question)
        r: Route | None = None
        if self.route_first:
            t = time.perf_counter()
            r = route(self.model, question, kb_description=self.kb_description)
            timings["route_s"] = time.perf_counter() - t
        hits: list[Hit] = []
        queries = [question]
        if r is None or r.kind == "kb":
            t = time.perf_counter()
            hits, queries = self.retrieve(question, where=where)
            timings["retrieve_s"] = time.perf_counter() - t
        ctx = build_context(hits, budget_tokens=self.budget_tokens)
        msgs = answer_messages(question, ctx, lang)
        if history:
            msgs = [msgs[0], *history, msgs[1]]
        t = time.perf_counter()
        text = self.model.chat(msgs, max_tokens=self.max_tokens, sampling=Sampling(temperature=0.0)).content
        timings["generate_s"] = time.perf_counter() - t
        text = text.strip()
        attributed = False
        if self.attribute and hits and not cited_numbers(text, ctx):
            nums = attribute(text, ctx, {h.chunk.id: h.chunk.text for h in hits})
            if nums:
                text = f"{text} " + "".join(f"[{n}]" for n in nums)
                attributed = True
        return Answer(text, ctx, hits, queries, r, timings, attributed)


def answer_messages(question: str, context: Context, language: str = "zh") -> list[dict[str, Any]]:
    """The answer prompt: instructions + delimited context in the system message, the
    question alone in the user message (so retrieved text never sits where the user speaks)."""
    return render_messages("rag_answer", language, question=question, context=context.text)
