"""Is an answer grounded? Facts it states must come from the user's words or a tool result.

Small models answer from imagination ("华为畅享20 Pro的价格是1999元。", an invented
weather report, a list of 18 made-up headphones). An answer that states a fact no tool
returned is not shown as fact: the agent looks it up (a call) or says honestly that it
did not. A ``Grounding`` names the unsupported facts of an answer; the generic one checks
numbers (prices, temperatures, stock, model numbers); a domain adds its own entity names
(the demo adds its product and brand names, see ``kapibara.demo``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from kapibara.agent.repair import numbers_in


@runtime_checkable
class Grounding(Protocol):
    """Names the facts of ``answer`` that ``evidence`` (user's words + tool results) lacks.

    A grounding may also name the facts ``evidence`` holds (``supported(answer,
    evidence)``, as the ones here do): an answer that only restates tool results already
    shown is then kept rather than looked up again (``decide.restates_results``).
    """

    def unsupported(self, answer: str, evidence: str) -> list[str]: ...


SMALL = 10
"""Numbers up to this are counts and list numbering ("3款", "1."), not facts to check."""

_NUMBER_TEXT = re.compile(r"\d+(?:\.\d+)?")


class NumberGrounding:
    """Every number above ``SMALL`` in the answer must appear in the evidence."""

    def unsupported(self, answer: str, evidence: str) -> list[str]:
        have = numbers_in(evidence)
        out: list[str] = []
        for m in _NUMBER_TEXT.finditer(answer):
            value = float(m.group(0))
            if value > SMALL and value not in have and m.group(0) not in out:
                out.append(m.group(0))
        return out

    def supported(self, answer: str, evidence: str) -> list[str]:
        """The numbers above ``SMALL`` in the answer that the evidence holds."""
        have = numbers_in(evidence)
        return list(dict.fromkeys(m.group(0) for m in _NUMBER_TEXT.finditer(answer)
                                  if float(m.group(0)) > SMALL and float(m.group(0)) in have))


class NameGrounding:
    """Known entity names (products, brands) the answer mentions must appear in the evidence.

    ``names`` are the domain's names; matching is case-insensitive substring matching, and
    a name inside a longer matched name counts once.
    """

    def __init__(self, names: Iterable[str], min_len: int = 2) -> None:
        self.names = sorted({n.strip() for n in names if len(n.strip()) >= min_len}, key=len, reverse=True)

    def unsupported(self, answer: str, evidence: str) -> list[str]:
        low, ev = answer.lower(), evidence.lower()
        out: list[str] = []
        for name in self.names:
            n = name.lower()
            if n in low and n not in ev and not any(n in o.lower() for o in out):
                out.append(name)
        return out

    def supported(self, answer: str, evidence: str) -> list[str]:
        """The names the answer mentions that the evidence holds too."""
        low, ev = answer.lower(), evidence.lower()
        out: list[str] = []
        for name in self.names:
            n = name.lower()
            if n in low and n in ev and not any(n in o.lower() for o in out):
                out.append(name)
        return out


_SENTENCE = re.compile(r"[^。！？!?.\n]+[。！？!?.]?")
_NEGATION = re.compile(r"不|没|无法|未|别|\b(?:not|can't|cannot|couldn't|won't|didn't|unable)\b", re.IGNORECASE)


class ClaimGrounding:
    """An answer that says an action was (or is being) done states a fact only that
    action's tool result can support: "好的，我会把 vivo X60 Pro 加入你的购物车。" with no
    ``add_to_cart`` call adds nothing. ``claims``: (name, pattern of the claim in an
    answer, pattern of its proof in the evidence — a tool result's own marker, such as a
    JSON key, that the user's words never hold). A sentence that negates or asks is no
    claim ("要加入购物车吗？", "我没法帮你加入购物车")."""

    def __init__(self, claims: Iterable[tuple[str, str, str]]) -> None:
        self.claims = [(name, re.compile(claim, re.IGNORECASE), re.compile(proof)) for name, claim, proof in claims]

    def _made(self, answer: str) -> list[tuple[str, re.Pattern[str]]]:
        sentences = [m.group(0) for m in _SENTENCE.finditer(answer)]
        return [(name, proof) for name, claim, proof in self.claims
                if any(claim.search(t) and not _NEGATION.search(t) and not t.rstrip().endswith(("?", "？"))
                       for t in sentences)]

    def unsupported(self, answer: str, evidence: str) -> list[str]:
        return [name for name, proof in self._made(answer) if not proof.search(evidence)]

    def supported(self, answer: str, evidence: str) -> list[str]:
        return [name for name, proof in self._made(answer) if proof.search(evidence)]


class AllOf:
    """Several groundings: the unsupported facts of each, in order."""

    def __init__(self, *checks: Grounding) -> None:
        self.checks = checks

    def unsupported(self, answer: str, evidence: str) -> list[str]:
        out: list[str] = []
        for check in self.checks:
            out += [f for f in check.unsupported(answer, evidence) if f not in out]
        return out

    def supported(self, answer: str, evidence: str) -> list[str]:
        out: list[str] = []
        for check in self.checks:
            found = getattr(check, "supported", None)
            out += [f for f in (found(answer, evidence) if callable(found) else []) if f not in out]
        return out
