"""Paired comparison of two eval runs over the same cases.

Per category: accuracy of A and B on the cases both ran, the difference B - A, McNemar's
test on the discordant pairs (exact two-sided binomial when there are fewer than 25, the
continuity-corrected chi-square otherwise) and a paired bootstrap 95% interval of the
difference. With a few hundred cases a 3-point change is often noise; the verdict says so.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from kapibara.errors import DataError
from kapibara.evals.results import EvalRun

ALPHA = 0.05
EXACT_BELOW = 25


def mcnemar_p(b: int, c: int) -> float:
    """Two-sided p-value of McNemar's test for discordant counts ``b`` (A right, B wrong) and ``c``."""
    n = b + c
    if n == 0:
        return 1.0
    if n < EXACT_BELOW:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
        return min(1.0, 2 * tail)
    stat = (abs(b - c) - 1) ** 2 / n
    return math.erfc(math.sqrt(stat / 2))  # chi-square, 1 degree of freedom


def wilson_ci(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson 95% interval of an accuracy, in percent (sound at small n and near 0 or 100)."""
    if n == 0:
        return 0.0, 100.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(100 * max(0.0, centre - half), 1), round(100 * min(1.0, centre + half), 1)


def bootstrap_ci(
    a: list[bool], b: list[bool], *, iters: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Paired bootstrap interval of accuracy(b) - accuracy(a), in percentage points."""
    n = len(a)
    if n == 0:
        return (0.0, 0.0)
    rng = random.Random(seed)
    diffs = [int(y) - int(x) for x, y in zip(a, b, strict=True)]
    stats = sorted(100 * sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(iters))
    lo = stats[int((1 - level) / 2 * iters)]
    hi = stats[min(iters - 1, int((1 + level) / 2 * iters))]
    return (round(lo, 1), round(hi, 1))


@dataclass
class CategoryDiff:
    category: str
    n: int
    acc_a: float
    acc_b: float
    diff: float
    b_only_a: int  # A right, B wrong
    c_only_b: int  # A wrong, B right
    p_value: float
    ci: tuple[float, float]

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def compare_runs(a: EvalRun, b: EvalRun) -> list[CategoryDiff]:
    """Per-category paired differences on the case ids both runs share (plus ``all``)."""
    ra = {r.id: r for r in a.results}
    rb = {r.id: r for r in b.results}
    shared = [i for i in ra if i in rb]
    if not shared:
        raise DataError("the two runs share no case ids", hint="compare runs of the same dataset")
    cats: dict[str, list[str]] = {}
    for i in shared:
        cats.setdefault(ra[i].category, []).append(i)
    groups = sorted(cats.items())
    if len(cats) > 1:
        groups.append(("all", shared))
    out = []
    for cat, ids in groups:
        xa = [ra[i].correct for i in ids]
        xb = [rb[i].correct for i in ids]
        bb = sum(x and not y for x, y in zip(xa, xb, strict=True))
        cc = sum(y and not x for x, y in zip(xa, xb, strict=True))
        acc_a = 100 * sum(xa) / len(ids)
        acc_b = 100 * sum(xb) / len(ids)
        out.append(
            CategoryDiff(
                category=cat,
                n=len(ids),
                acc_a=round(acc_a, 1),
                acc_b=round(acc_b, 1),
                diff=round(acc_b - acc_a, 1),
                b_only_a=bb,
                c_only_b=cc,
                p_value=round(mcnemar_p(bb, cc), 4),
                ci=bootstrap_ci(xa, xb),
            )
        )
    return out


def compare_files(path_a: str | Path, path_b: str | Path) -> tuple[EvalRun, EvalRun, list[CategoryDiff]]:
    """Load two saved runs and compare them."""
    a, b = EvalRun.load(path_a), EvalRun.load(path_b)
    return a, b, compare_runs(a, b)


def verdict(d: CategoryDiff) -> str:
    """Words for a difference: significant or not, and in which direction."""
    if not d.significant:
        return f"not significant (p={d.p_value:.3f}); the difference may be noise"
    return f"{'B better' if d.diff > 0 else 'A better'} (p={d.p_value:.3f})"


def markdown(a: EvalRun, b: EvalRun, diffs: list[CategoryDiff]) -> str:
    """The comparison as a Markdown table with a verdict per category."""
    lines = [
        f"A = {a.model} / {a.config} ({a.dataset}); B = {b.model} / {b.config} ({b.dataset})",
        "",
        "| category | n | A % | B % | B-A | A-only right | B-only right | McNemar p | 95% CI (bootstrap) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in diffs:
        lines.append(
            f"| {d.category} | {d.n} | {d.acc_a} | {d.acc_b} | {d.diff:+.1f} | {d.b_only_a} | {d.c_only_b} "
            f"| {d.p_value:.3f} | [{d.ci[0]:+.1f}, {d.ci[1]:+.1f}] | {verdict(d)} |"
        )
    return "\n".join(lines) + "\n"
