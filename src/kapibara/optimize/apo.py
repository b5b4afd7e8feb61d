"""APO / ProTeGi (Pryzant et al., "Automatic Prompt Optimization with 'Gradient Descent'
and Beam Search", 2023): a teacher writes a textual gradient from failed cases, edits the
prompt along it, and a beam of candidates is kept with UCB bandit selection over
minibatches.

Each iteration: for each prompt in the beam, a few of its validation failures give a
gradient ("the instruction never says ..."), and ``edits`` edited prompts join the pool.
Then ``pulls`` bandit rounds choose a candidate by UCB (mean minibatch accuracy + c ·
sqrt(ln t / n)), score it on a fresh minibatch and update its mean; the ``beam`` best by
mean survive. The best is checked on the whole validation set before it is kept.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from kapibara.evals.cases import Case
from kapibara.models.base import Model
from kapibara.optimize.base import (
    Log,
    ask_teacher,
    expected_text,
    got_text,
    instruction_of,
    question_of,
    with_instruction,
)
from kapibara.optimize.opro import _keep_if_better
from kapibara.optimize.program import Program
from kapibara.optimize.score import BudgetSpent, Scorer, minibatch
from kapibara.prompts import render_template


@dataclass
class _Arm:
    program: Program
    n: int = 0
    total: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0


def ucb(arm: _Arm, t: int, c: float) -> float:
    """Upper confidence bound: unexplored arms first, then mean + exploration bonus."""
    return math.inf if arm.n == 0 else arm.mean + c * math.sqrt(math.log(max(t, 2)) / arm.n)


@dataclass
class Apo:
    scorer: Scorer
    teacher: Model
    language: str = "zh"
    iterations: int = 2
    beam: int = 2
    edits: int = 2
    pulls: int = 6
    batch: int = 12
    explore: float = 1.0
    seed: int = 0
    log: Log = field(default_factory=Log)

    def compile(self, program: Program, trainset: list[Case], valset: list[Case]) -> Program:
        rng = random.Random(self.seed)
        arms = [_Arm(program)]
        t = 0
        try:
            for it in range(1, self.iterations + 1):
                for arm in list(arms[: self.beam]):
                    arms += self._expand(arm.program, valset, rng, it)
                for _ in range(self.pulls):
                    t += 1
                    arm = max(arms, key=lambda a: ucb(a, t, self.explore))
                    acc = self.scorer.accuracy(arm.program, minibatch(valset, self.batch, rng))
                    arm.n, arm.total = arm.n + 1, arm.total + acc
                    self.log.add(strategy="apo", iteration=it, pull=t, arm=arm.program.fingerprint(), batch_acc=acc,
                                 mean=round(arm.mean, 4))
                arms = sorted(arms, key=lambda a: a.mean, reverse=True)[: self.beam]
        except BudgetSpent as exc:
            self.log.add(strategy="apo", stopped=str(exc))
        best = max(arms, key=lambda a: a.mean).program
        return _keep_if_better(self.scorer, program, best, valset, self.log, "apo")

    def _expand(self, program: Program, valset: list[Case], rng: random.Random, it: int) -> list[_Arm]:
        """Edited children of ``program`` along a gradient from its failures."""
        batch = minibatch(valset, self.batch, rng)
        outcomes = self.scorer.outcomes(program, batch)
        failures = [{"question": question_of(c), "expected": expected_text(c), "got": got_text(o)}
                    for c, o in zip(batch, outcomes, strict=True) if not o.correct][:4]
        if not failures:
            return []
        prompt = program.prompts[self.language]
        text = instruction_of(prompt)
        gradient = ask_teacher(self.teacher, render_template("apo_gradient", self.language, prompt=text,
                                                             failures=failures), seed=self.seed * 1000 + it)
        children = []
        for k in range(self.edits):
            edited = ask_teacher(self.teacher, render_template("apo_edit", self.language, prompt=text, gradient=gradient),
                                 seed=self.seed * 1000 + it * 10 + k + 1)
            if edited and edited != text:
                children.append(_Arm(program.with_prompt(self.language, with_instruction(prompt, edited))))
        self.log.add(strategy="apo", iteration=it, gradient=gradient[:200], children=len(children))
        return children
