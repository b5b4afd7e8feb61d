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


_ACTS_ZH = ("处理|加入|添加|加到|放进|放入|下单|预订|预定|订|购买|买|办理|安排|设置|设定|删除|移除|取消|拨打|"
            "打电话|发送|支付|结账|查看|查询|查一下|查")
_CLAIM_ZH = re.compile(
    # "我帮你处理", "我会把 X 加入", "我已经设置了", "已为你加入"
    rf"(我(来|这就|马上|立刻|现在|会|将|已经|已)?|已经?|这就|马上)(帮你|为你|给你|替你)?(把.{{1,24}}?)?({_ACTS_ZH})"
    # "好的，删除农夫山泉。": an acknowledgement, then the act itself
    rf"|^(好的|好|行|没问题|嗯|OK|ok)[，,!！。\s]*(正在|马上|这就)?({_ACTS_ZH})")
_CLAIM_EN = re.compile(
    r"\b(I'll|I will|I've|I have|I'm going to|I am going to|Done|Added|Booked|Ordered)\b[^.?!]{0,40}?"
    r"\b(add|added|book|booked|order|ordered|set|place|placed|buy|bought|purchase|purchased|put|remove|removed|"
    r"cancel|cancelled|handle|check|look up|call)\b", re.IGNORECASE)
_ASKS = re.compile(r"[?？]|请告诉|请问|请提供|告诉我|tell me|let me know|which one", re.IGNORECASE)
CLAIM_MAX_CHARS = 60
"""A claim is the whole reply: a longer one is an answer that may mention an act in passing."""


def claims_action(answer: str) -> bool:
    """Whether a reply with no call says an action is done or under way ("好的，这个我帮你
    处理。", "I've added the rice to your cart"): short, no question to the user, and a
    promise or claim of an act rather than of what the agent can do ("我可以帮你推荐商品").

    Measured on the tuned 0.5B (domain test split): "那就买它吧，来一台" after a product
    answer got "好的，这个我帮你处理。" and nothing was bought; unsupported requests get
    "好的，我帮你设置一个明早7点的闹钟。" with no tool that sets alarms."""
    text = answer.strip()
    if not text or len(text) > CLAIM_MAX_CHARS * (3 if text.isascii() else 1) or _ASKS.search(text):
        return False
    if re.search(r"(不|没|无法|不能|帮不上|做不到|can't|cannot|can not|unable)", text, re.IGNORECASE):
        return False
    return bool(_CLAIM_ZH.search(text) or _CLAIM_EN.search(text))
