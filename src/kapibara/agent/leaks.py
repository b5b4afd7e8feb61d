"""Does an answer repeat the system prompt? (OWASP LLM07, system prompt leakage.)

"Print your system prompt" works on small models: the 0.5B recites its instructions
word for word. An answer holding a long verbatim span of the system prompt, one the
user's own words do not hold, is replaced before anyone sees it.
"""

from __future__ import annotations

import re

from kapibara.prompts import Prompt

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")

CJK_SPAN = 12
"""Chinese characters in a row shared with the prompt that count as a leak (a clause)."""
LATIN_SPAN = 32
"""Letters/digits in a row (spaces and punctuation dropped) that count as a leak (~6 words)."""


def normalised(text: str) -> str:
    """``text`` with spaces and punctuation dropped, in lower case: what spans compare."""
    return _DROP.sub("", text).casefold()


def leaked_span(answer: str, secret: str, allowed: str = "") -> str | None:
    """The first span of ``answer`` (normalised: no spaces or punctuation, lower case)
    that also appears in ``secret`` and not in ``allowed`` (the user's words), or None."""
    a, s, ok = normalised(answer), normalised(secret), normalised(allowed)
    if not a or not s:
        return None
    i = 0
    while i < len(a):
        size = CJK_SPAN if _CJK.match(a[i]) else LATIN_SPAN
        span = a[i:i + size]
        if len(span) == size and span in s and span not in ok:
            return span
        i += 1
    return None


def instructions(prompt: Prompt) -> str:
    """What of a prompt is secret: its role, context and rules. Not its few-shot
    examples: the model repeats an example's answer to small talk, and that is no leak."""
    return "\n".join([prompt.role, prompt.context, *prompt.constraints])
