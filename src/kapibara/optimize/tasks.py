"""Prompt tasks that are not tool use: LIAR and BIG-Bench Hard, as the prompt-optimisation
papers measure them (APO/ProTeGi on LIAR, OPRO on BBH).

A text case (``case.meta["kind"] == "text"``, from ``kapibara.evals.adapters``) is one user
message and a label. The program's prompt is the system message (the part the optimisers
rewrite); the output format is fixed in the user turn ("Answer with one of: Yes, No."), so
a rewritten instruction cannot break the parsing. The first allowed label in the reply is
the answer; exact (case-insensitive) match with the target is right.

    kapibara optimize --strategy apo --train liar:train --test liar:test --teacher qwen2.5-coder-1.5b
"""

from __future__ import annotations

import re
import time

from kapibara.evals.cases import Case
from kapibara.models.base import Model, Sampling
from kapibara.optimize.program import Program
from kapibara.prompts import Prompt, render_template

MAX_TOKENS = 24  # a label, and room for a short preamble the instruction may ask for


def is_text_case(case: Case) -> bool:
    return case.meta.get("kind") == "text"


def start_program(task: str) -> Program:
    """The program an optimisation of ``task`` starts from (one English prompt)."""
    role = render_template("text_task_start", "en", task=task)
    return Program({"en": Prompt(role=role, language="en")}, [], {"task": task})


def user_turn(case: Case) -> str:
    labels = ", ".join(case.meta.get("labels") or [])
    text = str(case.messages[-1].get("content") or "")
    return render_template("text_task_question", "en", text=text, labels=labels) if labels else text


def label_of(reply: str, labels: list[str]) -> str | None:
    """The first allowed label in ``reply`` as a whole word (case-insensitive), else None."""
    best: tuple[int, str] | None = None
    for label in labels:
        m = re.search(rf"(?<![A-Za-z]){re.escape(label)}(?![A-Za-z])", reply, flags=re.IGNORECASE)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), label)
    return best[1] if best else None


def run_text_case(case: Case, model: Model, prompt: Prompt) -> tuple[bool, str | None, str, float]:
    """Right or not, the rule when not ("wrong_label" / "no_label"), the reply, seconds."""
    messages = prompt.render([{"role": "user", "content": user_turn(case)}])
    start = time.perf_counter()
    done = model.chat(messages, max_tokens=MAX_TOKENS, sampling=Sampling())
    seconds = time.perf_counter() - start
    reply = str(done.content or done.text or "")
    got = label_of(reply, list(case.meta.get("labels") or []))
    target = str((case.answer or {}).get("target", ""))
    if got is None:
        return False, "no_label", reply, seconds
    right = got.lower() == target.lower()
    return right, None if right else "wrong_label", reply, seconds
