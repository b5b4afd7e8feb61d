"""BM25 (Okapi) with Chinese word segmentation (jieba) and English tokenisation.

The inverted index is built in memory from stored token lists (tokenising is the slow
part, so the knowledge base stores tokens once per chunk); scoring is vectorised per
query term with numpy.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from kapibara.errors import require

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_SPLIT = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")
# Function words that only add noise to lexical matching.
STOPWORDS = frozenset(
    ["a", "an", "the", "of", "to", "in", "on", "at", "for", "and", "or", "is", "are", "was", "were", "be", "been", "by", "with", "as", "that", "this", "it", "its", "from", "what", "which", "who", "whom", "how", "why", "when", "where", "do", "does", "did", "not", "no", "can", "could", "will", "would", "should"]
    + list("的了是在和与或及其之也就都而被把这那个")
    + ["什么", "哪些", "哪个", "怎么", "如何", "多少", "为什么", "吗", "呢", "吧"]
)
_jieba: Any = None


def _seg(text: str) -> list[str]:
    global _jieba
    if _jieba is None:
        _jieba = require("jieba", "jieba", "rag")
        _jieba.setLogLevel(60)  # jieba prints its dictionary-loading chatter otherwise
    return list(_jieba.cut_for_search(text))


def _stem(w: str) -> str:
    # A light suffix stripper: enough for plural/verb forms to meet without a stemmer dep.
    for suf in ("ing", "ies", "es", "ed", "s"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def tokenize(text: str) -> list[str]:
    """Lower-cased terms: jieba words for Chinese runs, stemmed words for Latin text."""
    out: list[str] = []
    for part in _SPLIT.split(text.lower()):
        if not part:
            continue
        if _CJK.fullmatch(part):
            out.extend(w for w in _seg(part) if w.strip() and w not in STOPWORDS)
        else:
            out.extend(_stem(w) for w in _WORD.findall(part) if w not in STOPWORDS)
    return out


class BM25:
    """Okapi BM25 over token lists; ``k1``/``b`` are the usual defaults."""

    def __init__(self, docs: list[list[str]], ids: list[str], *, k1: float = 1.5, b: float = 0.75) -> None:
        self.ids = list(ids)
        self.k1, self.b = k1, b
        n = len(docs)
        lens = np.array([len(d) for d in docs], dtype=np.float32)
        avg = float(lens.mean()) if n else 1.0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, d in enumerate(docs):
            for term, tf in Counter(d).items():
                p = postings.setdefault(term, ([], []))
                p[0].append(i)
                p[1].append(tf)
        norm = k1 * (1 - b + b * lens / max(avg, 1e-9))
        self._terms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (di, tfs) in postings.items():
            idx = np.array(di, dtype=np.int32)
            tfa = np.array(tfs, dtype=np.float32)
            idf = np.log(1 + (n - len(di) + 0.5) / (len(di) + 0.5))
            # Precompute each posting's full term weight: query time is then a scatter-add.
            self._terms[term] = (idx, idf * tfa * (k1 + 1) / (tfa + norm[idx]))
        self.n = n

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every document for the query."""
        s = np.zeros(self.n, dtype=np.float32)
        for term in set(query_tokens):
            if term in self._terms:
                idx, w = self._terms[term]
                s[idx] += w
        return s

    def search(self, query: str | list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Top-``k`` ``(id, score)`` with score > 0; ``allowed`` is a boolean mask filter."""
        toks = tokenize(query) if isinstance(query, str) else query
        s = self.scores(toks)
        if allowed is not None:
            s = np.where(allowed, s, 0.0)
        nz = int((s > 0).sum())
        k = min(k, nz)
        if k <= 0:
            return []
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top])]
        return [(self.ids[i], float(s[i])) for i in top]
