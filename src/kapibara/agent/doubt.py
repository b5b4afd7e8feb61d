"""Whether a call the model wrote as free text is one it should not have made (rung ``doubt``).

A 0.5B asked something its tools cannot do (BFCL irrelevance: the area of a triangle,
with only a body-mass-index tool) often writes a fenced JSON "call" anyway. Two signals
tell such a call from one that fits, and neither alone is enough:

- the model's own doubt: the probability its first token gave to opening a call
  (``Completion.call_probability``) is lower;
- the question is far from what the called tool does: the cosine similarity of the
  question and the tool's ``name: description`` (the bundled multilingual USE embedder).

Measured on BFCL cases the peers benchmark does not score (irrelevance and multiple
30-110, the 0.5B's greedy calls, tools shown as JSON): a call probability under 0.8 *and*
a similarity under 0.3 held 10 of 37 irrelevant calls and none of 80 fitting ones. Under
the tool signatures the probability bar is 0.85 (``DOUBT_AT``).

A call far enough from the question is doubted whatever the model's probability
(``FAR_FLOOR``): on BFCL irrelevance cases 100-159 and multiple 108-159 (neither scored
by the peers benchmark) the 0.5B gave 11 irrelevant calls a probability of 0.38-0.97,
three of them to tools under 0.2 similar to the question, while none of its 48 calls on
``multiple`` went to a tool under 0.23.

The other way round, a call that fails validation twice goes to the ladder's last rung,
which answers instead (a call that cannot be filled in is often a tool that does not
fit). When the question is near the called tool (``NEAR_FLOOR``), the call is decoded
under that tool's schema instead: on the same cases every irrelevant call that reached
the last rung was to a tool under 0.26 similar to the question, and the one ``multiple``
call there (0.37) was answered ("SELECT * FROM user ...") where a call was expected.

A free-text call none of whose required values the conversation holds (no number it
carries was said, no text shares two characters in a row with what was said) is a
guess at a tool that does not fit: on the peers benchmark's BFCL sets the 0.5B made 8
such calls among its 26 wrong ones on ``irrelevance`` ("What's the time right now?" ->
``calculate_time(distance=100, speed=50)``), and none among its 100 on ``multiple``.
It is doubted in a language with a measured floor (``unheld``), unless the tool called is
the one of several the question points at (below): on BFCL ``multiple`` 100-199 three
calls to such a tool, already near by the floor (0.45-0.77), had been doubted this way
and answered; kept, one of the three is right (``poker_probability.full_house`` with a
deck of 52 and a hand of 5 the user never said).

The same test applies to a free-text call the re-ask got: after a first output that was
no valid call (an unclosed JSON call to a tool the set lacks), the re-ask's list of tools
reads as an order, and the 0.5B called ``prime_numbers_in_range(start=1, end=100)`` for
"Find the fastest route from New York to Boston.". On the peers benchmark's BFCL rows four
such calls were kept on ``irrelevance``; every call a re-ask got on ``multiple`` and
``simple_python`` held a value the user said.

Which offered tool is nearest the question is a signal of its own when there are several:
on BFCL ``multiple``'s first 200 cases the nearest is the expected tool in 192. A doubted
call to another tool, an invalid call to no tool near the question, and a call to a tool
the set lacks whose arguments fit the nearest are all given to the nearest tool when it is
near (``Relevance.nearest``, ``NEAR_FLOOR``; ``decide.nearest_tool``): on ``multiple``
100-199 that took the 0.5B from 62 to 66 right calls and lost none. The nearest of several
is near too when it leads the next one clearly (``NEAR_MARGIN``), however low its own
similarity: on ``multiple`` 100-199 (questions the peers benchmark does not score) the
nearest tool was under the floor in 13 questions, and it was the expected tool in all 12
where it led the next by 0.02 or more (the 13th: a lead of 0.006). The peers benchmark's
0.5B had answered three ``multiple`` questions after two invalid calls when the tool it
should have called sat at 0.30-0.34, under the floor, but led the rest; with the margin
one is called right, one goes to the right tool with a value left out, and in the third
the call decoded under the tool still did not validate. With one tool offered
it never applies: BFCL ``irrelevance`` offers one tool per question, and made-up tool
names there sat up to 0.53 similar to it.

A free-text call to a tool the set does not have (no misspelling of an offered one, and
no offered tool its arguments fit) is doubted when no offered tool is near the question
(``NEAR_FLOOR``) or leads the others (``NEAR_MARGIN``): on BFCL ``irrelevance`` 100-239
the 0.5B named 26 tools the set lacked (often the thing asked about: "Ronaldo", "The
Scream", "Sushi Palace"), 23 of them for questions under the floor to the one tool
offered. The ladder (re-ask, then an answer
decoded under a schema) answered every one of them in the end, in 3.7 s at the median
where a doubted call's plain answer took 2.4 s, and its schema-bound answers were the
worse ones ("The presidential election in 2020 was won by Donald Trump.").

The similarity floor is per language, and a language without a measured one is never
doubted: USE similarities run much lower for short Chinese texts. On the domain dev
split with the router removed (every third case), the same rule would have doubted 12
of the 0.5B's 17 right calls, so Chinese has no floor. An agent with a router that
knows when no tool is needed (examples) skips this rung anyway: the router decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kapibara.agent.repair import numbers_in, text_grounded
from kapibara.errors import MissingExtraError
from kapibara.models.base import ToolCall

DOUBT_AT = 0.85
"""A free-text call whose first token got less probability than this can be doubted.

0.8 when tools were shown as JSON; the signatures (``kapibara.models.tool_text``) made the
models readier to call. Measured again under them on cases the peers benchmark does not
score (BFCL ``irrelevance`` 100-239, ``multiple`` 100-199, ``simple_python`` 0-99, both
models): between 0.8 and 0.85, with the question under 0.3 similar to the tool, one call
was wrong (the 0.5B's ``historical_event.get_date`` for the casualties at Waterloo) and
none right that the nearest-tool exemption does not keep; the nearest right call on
``simple_python``, where one tool is offered, had 0.917."""
RELEVANCE_FLOOR = {"en": 0.3}
"""...and is doubted when the question is less similar than this to every tool it calls,
in the question's language (no floor: never doubted)."""
FAR_FLOOR = {"en": 0.2}
"""A free-text call to tools all less similar than this to the question is doubted
whatever its probability."""
NEAR_FLOOR = {"en": 0.35}
"""A call invalid twice, to a tool at least this similar to the question, is decoded
under that tool's schema at the last rung instead of being answered."""
NEAR_MARGIN = {"en": 0.03}
"""Among two or more tools, the nearest is near too when it is at least this much more
similar to the question than the next one (``Relevance.nearest``)."""


class Relevance:
    """How close a question is to what a tool does: cosine similarity of embeddings.

    ``embedder`` is anything with ``embed_batch(texts) -> unit rows``; by default the
    bundled USE embedder, loaded on first use. Without it (the ``rag`` extra not
    installed) nothing is far, so nothing is doubted.
    """

    def __init__(self, embedder: Any = None, floor: dict[str, float] | None = None,
                 far_floor: dict[str, float] | None = None, near_floor: dict[str, float] | None = None,
                 near_margin: dict[str, float] | None = None) -> None:
        self.embedder = embedder
        self.floor = dict(RELEVANCE_FLOOR if floor is None else floor)
        self.far_floor = dict(FAR_FLOOR if far_floor is None else far_floor)
        self.near_floor = dict(NEAR_FLOOR if near_floor is None else near_floor)
        self.near_margin = dict(NEAR_MARGIN if near_margin is None else near_margin)
        self._vectors: dict[str, np.ndarray] = {}
        self._unavailable = False

    def _embed(self, texts: Sequence[str]) -> np.ndarray | None:
        if self._unavailable:
            return None
        if self.embedder is None:
            from kapibara.rag.embedders import load_embedder

            self.embedder = load_embedder("use")
        try:
            return np.asarray(self.embedder.embed_batch(list(texts)), dtype=np.float32)
        except MissingExtraError:  # the embedder's extra is not installed: the rung stays off
            self._unavailable = True
            return None

    def similarities(self, question: str, tool_texts: Sequence[str]) -> list[float] | None:
        """The cosine similarity of ``question`` to each of ``tool_texts``, in order (None
        without an embedder)."""
        new = [t for t in dict.fromkeys(tool_texts) if t not in self._vectors]
        vecs = self._embed([*new, question])
        if vecs is None:
            return None
        self._vectors.update(zip(new, vecs[:-1], strict=True))
        return [float(self._vectors[t] @ vecs[-1]) for t in tool_texts]

    def similarity(self, question: str, tool_texts: Sequence[str]) -> float | None:
        """The highest cosine similarity of ``question`` to any of ``tool_texts`` (None
        without an embedder or tools)."""
        sims = self.similarities(question, tool_texts) if tool_texts else None
        return max(sims) if sims else None

    def far(self, question: str, tool_texts: Sequence[str], language: str = "en", sure: bool = False) -> bool:
        """Whether ``question`` is less similar than ``language``'s floor to every one of
        ``tool_texts`` (False without an embedder or a floor). ``sure``: the floor for a
        call the model was sure of (``FAR_FLOOR``)."""
        return self._under(question, tool_texts, self.far_floor if sure else self.floor, language) is True

    def _under(self, question: str, tool_texts: Sequence[str], floors: dict[str, float],
               language: str) -> bool | None:
        """Whether ``question``'s highest similarity to ``tool_texts`` is under
        ``language``'s floor in ``floors``; None when it cannot be said (no embedder, no
        floor for the language, no tools)."""
        floor = floors.get(language)
        sim = self.similarity(question, tool_texts) if floor is not None else None
        return None if sim is None or floor is None else sim < floor

    def nearest(self, question: str, named: dict[str, str], language: str = "en") -> str | None:
        """The name whose text in ``named`` (name -> ``name: description``) is most similar
        to ``question``, when that similarity reaches ``language``'s ``NEAR_FLOOR`` or
        leads the next name's by ``NEAR_MARGIN``; None otherwise (or without an embedder or
        a floor)."""
        floor = self.near_floor.get(language)
        sims = self.similarities(question, list(named.values())) if floor is not None and named else None
        if not sims or floor is None:
            return None
        ranked = sorted(zip(sims, named, strict=True), key=lambda pair: pair[0], reverse=True)
        sim, best = ranked[0]
        margin = self.near_margin.get(language)
        leads = margin is not None and len(ranked) > 1 and sim - ranked[1][0] >= margin
        return best if sim >= floor or leads else None

    def none_near(self, question: str, tool_texts: Sequence[str], language: str = "en") -> bool:
        """Whether ``question`` is less than ``language``'s ``NEAR_FLOOR`` similar to every
        one of ``tool_texts``: False without an embedder, a floor or tools (unlike
        ``not near``, which cannot tell "far" from "not measured")."""
        return self._under(question, tool_texts, self.near_floor, language) is True

    def near(self, question: str, tool_texts: Sequence[str], language: str = "en") -> bool:
        """Whether ``question`` is at least ``language``'s ``NEAR_FLOOR`` similar to one of
        ``tool_texts`` (False without an embedder or a floor)."""
        return self._under(question, tool_texts, self.near_floor, language) is False


def unheld(calls: Sequence[ToolCall], tools: Any, evidence: str) -> bool:
    """Whether every call has a required value to check and none of them is in
    ``evidence``: a number never said (sign aside) and a text sharing no two characters
    in a row with it (``text_grounded``); booleans and objects are not checked."""
    said = {abs(n) for n in numbers_in(evidence)}
    for call in calls:
        tool = tools.get(call.name)
        required = (tool.parameters.get("required") or []) if tool is not None else []
        held = [h for key in required if key in call.arguments
                for h in [_held(call.arguments[key], evidence, said)] if h is not None]
        if not held or any(held):
            return False
    return bool(calls)


def _held(value: Any, evidence: str, said: set[float]) -> bool | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return abs(float(value)) in said
    if isinstance(value, str):
        return text_grounded(value, evidence) if value.strip() else None
    if isinstance(value, list):
        items = [h for v in value for h in [_held(v, evidence, said)] if h is not None]
        return any(items) if items else None
    return None
