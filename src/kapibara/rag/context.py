"""Context assembly: retrieved chunks inside a delimited, numbered block within a token budget.

Retrieved text is untrusted: it is placed inside ``<documents>`` and any delimiter-like
tags inside it are neutralised, so a document cannot close the block and pose as
instructions. The answer prompt tells the model the block is data, not instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kapibara.rag.chunking import count_tokens
from kapibara.rag.types import Hit

_TAG = re.compile(r"</?\s*(documents|document|passage|system|user|assistant)\b[^>]*>", re.I)


@dataclass
class Citation:
    """One numbered source in the context block."""

    number: int
    source: str
    title: str
    heading: str
    start: int
    end: int
    chunk_id: str


@dataclass
class Context:
    """The rendered block, its citations, and how many tokens it takes."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    tokens: int = 0


def neutralise(text: str) -> str:
    """Defang tags that could end the context block early (``</documents>`` -> ``[/documents]``)."""
    return _TAG.sub(lambda m: "[" + m.group(0)[1:-1] + "]", text)


def build_context(hits: list[Hit], *, budget_tokens: int = 1200) -> Context:
    """Number hits [1], [2], ... in rank order until the budget is spent.

    A hit that does not fit is skipped (a later, shorter one may still fit); the first
    hit is truncated rather than dropped so the block is never empty when hits exist.
    """
    parts: list[str] = []
    cites: list[Citation] = []
    used = count_tokens("<documents></documents>")
    for hit in hits:
        c = hit.chunk
        body = neutralise(c.text)
        label = c.title or c.source.rsplit("/", 1)[-1]
        if c.heading:
            label = f"{label} > {c.heading.split(' > ')[-1]}" if c.heading.split(" > ")[-1] != label else label
        n = len(cites) + 1
        entry = f'<document id="{n}" source="{neutralise(label)}">\n{body}\n</document>'
        cost = count_tokens(entry)
        if used + cost > budget_tokens:
            if cites:
                continue
            # Keep the best hit even when alone it is over budget: cut its text.
            keep = max(0, budget_tokens - used - count_tokens(label) - 8)
            body = _cut(body, keep)
            entry = f'<document id="{n}" source="{neutralise(label)}">\n{body}\n</document>'
            cost = count_tokens(entry)
        parts.append(entry)
        used += cost
        cites.append(Citation(n, c.source, c.title, c.heading, c.start, c.end, c.id))
    text = "<documents>\n" + "\n".join(parts) + "\n</documents>"
    return Context(text, cites, used)


def _cut(text: str, tokens: int) -> str:
    if tokens <= 0:
        return ""
    out, n = [], 0
    for m in re.finditer(r"[\u4e00-\u9fff]|[A-Za-z0-9_]+|\s+|.", text):
        if m.group().strip() and re.match(r"[\u4e00-\u9fff]|[A-Za-z0-9_]", m.group()):
            n += 1
            if n > tokens:
                break
        out.append(m.group())
    return "".join(out) + "…"


_CITE = re.compile(r"\[(\d+)\]")


def cited_numbers(answer: str, context: Context) -> list[int]:
    """Citation numbers used in an answer that point at real sources, in first-use order."""
    valid = {c.number for c in context.citations}
    seen: list[int] = []
    for m in _CITE.finditer(answer):
        n = int(m.group(1))
        if n in valid and n not in seen:
            seen.append(n)
    return seen
