"""Reciprocal-rank fusion (Cormack et al. 2009): merge rankings without comparing scores."""

from __future__ import annotations


def rrf(rankings: list[list[str]], *, k: int = 60, weights: list[float] | None = None) -> list[tuple[str, float]]:
    """Fuse ranked id lists: ``score(d) = sum_i w_i / (k + rank_i(d))``, best first.

    ``k=60`` is the paper's constant; it damps the influence of the very top ranks so
    one retriever cannot dominate.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for w, ranking in zip(weights, rankings, strict=True):
        for rank, doc in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
