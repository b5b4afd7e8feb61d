"""One optimisation run end to end: split, optimise on train/validation, then the winner
against the starting program on the test split (accuracy, latency, paired test).

The test split is scored exactly twice (start and winner) after the strategy is done;
nothing is selected on it.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kapibara.errors import ConfigError
from kapibara.evals.cases import Case
from kapibara.evals.compare import mcnemar_p, wilson_ci
from kapibara.fileio import write_atomic
from kapibara.models.base import Model
from kapibara.optimize.apo import Apo
from kapibara.optimize.base import Log, Optimizer
from kapibara.optimize.fewshot import BadCaseFewShot
from kapibara.optimize.opro import Opro
from kapibara.optimize.program import Program
from kapibara.optimize.score import Scorer

STRATEGIES = ("fewshot", "opro", "apo")


@dataclass
class Report:
    strategy: str
    start: dict[str, Any]
    winner: dict[str, Any]
    p_value: float
    changed: bool
    log: list[dict[str, Any]]
    spent: int

    def markdown(self) -> str:
        s, w = self.start, self.winner
        lines = [
            f"# kapibara optimize --strategy {self.strategy}",
            "",
            "| program | test accuracy | 95% interval | decision p50 s | n |",
            "|---|---|---|---|---|",
            f"| start | {s['accuracy']:.1f}% | {s['ci'][0]:.1f}-{s['ci'][1]:.1f} | {s['p50_s']:.2f} | {s['n']} |",
            f"| winner | {w['accuracy']:.1f}% | {w['ci'][0]:.1f}-{w['ci'][1]:.1f} | {w['p50_s']:.2f} | {w['n']} |",
            "",
            f"Paired (McNemar) p = {self.p_value:.3g}; {'the winner differs from the start' if self.changed else 'the strategy kept the starting program'}; "
            f"{self.spent} case evaluations spent (train/validation, cached ones free).",
        ]
        return "\n".join(lines) + "\n"


def spread(cases: list[Case], n: int | None) -> list[Case]:
    """``n`` cases taken round-robin across categories, in file order (all when ``n`` is
    None): a small run sees every kind of case, not only the first category's."""
    if n is None or n >= len(cases):
        return list(cases)
    by_cat: dict[str, list[Case]] = {}
    for c in cases:
        by_cat.setdefault(c.category, []).append(c)
    queues = list(by_cat.values())
    out: list[Case] = []
    while len(out) < n:
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def split(cases: list[Case], val_fraction: float, seed: int) -> tuple[list[Case], list[Case]]:
    """Train and validation parts of the training cases (seeded, stratified by category)."""
    rng = random.Random(seed)
    by_cat: dict[str, list[Case]] = {}
    for c in cases:
        by_cat.setdefault(c.category, []).append(c)
    train, val = [], []
    for group in by_cat.values():
        group = rng.sample(group, len(group))
        k = max(1, round(len(group) * val_fraction)) if len(group) > 1 else 0
        val += group[:k]
        train += group[k:]
    return train, val


def make_optimizer(strategy: str, scorer: Scorer, teacher: Model | None, *, language: str, seed: int,
                   log: Log, embedder: Any = None) -> Optimizer:
    if strategy == "fewshot":
        return BadCaseFewShot(scorer, language=language, seed=seed, embedder=embedder, log=log)
    if teacher is None:
        raise ConfigError(f"--strategy {strategy} needs a teacher model", hint="--teacher qwen2.5-coder-1.5b")
    if strategy == "opro":
        return Opro(scorer, teacher, language=language, seed=seed, log=log)
    if strategy == "apo":
        return Apo(scorer, teacher, language=language, seed=seed, log=log)
    raise ConfigError(f"unknown strategy {strategy!r}", hint="use " + "|".join(STRATEGIES))


def summary(scorer: Scorer, program: Program, cases: list[Case]) -> tuple[dict[str, Any], list[bool]]:
    outcomes = scorer.outcomes(program, cases)
    right = [o.correct for o in outcomes]
    n = len(right)
    return {
        "accuracy": 100 * sum(right) / n if n else 0.0,
        "ci": wilson_ci(sum(right), n),
        "p50_s": statistics.median(o.decision_s for o in outcomes) if outcomes else 0.0,
        "n": n,
        "fingerprint": program.fingerprint(),
    }, right


def optimize(strategy: str, program: Program, train_cases: list[Case], test_cases: list[Case], model: Model, *,
             teacher: Model | None = None, out: str | Path, embedder: Any = None, budget: int | None = None,
             val_fraction: float = 0.3, seed: int = 0, language: str = "zh",
             echo: Callable[[str], None] | None = None, on_case: Callable[[], None] | None = None) -> Report:
    """Run ``strategy`` and write the winner (``out/program``) and the report (``out/report.{json,md}``).

    Resumable: scored cases are logged in ``out/scores.jsonl`` and not scored again.
    """
    if language not in program.prompts:
        raise ConfigError(f"the program has no {language!r} prompt", hint="--language zh|en")
    out_dir = Path(out)
    log = Log(echo=echo)
    scorer = Scorer(model, embedder=embedder, log=out_dir / "scores.jsonl", budget=budget, on_case=on_case)
    train, val = split(train_cases, val_fraction, seed)
    optimizer = make_optimizer(strategy, scorer, teacher, language=language, seed=seed, log=log, embedder=embedder)
    winner = optimizer.compile(program, train, val)
    spent = scorer.spent
    scorer.budget = None  # the final comparison always runs
    start_summary, start_right = summary(scorer, program, test_cases)
    winner_summary, winner_right = summary(scorer, winner, test_cases)
    b = sum(a and not w for a, w in zip(start_right, winner_right, strict=True))
    c = sum(w and not a for a, w in zip(start_right, winner_right, strict=True))
    report = Report(strategy, start_summary, winner_summary, mcnemar_p(b, c), winner is not program, log.rows, spent)
    winner.notes = {**winner.notes, "strategy": strategy, "seed": seed,
                    "test_accuracy": round(winner_summary["accuracy"], 2)}
    winner.save(out_dir / "program")
    write_atomic(out_dir / "report.json", json.dumps(report.__dict__, ensure_ascii=False, indent=1, default=str))
    write_atomic(out_dir / "report.md", report.markdown())
    return report
