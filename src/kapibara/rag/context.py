"""Context assembly: retrieved chunks inside a delimited, numbered block within a token budget.

Retrieved text is untrusted: it is placed inside ``<documents>`` and any delimiter-like
tags inside it are neutralised, so a document cannot close the block and pose as
instructions. The answer prompt tells the model the block is data, not instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kapibara.rag.bm25 import tokenize
from kapibara.rag.chunking import count_tokens
from kapibara.rag.types import Hit

_TAG = re.compile(r"</?\s*(documents|document|passage|system|user|assistant)\b[^>]*>", re.I)
# Phrases that address the model rather than inform the reader. Small models follow them
# even inside a delimited block (measured: the 0.5B answered "HACKED"), so sentences holding
# them are removed before the block is built. Detection patterns, not prompt text.
_INJECTION = re.compile(
    r"(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|preceding|system)\s+(?:instructions?|prompts?|rules?|messages?|context)"
    r"|(?:reply|respond|answer|output)\s+only\s+with|you\s+are\s+now\b|new\s+instructions?\s*:"
    r"|(?:reveal|print|show)\s+(?:your\s+|the\s+)?system\s+prompt"
    r"|(?:忽略|无视|忘记|忘掉|不要理会)(?:掉)?(?:之前|以上|上面|前面|先前|此前|所有|全部|系统)[^。！？；\n]{0,6}(?:指令|指示|要求|规则|提示|设定)"
    r"|(?:只|仅)(?:回复|回答|输出)[“\"「]|你现在是|新的指令[:：]|(?:泄露|输出|显示)(?:你的)?系统提示",
    re.I,
)
_SENTENCE = re.compile(r"[^。！？；!?;\n]*?(?:[。！？；!?;]+[”’\"'」]?|\.(?=\s|$)|\n|$)")
REMOVED = "[…]"


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
    injections_removed: int = 0
    """Instruction-like sentences dropped from retrieved text (see ``strip_injections``)."""


def neutralise(text: str) -> str:
    """Defang tags that could end the context block early (``</documents>`` -> ``[/documents]``)."""
    return _TAG.sub(lambda m: "[" + m.group(0)[1:-1] + "]", text)


def strip_injections(text: str) -> tuple[str, int]:
    """Remove sentences that try to instruct the model; returns ``(text, sentences removed)``."""
    if not _INJECTION.search(text):
        return text, 0
    out, n = [], 0
    for m in _SENTENCE.finditer(text):
        sent = m.group()
        if sent and _INJECTION.search(sent):
            out.append(REMOVED + ("\n" if sent.endswith("\n") else ""))
            n += 1
        else:
            out.append(sent)
    return "".join(out), n


def build_context(hits: list[Hit], *, budget_tokens: int = 1200) -> Context:
    """Number hits [1], [2], ... in rank order until the budget is spent.

    A hit that does not fit is skipped (a later, shorter one may still fit); the first
    hit is truncated rather than dropped so the block is never empty when hits exist.
    """
    parts: list[str] = []
    cites: list[Citation] = []
    used = count_tokens("<documents></documents>")
    removed = 0
    for hit in hits:
        c = hit.chunk
        clean, n_removed = strip_injections(c.text)
        removed += n_removed
        body = neutralise(clean)
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
    return Context(text, cites, used, removed)


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


def attribute(answer: str, context: Context, texts: dict[str, str], *, min_overlap: float = 0.5, most: int = 2) -> list[int]:
    """Citation numbers for an answer that cites none: the sources sharing at least
    ``min_overlap`` of the answer's words, best first (at most ``most``).

    Small models often answer correctly from the context but drop the [n] markers (measured
    with the bundled 0.5B: asking for markers in the question made it emit markers instead
    of answers). ``texts`` maps chunk id -> chunk text.
    """
    words = set(tokenize(answer))
    if not words:
        return []
    scored = []
    for c in context.citations:
        overlap = len(words & set(tokenize(texts.get(c.chunk_id, "")))) / len(words)
        if overlap >= min_overlap:
            scored.append((overlap, c.number))
    return [n for _, n in sorted(scored, key=lambda x: (-x[0], x[1]))[:most]]
