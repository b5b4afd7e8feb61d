"""Greedy decoding under a grammar without checking the whole vocabulary at every token.

llama.cpp's grammar sampler tests every candidate token against the grammar before the
greedy pick: ~152k tokens per step for Qwen2.5, most of a constrained step's time on a
small model. Under greedy decoding the answer is the most likely token the grammar
allows, so the most likely token is tried alone first and the whole vocabulary is
checked only when the grammar refuses it (llama.cpp's own ``common_sampler`` does the
same). When the grammar refuses it, the ``shortlist`` most likely tokens are checked in
one call, and the most likely allowed one among them is the greedy answer too; only when
none is allowed is the whole vocabulary checked.

``GreedyGrammarSampler`` stands in for ``llama_cpp``'s sampler object: ``Llama.sample``
only calls its ``sample(ctx, idx)``.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
"""``llama_token_data`` as numpy sees it."""


class GreedyGrammarSampler:
    """Greedy sampling under ``grammar`` (a ``llama_cpp.LlamaGrammar``) for ``model``
    (a ``llama_cpp._internals.LlamaModel``). ``steps`` counts tokens, ``refused`` the steps
    whose top token the grammar refused, ``fallbacks`` the full-vocabulary checks."""

    def __init__(self, llama_cpp: Any, model: Any, grammar: Any, shortlist: int = 256) -> None:
        self._lib = llama_cpp
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        if not self._grammar:
            raise ValueError("llama.cpp could not build the grammar")
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(model.vocab))
        self._one = llama_cpp.llama_token_data()
        self._one_array = llama_cpp.llama_token_data_array(
            data=ctypes.pointer(self._one), size=1, selected=-1, sorted=False)
        self.shortlist = max(1, min(shortlist, self.n_vocab))
        self._all: Any = None
        self._all_array: Any = None
        self._short = (llama_cpp.llama_token_data * self.shortlist)()
        self._short_array = llama_cpp.llama_token_data_array(
            data=self._short, size=self.shortlist, selected=-1, sorted=False)
        self.steps = 0
        self.refused = 0
        self.fallbacks = 0

    def _logits(self, ctx: Any, idx: int) -> np.ndarray:
        ptr = self._lib.llama_get_logits_ith(ctx.ctx, idx)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def allows(self, token: int, logit: float = 0.0) -> bool:
        """Whether the grammar, in its current state, admits ``token`` next."""
        self._one.id, self._one.logit, self._one.p = token, logit, 0.0
        self._one_array.size, self._one_array.selected, self._one_array.sorted = 1, -1, False
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(self._one_array))
        return bool(np.isfinite(self._one.logit))

    def sample(self, ctx: Any, idx: int = -1) -> int:
        logits = self._logits(ctx, idx)
        token = int(np.argmax(logits))
        self.steps += 1
        if not self.allows(token, float(logits[token])):
            self.refused += 1
            short = self._best_of_shortlist(logits)
            if short is None:
                self.fallbacks += 1
                token = self._full(logits)
            else:
                token = short
        self._lib.llama_sampler_accept(self._grammar, token)
        return token

    def accept_all(self, tokens: list[int]) -> bool:
        """Advance the grammar past ``tokens`` (text written for the model, not sampled).
        Each is checked before it is accepted (llama.cpp aborts on a refused token); False
        at the first refused one, with the grammar advanced past the ones before it."""
        return self.accept_prefix(tokens) == len(tokens)

    def accept_prefix(self, tokens: list[int]) -> int:
        """Advance the grammar past as many of ``tokens`` as it admits, in order; how many."""
        for n, token in enumerate(tokens):
            if not self.allows(token):
                return n
            self._lib.llama_sampler_accept(self._grammar, token)
        return len(tokens)

    def _apply(self, array: Any, data: Any, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """The grammar's verdict on ``ids``: their logits, -inf where refused."""
        view = np.ctypeslib.as_array(data).view(_TOKEN_DATA)[: len(ids)]
        view["id"], view["logit"], view["p"] = ids, logits, 0.0
        array.size, array.selected, array.sorted = len(ids), -1, False
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return np.asarray(view["logit"])

    def _best_of_shortlist(self, logits: np.ndarray) -> int | None:
        ids = np.argpartition(-logits, self.shortlist - 1)[: self.shortlist].astype(np.int32)
        checked = self._apply(self._short_array, self._short, ids, logits[ids])
        if not np.isfinite(checked).any():
            return None
        return int(ids[int(np.argmax(checked))])

    def _full(self, logits: np.ndarray) -> int:
        if self._all is None:
            self._all = (self._lib.llama_token_data * self.n_vocab)()
            self._all_array = self._lib.llama_token_data_array(
                data=self._all, size=self.n_vocab, selected=-1, sorted=False)
        checked = self._apply(self._all_array, self._all, np.arange(self.n_vocab, dtype=np.int32), logits)
        return int(np.argmax(checked))

    def close(self) -> None:
        if self._grammar:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None
