"""Is an answer written after tool calls fit to show the user?

A small model answering inside the tool-calling conversation sometimes writes no answer
at all, only something shaped like one. Measured on the bundled 0.5B in the peers
benchmark's end-to-end demo conversations (``bench/results/peers_notes.md``):

- ``raw_data``: a tool result's JSON printed as the answer
  (``{"ok": true, "added": "农夫山泉 ×2", ...}``);
- ``echo``: the user's question repeated ("杭州今天适合出门吗？看下天气。");
- ``repetition``: a phrase looping until the token cap ("五常大米饭，五常大米饭，...").

Such an answer is not shown: the agent writes the answer again from the results alone
(``Agent._answer_from_observations``), and if that one fails too, shows the results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from kapibara.agent.budget import is_looping
from kapibara.agent.leaks import leaked_span, normalised

_FENCE = re.compile(r"^```[\w-]*\s*|\s*```$")
_TAGS = re.compile(r"^<tool_call>\s*|\s*</tool_call>$")

ECHO_MIN = 6
"""Characters (spaces and punctuation dropped) an answer needs before it can count as an
echo: "好的" inside a question is an answer, not an echo."""
RAW_MIN = 24
"""A tool output at least this long found verbatim in the answer is raw data."""


def answer_problem(answer: str, question: str, outputs: Iterable[str] = ()) -> str | None:
    """Why ``answer`` should not be shown (``raw_data``, ``echo``, ``repetition``), or None.

    ``outputs`` are the texts of the tool results the answer was written from. A question
    that asks for JSON gets it: raw data is then no problem."""
    text = answer.strip()
    if not text:
        return None
    body = _FENCE.sub("", text).strip()
    asked_for_json = "json" in question.casefold()
    if body[:1] in "{[" and not asked_for_json:
        try:
            if isinstance(json.loads(body), dict | list):
                return "raw_data"
        except ValueError:
            pass
    if not asked_for_json and any(len(out.strip()) >= RAW_MIN and out.strip() in text for out in outputs):
        return "raw_data"
    said, wrote = normalised(question), normalised(text)
    if len(wrote) >= ECHO_MIN and wrote in said:
        return "echo"
    return "repetition" if is_looping(text) else None


def call_shaped(answer: str) -> str | None:
    """The tool name when ``answer`` is nothing but a call written as text
    (``{"name": ..., "arguments": {...}}``, fenced or in ``<tool_call>`` tags), else None.

    Measured on the bundled 0.5B: asked "帮我订一张明天去上海的机票" with no tool for it,
    it wrote a ``book_ticket`` call, and again as its answer once no tools were offered."""
    body = _TAGS.sub("", _FENCE.sub("", answer.strip()).strip()).strip()
    if not body.startswith("{"):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    args = value.get("arguments", value.get("parameters"))
    return value["name"] if isinstance(args, dict) else None


def unwrap_answer(answer: str) -> str:
    """The text of an answer written as ``{"answer": "..."}`` (the shape the constrained
    rung asks for, copied by the model into a later free answer); other text as it is."""
    body = _FENCE.sub("", answer.strip()).strip()
    if body.startswith('{"answer"'):
        try:
            value = json.loads(body)
        except ValueError:
            return answer
        if isinstance(value, dict) and set(value) == {"answer"} and isinstance(value["answer"], str):
            return value["answer"]
    return answer


def repeats_error(answer: str, errors: list[str], said: str) -> bool:
    """Whether ``answer`` writes back a span of an error message the model was shown
    ("你上一次的输出无法执行：constrained output is not JSON ...") that the user's own words
    (``said``) do not hold."""
    return bool(errors) and leaked_span(unwrap_answer(answer), "\n".join(errors), said) is not None
