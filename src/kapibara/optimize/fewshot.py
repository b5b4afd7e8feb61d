"""Bad-case few-shot: choose the prompt's examples (and their order) that fix the most
validation failures, greedily, with a size limit (BootstrapFewShot-style, from bad cases).

Candidates are training examples of the label each failed validation case needed, the
ones nearest to it first. Each round tries every candidate appended to the prompt's
examples on a minibatch (the failures plus as many passing cases, so a fix that breaks
others loses), keeps the best if it beats the current prompt there, and stops when none
does or the limit is reached.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kapibara.agent.examples import Example
from kapibara.evals.cases import Case
from kapibara.optimize.bank import example_from_case
from kapibara.optimize.base import Log
from kapibara.optimize.program import Program
from kapibara.optimize.score import BudgetSpent, Scorer
from kapibara.prompts.prompt import Example as PromptExample


@dataclass
class BadCaseFewShot:
    scorer: Scorer
    language: str = "zh"
    max_examples: int = 8
    candidates_per_round: int = 4
    seed: int = 0
    embedder: object = None
    log: Log = field(default_factory=Log)

    def compile(self, program: Program, trainset: list[Case], valset: list[Case]) -> Program:
        rng = random.Random(self.seed)
        best = program
        pool = [example_from_case(c) for c in trainset]
        try:
            base = self.scorer.outcomes(best, valset)
            self.log.add(strategy="fewshot", round=0, val_acc=_acc(base), examples=len(best.prompts[self.language].examples))
            for rnd in range(1, self.max_examples + 1):
                prompt = best.prompts[self.language]
                if len(prompt.examples) >= self.max_examples:
                    break
                outcomes = self.scorer.outcomes(best, valset)
                failed = [c for c, o in zip(valset, outcomes, strict=True) if not o.correct]
                if not failed:
                    break
                passing = [c for c, o in zip(valset, outcomes, strict=True) if o.correct]
                batch = failed + rng.sample(passing, min(len(passing), len(failed)))
                candidates = self._candidates(failed, pool, prompt.examples, rng)
                current = self.scorer.accuracy(best, batch)
                scored = []
                for ex in candidates:
                    shown = PromptExample(user=ex.question, calls=ex.calls, assistant=ex.answer or None) if (ex.calls or ex.answer) else None
                    if shown is None:
                        continue
                    trial = best.with_prompt(self.language, prompt.model_copy(update={"examples": [*prompt.examples, shown]}))
                    scored.append((self.scorer.accuracy(trial, batch), ex.question, trial))
                if not scored:
                    break
                acc, question, trial = max(scored, key=lambda t: t[0])
                self.log.add(strategy="fewshot", round=rnd, batch=len(batch), current=current, best=acc, added=question)
                if acc <= current:
                    break
                best = trial
        except BudgetSpent as exc:
            self.log.add(strategy="fewshot", stopped=str(exc))
        return best

    def _candidates(self, failed: list[Case], pool: list[Example], shown: list[PromptExample],
                    rng: random.Random) -> list[Example]:
        """Training examples with the label the failures needed, nearest first when an
        embedder is given, not already in the prompt."""
        have = {e.user for e in shown}
        out: list[Example] = []
        for case in rng.sample(failed, len(failed)):
            want = example_from_case(case).label
            same = [e for e in pool if e.label == want and e.question not in have and e not in out]
            if self.embedder is not None and same:
                from kapibara.agent.examples import ExampleBank

                hits = ExampleBank(same, embedder=self.embedder).similarities(case.messages)
                same = [e for e, _ in hits]
            if same:
                out.append(same[0])
            if len(out) >= self.candidates_per_round:
                break
        return out


def _acc(outcomes: list) -> float:
    return round(sum(o.correct for o in outcomes) / len(outcomes), 4) if outcomes else 0.0
