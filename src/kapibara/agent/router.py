"""Tool routing: a cheap classifier narrows what the small model must choose from.

The idea of Tool RAG (TinyAgent): before the model decides, predict from embeddings which
tool(s) the question needs, or that it needs none, with a confidence:

``call``    confident in one tool: the call is decoded under that tool's schema
``answer``  confident no tool is needed: the model answers (tools stay offered)
``choose``  unsure: the model decides among the ``tools`` ranked first

``LinearRouter`` is a classifier over embeddings trained on an ``ExampleBank`` (the
default); ``ExampleRouter`` votes over the nearest labelled examples;
``DescriptionRouter`` ranks tools by the similarity of the question to each tool's
name and description (for tool sets without examples, such as a BFCL case's functions,
it never claims ``call`` or ``answer``). Both are generic over any ``ToolSet``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from kapibara.agent.examples import NO_TOOL, Example, ExampleBank, routing_text
from kapibara.fileio import atomic_path
from kapibara.models.base import Message


@dataclass
class Route:
    """Where a question goes. ``scores`` are the vote shares per tool (and ``NO_TOOL``)."""

    mode: Literal["call", "choose", "answer", "narrow"]
    """``call``: decode the one routed tool's call; ``choose``: the model decides among all
    tools, and an answer where a tool was expected is looked up among ``tools``;
    ``answer``: no tool is needed; ``narrow``: only ``tools`` are offered and the model
    decides freely among them (it may answer): the router says which tools, not whether."""
    tools: list[str]
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    source: str = "examples"

    @property
    def tool_share(self) -> float:
        """The vote share of all tools together (1 - the no-tool share)."""
        return 1.0 - self.scores.get(NO_TOOL, 0.0) if self.scores else 0.0

    @property
    def expects_tool(self) -> bool:
        """Whether one tool is at least as likely as no tool: the router's single best
        guess is a call, not an answer. A tool share split across unrelated tools ("今天A股
        大盘怎么样": product info 0.32, weather 0.12, no tool 0.46) is no such guess."""
        tools = [v for k, v in self.scores.items() if k != NO_TOOL]
        return bool(tools) and max(tools) >= self.scores.get(NO_TOOL, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "tools": self.tools, "confidence": round(self.confidence, 3),
                "scores": {k: round(v, 3) for k, v in self.scores.items()}, "source": self.source}


@runtime_checkable
class Router(Protocol):
    """One method: where ``messages`` should go among ``tool_names``."""

    def route(self, messages: Sequence[Message], tool_names: Sequence[str]) -> Route: ...


def vote(neighbours: Sequence[tuple[str, float]], sharpness: float = 8.0) -> dict[str, float]:
    """Similarity-weighted vote shares over labels; a label ``a+b`` votes for both tools.

    ``sharpness`` turns cosine similarities into weights ``exp(sharpness * sim)`` so the
    nearest neighbours count most (a pure count lets 4 loose matches outvote 3 close ones).
    """
    weights: dict[str, float] = {}
    for label, sim in neighbours:
        w = float(np.exp(sharpness * sim))
        for part in label.split("+"):
            weights[part] = weights.get(part, 0.0) + w
    total = sum(weights.values()) or 1.0
    return {k: v / total for k, v in sorted(weights.items(), key=lambda kv: -kv[1])}


class ExampleRouter:
    """k-nearest-neighbour vote over an example bank, with confidence thresholds.

    ``call_at``: the top tool's share needed to decode the call directly; ``answer_at``:
    the no-tool share needed to call it a no-tool question; ``top``: tools offered when
    unsure. The defaults were chosen by leave-one-out on the demo's dev split
    (``kapibara.optimize.routing.calibrate`` recomputes them for any bank).
    """

    def __init__(self, bank: ExampleBank, *, k: int = 7, call_at: float = 0.75, answer_at: float = 0.8,
                 top: int = 3, fallback: Router | None = None) -> None:
        self.bank, self.k, self.call_at, self.answer_at, self.top = bank, k, call_at, answer_at, top
        self.fallback = fallback

    def neighbours(self, messages: Sequence[Message], tool_names: Sequence[str],
                   exclude: str | None = None) -> list[tuple[str, float]]:
        hits = [(ex, sim) for ex, sim in self.bank.similarities(messages, allowed=tool_names)
                if exclude is None or ex.id != exclude]
        return [(ex.label, sim) for ex, sim in hits[: self.k]]

    def route(self, messages: Sequence[Message], tool_names: Sequence[str], exclude: str | None = None) -> Route:
        names = list(tool_names)
        near = self.neighbours(messages, names, exclude) if len(self.bank) else []
        if not near:
            return self.fallback.route(messages, names) if self.fallback else Route("choose", names, 0.0, {}, "none")
        scores = vote(near)
        ranked = [t for t in scores if t in names]
        best = next(iter(scores))
        confidence = scores[best]
        if best == NO_TOOL and confidence >= self.answer_at:
            return Route("answer", [], confidence, scores)
        if best != NO_TOOL and confidence >= self.call_at:
            return Route("call", [best], confidence, scores)
        offered = ranked[: self.top] or names
        return Route("choose", offered, confidence, scores)


def _features(embedder: Any, conversations: Sequence[Sequence[Message]]) -> np.ndarray:
    """The conversation in context (``routing_text``) and the latest user message alone,
    side by side: a follow-up's words ("有优惠吗") name the tool, its context the product."""
    if not conversations:
        return np.zeros((0, 1), dtype=np.float32)
    ctx = np.asarray(embedder.embed_batch([routing_text(c) for c in conversations]), dtype=np.float32)
    last = np.asarray(embedder.embed_batch([_last_user(c) for c in conversations]), dtype=np.float32)
    return np.hstack([ctx, last])


def _last_user(messages: Sequence[Message]) -> str:
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user" and m.get("name") != "example"]
    return users[-1] if users else ""


def fit_softmax(x: np.ndarray, y: np.ndarray, n_labels: int, c: float = 30.0, iters: int = 400,
                lr: float = 2.0, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by gradient descent (L2 strength ``1 / c``); returns
    (weights, biases). Small and deterministic: a bank has hundreds of rows, not millions."""
    x = np.asarray(x, dtype=np.float64)  # once: a float32 x would be cast at every step (7x slower)
    n, d = x.shape
    w = np.zeros((d, n_labels), dtype=np.float64)
    b = np.zeros(n_labels, dtype=np.float64)
    target = np.eye(n_labels)[y]
    share = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    for _ in range(iters):
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - target) * share[:, None]
        w -= lr * (x.T @ g + w / (c * n))
        b -= lr * g.sum(axis=0)
    return w, b


def _fit_cached(x: np.ndarray, y: np.ndarray, n_labels: int, c: float, cache: str | Path | None,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``fit_softmax``, its result kept in the folder ``cache`` under a hash of its inputs:
    a bank of a thousand examples takes ~0.6 s to fit on 2 cores, at every process start."""
    if cache is None:
        return fit_softmax(x, y, n_labels, c=c, weights=weights)
    key = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    key.update(np.asarray(y, dtype=np.int64).tobytes())
    key.update(b"" if weights is None else np.asarray(weights, dtype=np.float64).tobytes())
    key.update(f"{n_labels}:{c}".encode())
    path = Path(cache) / f"linear-{key.hexdigest()[:24]}.npz"
    try:
        with np.load(path) as saved:
            return saved["w"], saved["b"]
    except (OSError, KeyError, ValueError):
        pass  # not fitted yet, or a damaged file: fit again
    w, b = fit_softmax(x, y, n_labels, c=c, weights=weights)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, w=w, b=b)
    except OSError:
        pass  # a read-only home: fit at every start, as without a cache
    return w, b


class LinearRouter:
    """A linear classifier over embeddings, trained on an example bank's labels.

    Measured on the demo's dev split (5-fold cross-validation, bundled USE embedder):
    84% of questions get the right label (tool or no tool), against 70-72% for a
    nearest-neighbour vote over the same vectors; the right tool is in the top two for 97%
    of the test split's questions. ``call_at`` / ``answer_at`` are probability thresholds
    (``kapibara.optimize.routing.calibrate`` picks them by cross-validation).

    ``extra`` are more labelled decisions to learn from that are not the bank's (the demo
    passes its fine-tuning set's, 1,245 of them), weighing ``extra_share`` of the fit
    together: so the bank's own examples, a user's added bad cases among them, keep their
    say. On the demo (5-fold over the dev bank; the test split), adding them at half the
    weight took the confident right routes from 89 to 111 of 165 and 47 to 52 of 72, the
    confident wrong ones 4 -> 4 and 2 -> 0, while 154 of the bank's own 165 questions stay
    confidently right (163 without them, 127 at equal weight per example).
    """

    def __init__(self, bank: ExampleBank, *, call_at: float = 0.75, answer_at: float = 0.6, top: int = 3,
                 c: float = 30.0, extra: Sequence[Example] = (), extra_share: float = 0.5,
                 cache: str | Path | None = None) -> None:
        self.call_at, self.answer_at, self.top = call_at, answer_at, top
        self.embedder = bank.embedder
        examples = [*bank.examples, *extra]
        self.labels = sorted({_first(e.label) for e in examples})
        self.weights: tuple[np.ndarray, np.ndarray] | None = None
        if len(self.labels) >= 2:
            x = _features(self.embedder, [e.messages for e in examples])
            y = np.array([self.labels.index(_first(e.label)) for e in examples])
            w = None
            if extra and bank.examples:  # each group its share of the fit, whatever its size
                w = np.array([(1 - extra_share) / len(bank.examples)] * len(bank.examples)
                             + [extra_share / len(extra)] * len(extra))
            self.weights = _fit_cached(x, y, len(self.labels), c, cache, w)

    def probabilities(self, messages: Sequence[Message]) -> dict[str, float]:
        """Label -> probability, most likely first."""
        if self.weights is None:
            return {self.labels[0]: 1.0} if self.labels else {}
        w, b = self.weights
        z = _features(self.embedder, [messages])[0] @ w + b
        p = np.exp(z - z.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")
        return {self.labels[i]: float(p[i]) for i in order}

    def route(self, messages: Sequence[Message], tool_names: Sequence[str]) -> Route:
        names = list(tool_names)
        probs = {k: v for k, v in self.probabilities(messages).items() if k == NO_TOOL or k in names}
        if not probs:
            return Route("choose", names, 0.0, {}, "linear")
        total = sum(probs.values())
        scores = {k: v / total for k, v in probs.items()}
        best, confidence = next(iter(scores.items()))
        if best == NO_TOOL and confidence >= self.answer_at:
            return Route("answer", [], confidence, scores, "linear")
        if best != NO_TOOL and confidence >= self.call_at:
            return Route("call", [best], confidence, scores, "linear")
        ranked = [t for t in scores if t != NO_TOOL][: self.top]
        return Route("choose", ranked or names, confidence, scores, "linear")


def _first(label: str) -> str:
    return label.split("+")[0]


class DescriptionRouter:
    """Ranks tools by how close the question is to each tool's name and description, and
    offers the model only the ``top`` of them (``narrow``): for tool sets without examples,
    such as BFCL's, where each case brings its own functions. It says which tools, never
    whether one is needed (descriptions carry no "no tool" signal).

    ``Agent`` tells it each tool's text (``describe``); vectors are cached per tool set.
    On BFCL ``multiple`` (100 cases, the bundled USE embedder) the right function is the
    top one for 93 and in the top two for 99.

    With ``lead`` (in place of ``top``): the nearest tool is offered alone when it is at
    least ``lead`` more similar to the question than the next one, and every tool is
    offered otherwise. Over BFCL ``multiple``'s first 200 cases the nearest tool led by
    0.05 or more in 182 and was the right one in all 182. Offering it alone shortens the
    prompt the model prefills, which is most of a decision where the tools have no saved
    prefix state (each question brings its own). A question that needs two tools loses
    one: on BFCL ``parallel_multiple`` the nearest led by 0.05 in 118 of 200 questions and
    left out a needed tool in 110 (``bench/narrow_tools.py --coverage``).
    """

    def __init__(self, embedder: Any, top: int = 2, lead: float | None = None) -> None:
        self.embedder, self.top, self.lead = embedder, top, lead
        self._cache: dict[tuple[str, ...], np.ndarray] = {}
        self.texts: dict[str, str] = {}

    def describe(self, texts: dict[str, str]) -> None:
        """Tell the router what each tool does (``{name: "name: description"}``)."""
        if any(self.texts.get(k) != v for k, v in texts.items()):
            self._cache = {key: vecs for key, vecs in self._cache.items() if not set(key) & set(texts)}
        self.texts.update(texts)

    def route(self, messages: Sequence[Message], tool_names: Sequence[str]) -> Route:
        names = list(tool_names)
        if self.lead is not None and len(names) < 2:
            return Route("narrow", names, 1.0, {}, "descriptions")
        if self.lead is None and len(names) <= self.top:
            return Route("choose", names, 1.0, {}, "descriptions")
        key = tuple(names)
        if key not in self._cache:
            self._cache[key] = np.asarray(self.embedder.embed_batch([self.texts.get(n, n) for n in names]))
        q = np.asarray(self.embedder.embed_batch([routing_text(messages)])[0])
        sims = self._cache[key] @ q
        order = np.argsort(-sims, kind="stable")
        scores = {names[i]: float(sims[i]) for i in order}
        if self.lead is not None:
            alone = float(sims[order[0]] - sims[order[1]]) >= self.lead
            return Route("narrow", [names[order[0]]] if alone else names, float(sims[order[0]]), scores, "descriptions")
        return Route("narrow", [names[i] for i in order[: self.top]], float(sims[order[0]]), scores, "descriptions")
