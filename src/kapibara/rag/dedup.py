"""Near-duplicate removal with MinHash over character n-grams (works for Chinese too).

Signatures are compared through LSH banding, so the cost stays near-linear in the number
of chunks; candidate pairs are confirmed by their estimated Jaccard similarity.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

_PRIME = (1 << 61) - 1
_MAX = (1 << 32) - 1


class MinHasher:
    """MinHash signatures of ``num_perm`` permutations over character ``ngram``-shingles."""

    def __init__(self, num_perm: int = 64, ngram: int = 3, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.ngram = ngram
        self.a = rng.integers(1, _PRIME, num_perm, dtype=np.uint64)
        self.b = rng.integers(0, _PRIME, num_perm, dtype=np.uint64)

    def signature(self, text: str) -> np.ndarray:
        """The MinHash signature (uint64 array of length ``num_perm``)."""
        # Punctuation and spacing around CJK vary between copies of the same text; drop them.
        norm = re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text.lower())).strip()
        norm = re.sub(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])", "", norm)
        n = self.ngram
        grams = {norm[i : i + n] for i in range(max(1, len(norm) - n + 1))}
        hv = np.array(
            [int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") for g in grams],
            dtype=np.uint64,
        )
        # (a*h + b) mod p, kept in 32 bits; uint64 wrap-around is fine for hashing purposes.
        ph = (np.outer(hv, self.a) + self.b) % np.uint64(_PRIME) & np.uint64(_MAX)
        return ph.min(axis=0)


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(sig_a == sig_b))


def near_duplicates(texts: list[str], *, threshold: float = 0.85, hasher: MinHasher | None = None) -> list[int]:
    """Indices of texts that near-duplicate an *earlier* text (Jaccard >= threshold)."""
    h = hasher or MinHasher()
    sigs = [h.signature(t) for t in texts]
    bands = 16
    rows = h.num_perm // bands
    buckets: dict[tuple[int, bytes], list[int]] = {}
    dups: list[int] = []
    for i, sig in enumerate(sigs):
        cands: set[int] = set()
        keys = [(b, sig[b * rows : (b + 1) * rows].tobytes()) for b in range(bands)]
        for key in keys:
            cands.update(buckets.get(key, ()))
        if any(jaccard(sig, sigs[j]) >= threshold for j in cands):
            dups.append(i)
            continue
        for key in keys:
            buckets.setdefault(key, []).append(i)
    return dups
