"""The prompt of the answer from observations, in one of two layouts.

``plain`` (as first shipped): a system message with the role, then one user message with
the question, the tool results as JSON and the answering instructions. Every token of it
is prefilled on every turn: on the bundled 0.5B (2 CPU cores, ~43 tokens/s prefill) the
headphones demo question's 308-token prompt cost ~7.5 s before the first answer token.

``cached``: the instructions move into the system message, which is the same on every
turn of a language, so its prefilled state is saved on disk once (``CachesPrefix``) and
only the results and the question are prefilled; the results are written one line per
item (``compact``), which is shorter than JSON and keeps each product's figures on its
own line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from kapibara.models.base import Message
from kapibara.prompts.loader import render_template
from kapibara.tools import ToolResult

AnswerLayout = Literal["cached", "plain"]
LAYOUTS: tuple[AnswerLayout, ...] = ("cached", "plain")


def observations(results: Sequence[ToolResult], layout: AnswerLayout = "plain", language: str = "zh",
                 marked: bool = False) -> str:
    """The tool results as the answer prompt shows them: ``[tool] output`` per call, or
    with ``marked`` each in a ``<data>`` block (``data_block``)."""
    if marked:
        return "\n".join(render_template("data_block", language, source=r.call.name, content=_result_text(r, layout))
                         for r in results)
    return "\n".join(f"[{r.call.name}] {_result_text(r, layout)}" for r in results)


def _result_text(result: ToolResult, layout: AnswerLayout) -> str:
    """The output as the model saw it, or in the ``cached`` layout its ``compact`` form.

    Compacted from the output text, not the raw value, so whatever shaped the output (a
    length cap, redaction) holds here too; text that is not whole JSON stays as it is.
    """
    if layout == "plain" or result.error is not None:
        return result.output
    try:
        value = json.loads(result.output)
    except ValueError:
        return result.output
    return compact(value) if isinstance(value, dict | list) else result.output


def compact(value: dict[str, Any] | list[Any]) -> str:
    """A JSON result as short lines: top-level fields as ``key: value; ...``, a list of
    records one numbered line each. Nothing is left out."""
    if isinstance(value, list):
        return _records(value) if _is_records(value) else _flat(value)
    head: list[str] = []
    lines: list[str] = []
    for key, item in value.items():
        if _is_records(item):
            lines += [f"{key}:", _records(item)]
        else:
            head.append(f"{key}: {_flat(item)}")
    return "\n".join(["; ".join(head), *lines] if head else lines)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(x, dict) for x in value)


def _records(records: list[dict[str, Any]]) -> str:
    return "\n".join(f"{n}. " + "; ".join(f"{k}: {_flat(v)}" for k, v in record.items())
                     for n, record in enumerate(records, 1))


def _flat(value: Any) -> str:
    if isinstance(value, list) and not any(isinstance(x, dict | list) for x in value):
        return ", ".join(str(x) for x in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def answer_messages(layout: AnswerLayout, role: str, language: str, question: str,
                    results: Sequence[ToolResult], marked: bool = False) -> list[Message]:
    """The answer prompt's messages (``marked``: the results as ``<data>`` blocks). In the
    ``cached`` layout the first message is the same for every question of ``language``
    and ``role``: the prefix to save."""
    text = observations(results, layout, language, marked) or "-"
    if layout == "plain":
        return [{"role": "system", "content": role},
                {"role": "user", "content": render_template(
                    "answer_from_observations", language, question=question, observations=text, marked=marked)}]
    system = role + "\n\n" + render_template("answer_instructions", language, marked=marked)
    return [{"role": "system", "content": system},
            {"role": "user", "content": render_template(
                "answer_results", language, question=question, observations=text)}]
