"""Budgets of one turn, and the watchers that enforce them while a model generates.

A question once cost 2,048 generated tokens and 110 s on the bundled 0.5B: a decision
of 512 tokens of invented prose, a re-ask of 512 more, a constrained regeneration cut at
512, and a forced answer of 512. Each generation now has its own cap, any generation is
stopped when it loops, a native decision is stopped once it can no longer be a call when
the caller wants a call, and the whole turn has a deadline. Every stop is recorded as
the model call's ``finish_reason`` (``repetition``, ``not_a_call``, ``deadline``).

The watchers are pure functions of the text so far, testable one by one; ``watch``
combines the ones a generation needs into the ``Watch`` a backend calls per token.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from kapibara.models.base import Watch

REPETITION = "repetition"
NOT_A_CALL = "not_a_call"
DEADLINE = "deadline"


@dataclass(frozen=True)
class Budgets:
    """Token caps per kind of generation and the time allowed for a whole turn.

    Measured on the bundled 0.5B (~28 tokens/s decode with the portable build): a valid
    call is 20-80 tokens, a good short answer 30-200. ``prose_chars``: a native decision
    that has written this many characters without anything that opens a call is an
    answer, not a call (the 0.5B writes calls first, at most a short sentence before).
    """

    decision_tokens: int = 320
    rung_tokens: int = 160
    answer_tokens: int = 320
    prose_chars: int = 90
    timeout_s: float = 90.0


# -- watchers: text so far -> stop or not ---------------------------------------------------

_CALL_OPENERS = ("<tool_call>", "{", "[", "```", "Action", "Thought")
_ENUM = re.compile(r"^\s*(?:\d+[.、)]|[-*•])\s*")


def is_looping(text: str, *, min_unit: int = 4, max_unit: int = 120, repeats: int = 4,
               tail: int = 600) -> bool:
    """True when the text ends in a degenerate loop: one unit repeated ``repeats`` times
    back to back, or the same line (numbering aside) written three times.

    Greedy decoding of a small model falls into such loops ("好的好的好的…", the same
    list item again and again) and then runs to the token cap.
    """
    t = text[-tail:]
    for unit in range(min_unit, min(max_unit, len(t) // repeats) + 1):
        block = t[-unit:]
        if t.endswith(block * repeats) and block.strip():
            return True
    lines = [_ENUM.sub("", line).strip() for line in t.splitlines()]
    lines = [line for line in lines if len(line) >= 16]  # short lines ("价格：") legitimately recur
    return any(lines.count(line) >= 3 for line in set(lines))


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _chain(text: str, count: int) -> list[re.Match[str]] | None:
    """The last ``count`` quoted strings of ``text`` when each is the one before plus the
    same suffix (a list growing by one repeated step), else None."""
    found = list(_QUOTED.finditer(text))[-count:]
    items = [m.group(1) for m in found]
    pairs = list(zip(items, items[1:], strict=False))
    if len(found) < count or not all(b.startswith(a) and len(b) > len(a) for a, b in pairs):
        return None
    return found if len({b[len(a):] for a, b in pairs}) == 1 else None


def grows(text: str, *, count: int = 4, tail: int = 600) -> bool:
    """True when the last ``count`` strings written each extend the one before by the same
    words: a list item growing without end ("摄像头质量等级", "摄像头质量等级等级", ...),
    which no repeated-unit check sees until the step itself has repeated four times."""
    return _chain(text[-tail:], count) is not None


def _open_list(text: str) -> list[tuple[str, int]] | None:
    """The string items (value, end offset) of the innermost JSON array still open at the
    end of ``text``, or None when the innermost open container is no array."""
    stack: list[tuple[str, list[tuple[str, int]]]] = []
    in_string = escaped = False
    start = 0
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if stack and stack[-1][0] == "[":
                    stack[-1][1].append((text[start:i], i + 1))
        elif ch == '"':
            in_string, start = True, i + 1
        elif ch in "[{":
            stack.append((ch, []))
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1][1] if stack and stack[-1][0] == "[" else None


def repeats_item(text: str) -> bool:
    """True when the list being written has just repeated one of its own strings: the
    0.5B cycling through a tool's terms ("产地", "保质期", "价格", "摄像头", "电池", "产地",
    ...) until the token cap, which the repeated-unit check sees only after four cycles."""
    items = _open_list(text) or []
    return len(items) >= 2 and items[-1][0] in {v for v, _ in items[:-1]}


def trim_growing(text: str, count: int = 4) -> str:
    """JSON cut after the first item of a growing list (``grows``), or before the first
    item a list repeats (``repeats_item``), and closed, so the call it was writing can
    still be read; unchanged when no list loops."""
    chain = _chain(text, count)
    if chain is not None:
        return _closed(text[:chain[0].end()])
    items = _open_list(text) or []
    seen: set[str] = set()
    for j, (value, _) in enumerate(items):
        if value in seen:
            return _closed(text[:items[j - 1][1]])
        seen.add(value)
    return text


def _closed(out: str) -> str:
    """``out`` with the arrays and objects it leaves open closed."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in out:
        if in_string:
            in_string, escaped = (ch != '"' or escaped), (ch == "\\" and not escaped)
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    return out + "".join(reversed(stack))


def looks_like_call_start(text: str) -> bool:
    """Whether the text could still turn into a tool call (native protocol)."""
    s = text.lstrip()
    return s.startswith(_CALL_OPENERS) or "<tool_call>" in text or '"name"' in text


def is_prose(text: str, prose_chars: int) -> bool:
    """A native decision that is past ``prose_chars`` without a call opener is an answer."""
    return len(text.strip()) >= prose_chars and not looks_like_call_start(text)


def watch(*, deadline: float | None = None, prose_chars: int | None = None,
          check_every: int = 12) -> Watch:
    """The watch for one generation: loops always; a spent turn deadline
    (``time.monotonic()`` value) when given; prose past ``prose_chars`` when given.

    The loop check runs every ``check_every`` new characters, keeping it off the per-token
    cost; the prose check is cheap and runs every time.
    """
    checked = 0

    def check(text: str) -> str | None:
        nonlocal checked
        if deadline is not None and time.monotonic() > deadline:
            return DEADLINE
        if prose_chars is not None and is_prose(text, prose_chars):
            return NOT_A_CALL
        if len(text) - checked >= check_every:
            checked = len(text)
            if is_looping(text) or grows(text) or repeats_item(text):
                return REPETITION
        return None

    return check


def trim_loop(text: str) -> str:
    """Text cut where a loop started: the first copy of a repeated line or unit kept."""
    lines = text.splitlines()
    seen: set[str] = set()
    kept: list[str] = []
    for line in lines:
        key = _ENUM.sub("", line).strip()
        if len(key) >= 16 and key in seen:
            break
        seen.add(key)
        kept.append(line)
    out = "\n".join(kept)
    for unit in range(4, min(120, len(out) // 2) + 1):
        block = out[-unit:]
        while block.strip() and out.endswith(block * 2):
            out = out[:-unit]
    return out.rstrip()
