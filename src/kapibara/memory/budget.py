"""Context budgeting: keep the system prompt and the most recent turns in the window.

A small model's window (4k tokens for the bundled 0.5B by default) fills after a few
tool-heavy turns. ``fit_to_budget`` drops the oldest history first, in units that keep
the conversation valid for a chat template: an assistant message that made tool calls
is kept or dropped together with its tool results, and the kept history never starts
with a tool result whose call was dropped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from kapibara.models.base import Message

MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role tags, separators)."""

# Scripts where a tokenizer spends about one token per character: CJK ideographs
# (with extensions), kana, hangul, CJK and full-width punctuation.
_WIDE = re.compile(
    "[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]"
)


def approx_tokens(text: str) -> int:
    """A cheap token estimate: each CJK character ~1 token, other text ~4 chars/token.

    Close enough to Qwen's tokenizer for budgeting (within ~25% on mixed Chinese and
    English), and it never needs a model loaded.
    """
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / 4)


def _text_of(content: object) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts: count the text ones
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return json.dumps(content, ensure_ascii=False)


def message_tokens(message: Message, count_tokens: Callable[[str], int] = approx_tokens) -> int:
    """Estimated tokens of one message as a chat template renders it."""
    n = MESSAGE_OVERHEAD + count_tokens(_text_of(message.get("content")))
    if message.get("tool_calls"):
        n += count_tokens(json.dumps(message["tool_calls"], ensure_ascii=False))
    if message.get("name"):
        n += count_tokens(str(message["name"]))
    return n


def _units(history: list[Message]) -> list[list[Message]]:
    """Split history into droppable units: a tool-calling assistant message plus its results."""
    units: list[list[Message]] = []
    for msg in history:
        if msg.get("role") == "tool" and units and _is_call_group(units[-1]):
            units[-1].append(msg)
        else:
            units.append([msg])
    return units


def _is_call_group(unit: list[Message]) -> bool:
    return unit[0].get("role") == "assistant" and bool(unit[0].get("tool_calls"))


def fit_to_budget(
    messages: list[Message],
    max_tokens: int,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> list[Message]:
    """The messages to send: system message(s) plus the most recent turns within budget.

    Always kept, even over budget: every system message, the latest user message (the
    question being worked on) and the newest unit of history. Older history is dropped
    oldest first, never splitting an assistant tool-call message from its tool results,
    and never leaving a tool result at the start of the kept history. The input list is
    not modified; system messages come first, the rest keep their order.
    """

    def cost(msgs: list[Message]) -> int:
        return sum(message_tokens(m, count_tokens) for m in msgs)

    system = [m for m in messages if m.get("role") == "system"]
    history = [m for m in messages if m.get("role") != "system"]
    if not history:
        return list(system)

    units = _units(history)
    last = len(units) - 1
    last_user = next((i for i in range(last, -1, -1) if units[i][0].get("role") == "user"), None)
    paid = {last} if last_user is None else {last, last_user}
    budget = max_tokens - cost(system) - sum(cost(units[i]) for i in paid)

    # Walk back from the newest unit; stop at the first that does not fit, so the kept
    # history is contiguous (a gap would make the model misread what happened).
    start = last
    while start > 0:
        price = 0 if start - 1 in paid else cost(units[start - 1])
        if price > budget:
            break
        budget -= price
        start -= 1
    # A tool result whose assistant call was dropped (or never existed) cannot open
    # the history: chat templates and OpenAI servers reject it.
    while start < last and units[start][0].get("role") == "tool":
        start += 1
    kept = units[start:]
    pinned_user = units[last_user] if last_user is not None and last_user < start else []
    out = list(system) + list(pinned_user)
    for unit in kept:
        out.extend(unit)
    return out
