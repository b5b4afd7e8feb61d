"""An agent's example bank: labelled conversations (the right calls, or no call with a good
answer), stored as JSONL beside the prompt, searched by meaning.

    bank = ExampleBank.load("examples.jsonl")           # a missing file is an empty bank
    bank.add(Example.make("北京明天天气怎么样", calls=[ToolCall("get_weather", {"city": "北京", "date": "明天"})]))
    hits = bank.search([{"role": "user", "content": "上海后天下雨吗"}], k=4)
    bank.save("examples.jsonl")

Examples come from eval case files (``from_case``), from traces a user marks good, and
from bad cases with corrected expectations. They feed two things in the decision: the
router (which tools a question needs, ``router.py``) and retrieved few-shot (the most
similar examples go into the conversation as example turns, after the system prompt).
Vectors come from an embedder (the bundled multilingual USE by default) and are cached
per text, so loading a bank costs no model time after the first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kapibara.errors import DataError
from kapibara.fileio import write_jsonl_atomic
from kapibara.models.base import Message, ToolCall

NO_TOOL = "__none__"
"""The routing label of an example that needs no call."""


@dataclass
class Example:
    """One labelled conversation: ``messages`` end with the user's message; ``calls`` are
    the right calls (empty: no call is right; ``answer``, when given, is a good reply and
    lets the example be shown as a few-shot turn; without it the example only routes)."""

    messages: list[Message]
    calls: list[ToolCall] = field(default_factory=list)
    answer: str = ""
    source: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if not self.messages or self.messages[-1].get("role") != "user":
            raise DataError("an example's messages must end with the user's message")
        self.id = self.id or self.fingerprint()

    @classmethod
    def make(cls, question: str, calls: Sequence[ToolCall] = (), answer: str = "",
             history: Sequence[Message] = (), source: str = "") -> Example:
        """An example from a question (and earlier turns)."""
        return cls(messages=[*history, {"role": "user", "content": question}], calls=list(calls),
                   answer=answer, source=source)

    @property
    def question(self) -> str:
        return str(self.messages[-1].get("content") or "")

    @property
    def label(self) -> str:
        """The routing label: the called tools (sorted, joined with '+'), or ``NO_TOOL``."""
        return "+".join(sorted({c.name for c in self.calls})) or NO_TOOL

    @property
    def tools(self) -> list[str]:
        return sorted({c.name for c in self.calls})

    def fingerprint(self) -> str:
        body = json.dumps([self.messages, [(c.name, c.arguments) for c in self.calls], self.answer],
                          ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "messages": self.messages}
        if self.calls:
            out["calls"] = [{"name": c.name, "arguments": c.arguments} for c in self.calls]
        if self.answer:
            out["answer"] = self.answer
        if self.source:
            out["source"] = self.source
        return out

    @classmethod
    def from_dict(cls, obj: Any, where: str = "example") -> Example:
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            raise DataError(f"{where}: an example is an object with 'messages' (and 'calls' or 'answer')")
        calls = []
        for c in obj.get("calls") or []:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                raise DataError(f"{where}: each call needs a 'name' and 'arguments'")
            calls.append(ToolCall(name=c["name"], arguments=dict(c.get("arguments") or {})))
        try:
            return cls(messages=obj["messages"], calls=calls, answer=str(obj.get("answer") or ""),
                       source=str(obj.get("source") or ""), id=str(obj.get("id") or ""))
        except DataError as exc:
            raise DataError(f"{where}: {exc.message}") from None


def routing_text(messages: Sequence[Message]) -> str:
    """What a conversation is embedded as for routing and retrieval: the user's message,
    after the previous user message when there is one (a follow-up such as "有优惠吗"
    means nothing alone)."""
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user" and m.get("name") != "example"]
    if not users:
        return ""
    return users[-1] if len(users) == 1 else f"{users[-2]}\n{users[-1]}"


class ExampleBank:
    """Labelled examples with their vectors; ``search`` returns the most similar ones.

    ``embedder`` is anything with ``embed_batch(texts) -> unit rows``; it is only needed
    to search (loading, listing, adding and saving need none).
    """

    def __init__(self, examples: Iterable[Example] = (), embedder: Any = None) -> None:
        self.examples: list[Example] = []
        self.embedder = embedder
        self._vectors: np.ndarray | None = None
        for ex in examples:
            self.add(ex)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Any:
        return iter(self.examples)

    # -- editing -------------------------------------------------------------------------

    def add(self, example: Example) -> bool:
        """Add an example; False when an identical one is already there."""
        if any(e.id == example.id for e in self.examples):
            return False
        self.examples.append(example)
        self._vectors = None
        return True

    def remove(self, example_id: str) -> Example:
        """Remove the example with this id (a unique prefix works); raises DataError if none."""
        found = [e for e in self.examples if e.id.startswith(example_id)] if example_id else []
        if len(found) != 1:
            raise DataError(f"no example with id {example_id!r}" if not found else
                            f"id {example_id!r} is ambiguous ({len(found)} examples)",
                            hint="kapibara examples list shows the ids")
        self.examples.remove(found[0])
        self._vectors = None
        return found[0]

    def labels(self) -> list[str]:
        return [e.label for e in self.examples]

    # -- files ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, embedder: Any = None) -> ExampleBank:
        """Read a bank written by ``save`` (JSONL); a missing file is an empty bank."""
        p = Path(path)
        bank = cls(embedder=embedder)
        if not p.exists():
            return bank
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{p}: cannot read the example bank: {exc}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{p}:{n}: not JSON: {exc.msg}", hint="one example per line") from None
            bank.add(Example.from_dict(obj, f"{p}:{n}"))
        return bank

    def save(self, path: str | Path) -> Path:
        """Write the bank as JSONL (atomically)."""
        return write_jsonl_atomic(path, (e.to_dict() for e in self.examples))

    # -- search --------------------------------------------------------------------------

    def vectors(self) -> np.ndarray:
        """One unit row per example (computed once, then cached)."""
        if self._vectors is None:
            if self.embedder is None:
                raise DataError("this example bank has no embedder to search with",
                                hint="ExampleBank.load(path, embedder=load_embedder('use'))")
            texts = [routing_text(e.messages) for e in self.examples]
            self._vectors = (np.asarray(self.embedder.embed_batch(texts), dtype=np.float32) if texts
                             else np.zeros((0, 1), dtype=np.float32))
        return self._vectors

    def embed(self, messages: Sequence[Message]) -> np.ndarray:
        return np.asarray(self.embedder.embed_batch([routing_text(messages)])[0], dtype=np.float32)

    def similarities(self, messages: Sequence[Message], allowed: Iterable[str] | None = None) -> list[tuple[Example, float]]:
        """Every example with its cosine similarity to the conversation, best first.

        ``allowed``: only examples whose calls use these tools (and no-call ones).
        """
        if not self.examples:
            return []
        sims = self.vectors() @ self.embed(messages)
        keep = set(allowed) if allowed is not None else None
        order = np.argsort(-sims, kind="stable")
        return [(self.examples[i], float(sims[i])) for i in order
                if keep is None or set(self.examples[i].tools) <= keep]

    def search(self, messages: Sequence[Message], k: int = 4, floor: float = 0.0,
               allowed: Iterable[str] | None = None, per_label: int = 2) -> list[tuple[Example, float]]:
        """The ``k`` most similar examples above ``floor``, at most ``per_label`` of one label
        (so a few near-identical examples do not crowd out the others), best first."""
        out: list[tuple[Example, float]] = []
        counts: dict[str, int] = {}
        for ex, sim in self.similarities(messages, allowed):
            if sim < floor or len(out) >= k:
                break
            if counts.get(ex.label, 0) >= per_label:
                continue
            counts[ex.label] = counts.get(ex.label, 0) + 1
            out.append((ex, sim))
        return out
