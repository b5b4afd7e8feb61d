"""Split documents into chunks on sentence ends (Chinese and English) under Markdown headings.

Sizes are in *tokens*, approximated without a tokenizer so chunking stays fast and
model-independent: one CJK character counts as one token, one Latin word or number as
one token. (Qwen's tokenizer gives about the same for Chinese and ~1.3x for English.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|[A-Za-z0-9_]+")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
# A sentence ends after Chinese/English terminators (with closing quotes/brackets), or at a
# line break. A period only ends a sentence when whitespace follows (keeps 3.14, e.g.).
_SENT_END = re.compile(r"[。！？；!?;]+[”’\"'」』）)]*|\.(?=\s)|\n+")


def count_tokens(text: str) -> int:
    """Approximate token count: CJK characters plus Latin words/numbers."""
    return len(_TOKEN.findall(text))


@dataclass
class Span:
    """A chunk's text with its character offsets in the document and its heading path."""

    text: str
    start: int
    end: int
    heading: str = ""


def _sections(text: str) -> list[tuple[str, int, int]]:
    """``(heading path, start, end)`` per Markdown section, the heading line included."""
    marks = list(_HEADING.finditer(text))
    if not marks:
        return [("", 0, len(text))]
    out: list[tuple[str, int, int]] = []
    if marks[0].start() > 0:
        out.append(("", 0, marks[0].start()))
    stack: list[tuple[int, str]] = []
    for i, m in enumerate(marks):
        level = len(m.group(1))
        stack = [(lv, t) for lv, t in stack if lv < level] + [(level, m.group(2).strip())]
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((" > ".join(t for _, t in stack), m.start(), end))
    return out


def _sentences(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _SENT_END.finditer(text, start, end):
        if m.end() > pos:
            spans.append((pos, m.end()))
            pos = m.end()
    if pos < end:
        spans.append((pos, end))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if not text[s:e].strip():
            continue
        # A sentence longer than a whole chunk is cut at token boundaries.
        if count_tokens(text[s:e]) > max_tokens:
            toks = list(_TOKEN.finditer(text, s, e))
            for i in range(0, len(toks), max_tokens):
                a = s if i == 0 else toks[i].start()
                b = toks[i + max_tokens].start() if i + max_tokens < len(toks) else e
                out.append((a, b))
        else:
            out.append((s, e))
    return out


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def chunk_text(text: str, *, size: int = 200, overlap: int = 30) -> list[Span]:
    """Chunks of at most ``size`` tokens; consecutive chunks share up to ``overlap`` tokens
    of whole sentences. Chunks never cross a Markdown heading."""
    if size <= 0 or overlap < 0 or overlap >= size:
        raise ValueError("need size > 0 and 0 <= overlap < size")
    out: list[Span] = []
    for heading, s0, e0 in _sections(text):
        sents = _sentences(text, s0, e0, size)
        toks = [count_tokens(text[s:e]) for s, e in sents]
        i = 0
        while i < len(sents):
            j, total = i, 0
            while j < len(sents) and (total + toks[j] <= size or j == i):
                total += toks[j]
                j += 1
            s, e = _strip(text, sents[i][0], sents[j - 1][1])
            # A heading with no body of its own (a parent of subsections) is no chunk.
            if s < e and count_tokens(_HEADING.sub("", text[s:e])) > 0:
                out.append(Span(text[s:e], s, e, heading))
            if j >= len(sents):
                break
            # Step back over whole trailing sentences that fit in the overlap budget.
            k, back = j, 0
            while k - 1 > i and back + toks[k - 1] <= overlap:
                back += toks[k - 1]
                k -= 1
            i = k
    return out
