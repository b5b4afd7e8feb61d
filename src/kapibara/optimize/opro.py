"""OPRO (Yang et al., "Large Language Models as Optimizers", 2023): a meta-prompt holding
earlier instructions with their scores, worst first, asks a teacher for a better one.

Each iteration the teacher writes ``candidates`` instructions; each is scored on a
minibatch of the validation set and joins the history; the best instruction by its
minibatch score is scored on the whole validation set at the end and kept only if it
beats the starting prompt there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kapibara.evals.cases import Case
from kapibara.models.base import Model
from kapibara.optimize.base import (
    Log,
    ask_teacher,
    expected_text,
    instruction_of,
    question_of,
    with_instruction,
)
from kapibara.optimize.program import Program
from kapibara.optimize.score import BudgetSpent, Scorer, minibatch
from kapibara.prompts import render_template


@dataclass
class Opro:
    scorer: Scorer
    teacher: Model
    language: str = "zh"
    iterations: int = 3
    candidates: int = 2
    batch: int = 16
    seed: int = 0
    log: Log = field(default_factory=Log)

    def compile(self, program: Program, trainset: list[Case], valset: list[Case]) -> Program:
        rng = random.Random(self.seed)
        prompt = program.prompts[self.language]
        batch = minibatch(valset, self.batch, rng)
        history: list[tuple[str, float, Program]] = []
        try:
            history.append((instruction_of(prompt), self.scorer.accuracy(program, batch), program))
            shown = [{"question": question_of(c), "answer": expected_text(c)} for c in rng.sample(trainset, min(4, len(trainset)))]
            for it in range(1, self.iterations + 1):
                ordered = sorted(history, key=lambda h: h[1])[-8:]
                meta = render_template("opro_meta", self.language,
                                       history=[{"text": t, "score": round(s, 3)} for t, s, _ in ordered],
                                       examples=shown)
                for k in range(self.candidates):
                    text = ask_teacher(self.teacher, meta, seed=self.seed * 1000 + it * 10 + k)
                    if not text or any(text == t for t, _, _ in history):
                        continue
                    candidate = program.with_prompt(self.language, with_instruction(prompt, text))
                    score = self.scorer.accuracy(candidate, batch)
                    history.append((text, score, candidate))
                    self.log.add(strategy="opro", iteration=it, candidate=k, batch_acc=score, instruction=text[:200])
        except BudgetSpent as exc:
            self.log.add(strategy="opro", stopped=str(exc))
        return _keep_if_better(self.scorer, program, max(history, key=lambda h: h[1])[2] if history else program,
                               valset, self.log, "opro")


def _keep_if_better(scorer: Scorer, start: Program, best: Program, valset: list[Case], log: Log, name: str) -> Program:
    """The winner on the whole validation set (never the test split)."""
    if best is start:
        return start
    try:
        before, after = scorer.accuracy(start, valset), scorer.accuracy(best, valset)
    except BudgetSpent as exc:
        log.add(strategy=name, stopped=str(exc), kept="start")
        return start
    log.add(strategy=name, val_start=round(before, 4), val_best=round(after, 4))
    return best if after > before else start
