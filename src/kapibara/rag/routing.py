"""Routing: answer directly, search the knowledge base, or call a tool."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kapibara.models.base import Model, Sampling
from kapibara.prompts.loader import detect_language
from kapibara.rag.prompting import render_messages

RouteKind = Literal["direct", "kb", "tool"]
_WORD = re.compile(r"\b(kb|tool|direct)\b", re.I)


@dataclass
class Route:
    """Where a question goes; ``raw`` is the model's text, kept for traces."""

    kind: RouteKind
    raw: str = ""
    fallback: bool = False


def route(
    model: Model,
    question: str,
    *,
    kb_description: str,
    tools: list[str] | None = None,
    default: RouteKind = "kb",
) -> Route:
    """Ask the model for one word (``kb``/``tool``/``direct``).

    An answer that names none of them falls back to ``default`` (the knowledge base:
    searching needlessly costs milliseconds, answering without facts costs correctness);
    ``tool`` is only possible when tools are given.
    """
    lang = detect_language(question)
    msgs = render_messages(
        "rag_route", lang, question=question, kb_description=kb_description, tools=tools or []
    )
    raw = model.chat(msgs, max_tokens=4, sampling=Sampling(temperature=0.0)).text
    m = _WORD.search(raw)
    kind = m.group(1).lower() if m else None
    if kind == "tool" and not tools:
        kind = None
    if kind in ("kb", "tool", "direct"):
        return Route(kind, raw)  # type: ignore[arg-type]
    return Route(default, raw, fallback=True)
