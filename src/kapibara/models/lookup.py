"""Prompt-lookup drafting: the tokens a greedy decoder is likely to write next, copied from
its own context.

A tool call copies its values from the user's turn ("Wuchang rice", "牛奶"), and a reply
often repeats text the system prompt already holds (a tuned model's refusal is half
written there). When the last few tokens of the sequence occurred before, the tokens that
followed them then are a guess at what follows now. The decoder evaluates the guess in
one batch with the next token and keeps the longest run of it that matches its own greedy
picks (``LlamaCppModel._greedy``), so the output is what decoding token by token gives;
only the number of ``llama_decode`` calls changes.

One decode of k tokens costs far less than k decodes on a small model
(``bench/decode_costs.py``: 8 tokens cost 3.3 single steps on the tuned 0.5B), so a guess
pays once about a third of it is right. An n-gram of one token matches almost anywhere and
is seldom right, so the shortest n-gram looked up is two tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NGRAMS = (3,)
"""The n-gram sizes looked up, longest first: the first that occurred before wins."""


def lookup_draft(seq: Sequence[int], max_tokens: int, ngrams: Sequence[int] = NGRAMS) -> list[int]:
    """Up to ``max_tokens`` tokens that followed the most recent earlier occurrence of
    ``seq``'s last n tokens (the longest n of ``ngrams`` that occurred before); [] when none
    did or ``max_tokens`` < 1.

    The occurrence must end before the sequence's own last token, so the draft is tokens
    the sequence already holds, never the n-gram itself."""
    if max_tokens < 1:
        return []
    arr = np.asarray(seq, dtype=np.int64)
    size = len(arr)
    for n in ngrams:
        if n < 1 or size <= n:
            continue
        tail = arr[size - n:]
        # candidates: where the n-gram's first token occurs, with the whole n-gram ending
        # before the sequence's last token (so at least one token follows it)
        starts = np.flatnonzero(arr[: size - n] == tail[0])
        for start in starts[::-1]:
            start = int(start)
            if np.array_equal(arr[start:start + n], tail):
                follow = arr[start + n:start + n + max_tokens]
                return [int(t) for t in follow]
    return []
