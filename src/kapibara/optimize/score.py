"""Score a program on cases with the eval runner, once per (program, case): resumable.

Every strategy asks the same ``Scorer``; a result is cached by the program's fingerprint
and the case id, in memory and in a JSONL log, so an interrupted run resumes where it
stopped and no candidate is scored twice on the same case. ``budget`` caps the case
evaluations a run may make (each is one agent decision on the executor model).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kapibara.errors import KapibaraError
from kapibara.evals.cases import Case
from kapibara.evals.runner import run_case
from kapibara.models.base import Model
from kapibara.optimize.program import Program
from kapibara.optimize.tasks import is_text_case, run_text_case


class BudgetSpent(KapibaraError):
    """The run's evaluation budget is spent; strategies stop and keep their best so far."""


@dataclass
class Outcome:
    """One case under one program: right or not, and why not."""

    case_id: str
    correct: bool
    rule: str | None
    calls: list[dict[str, Any]]
    text: str
    decision_s: float


class Scorer:
    """Scores programs on cases with ``model`` (the executor)."""

    def __init__(self, model: Model, *, embedder: Any = None, log: str | Path | None = None,
                 budget: int | None = None, on_case: Callable[[], None] | None = None) -> None:
        self.model, self.embedder, self.budget, self.on_case = model, embedder, budget, on_case
        self.log = Path(log) if log else None
        self.spent = 0
        self.cache: dict[tuple[str, str], Outcome] = {}
        if self.log and self.log.is_file():
            for line in self.log.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    key = (row.pop("program"), row["case_id"])
                    self.cache[key] = Outcome(**row)

    def outcomes(self, program: Program, cases: Sequence[Case]) -> list[Outcome]:
        """Each case's outcome under ``program`` (cached ones are free)."""
        fp = program.fingerprint()
        options: dict[str, Any] | None = None
        out: list[Outcome] = []
        for case in cases:
            key = (fp, case.id)
            if key not in self.cache:
                if self.budget is not None and self.spent >= self.budget:
                    raise BudgetSpent(f"evaluation budget of {self.budget} cases spent")
                if is_text_case(case):
                    self.cache[key] = self._run_text(case, program)
                else:
                    options = options if options is not None else program.agent_options(self.embedder)
                    self.cache[key] = self._run(case, options)
                self.spent += 1
                if self.log:
                    self.log.parent.mkdir(parents=True, exist_ok=True)
                    with self.log.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"program": fp, **self.cache[key].__dict__}, ensure_ascii=False) + "\n")
                if self.on_case:
                    self.on_case()
            out.append(self.cache[key])
        return out

    def accuracy(self, program: Program, cases: Sequence[Case]) -> float:
        outcomes = self.outcomes(program, cases)
        return sum(o.correct for o in outcomes) / len(outcomes) if outcomes else 0.0

    def _run(self, case: Case, options: dict[str, Any]) -> Outcome:
        from kapibara.agent import Agent

        def factory(model: Model, toolset: Any, config: str, prompt: Any = None, **_registered: Any) -> Any:
            return Agent(model, toolset, **options)  # the program's settings, not the registered defaults

        r = run_case(case, self.model, "native", agent_factory=factory)
        return Outcome(case.id, r.correct, r.rule, r.calls, r.text[:300], round(r.decision_s, 3))

    def _run_text(self, case: Case, program: Program) -> Outcome:
        """A LIAR/BBH case: one completion under the program's prompt (``optimize.tasks``)."""
        right, rule, reply, seconds = run_text_case(case, self.model, _text_prompt(program))
        return Outcome(case.id, right, rule, [], reply[:300], round(seconds, 3))


def _text_prompt(program: Program) -> Any:
    return program.prompts.get("en") or next(iter(program.prompts.values()))


def minibatch(cases: Sequence[Case], size: int, rng: random.Random) -> list[Case]:
    """A random minibatch (all cases when there are fewer)."""
    return list(cases) if len(cases) <= size else rng.sample(list(cases), size)
