"""The one optimiser contract, and what the strategies share.

    class Optimizer(Protocol):
        def compile(self, program, trainset, valset) -> Program

(the shape of DSPy's teleprompters). A strategy never sees the test split: the command
scores the winner against the starting program on it, once, at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kapibara.evals.cases import Case
from kapibara.models.base import Model, Sampling
from kapibara.optimize.program import Program
from kapibara.optimize.score import Outcome
from kapibara.prompts import Prompt


class Optimizer(Protocol):
    """Turns a program into a better one, judged on ``valset`` (learning from ``trainset``)."""

    def compile(self, program: Program, trainset: list[Case], valset: list[Case]) -> Program: ...


@dataclass
class Log:
    """Per-iteration records of a run (what was tried, its score); also told to ``echo``."""

    echo: Callable[[str], None] | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, **row: Any) -> None:
        self.rows.append(row)
        if self.echo:
            self.echo(json.dumps(row, ensure_ascii=False))


def instruction_of(prompt: Prompt) -> str:
    """The part of a prompt the instruction optimisers rewrite: role and requirements."""
    lines = [prompt.role, *(f"- {c}" for c in prompt.constraints)]
    return "\n".join(lines)


def with_instruction(prompt: Prompt, text: str) -> Prompt:
    """``prompt`` with its role/requirements replaced by ``text`` (examples kept)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    role = lines[0] if lines else prompt.role
    constraints = [re.sub(r"^[-*•\d.、)\s]+", "", line) for line in lines[1:]]
    return prompt.model_copy(update={"role": role, "constraints": [c for c in constraints if c]})


def expected_text(case: Case) -> str:
    """What the right action is, in words the teacher reads."""
    if case.meta.get("kind") == "text":
        return str((case.answer or {}).get("target", ""))
    if not case.expected:
        return "直接回答，不调用工具 / answer directly, no tool"
    calls = []
    for item in case.expected[0]:
        ((name, params),) = item.items()
        args = {k: v[0] for k, v in params.items() if v and v[0] not in ("", None)}
        calls.append(f"{name}({json.dumps(args, ensure_ascii=False)})")
    return "; ".join(calls)


def got_text(outcome: Outcome) -> str:
    if outcome.calls:
        return "; ".join(f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})" for c in outcome.calls)
    return f"answered: {outcome.text[:120]}"


def question_of(case: Case) -> str:
    users = [str(m.get("content") or "") for m in case.messages if m.get("role") == "user"]
    return users[-1] if users else ""


def ask_teacher(teacher: Model, text: str, seed: int, temperature: float = 0.7, max_tokens: int = 320) -> str:
    """One teacher completion (sampled, seeded: the run is reproducible)."""
    done = teacher.chat([{"role": "user", "content": text}], max_tokens=max_tokens,
                        sampling=Sampling(temperature=temperature, top_p=0.95, seed=seed))
    return str(done.content or done.text).strip().strip("`").strip()
