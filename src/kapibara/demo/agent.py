"""The demo's default agent settings: both prompt languages, the example bank with its
router, and grounding. ``kapibara run`` and ``kapibara eval`` on ``"tools": "demo"`` cases
use the same ones, so what is measured is what users get.

The bank ships as ``data/examples.jsonl`` (built from the domain eval's **dev** split by
``build_examples``; never from the test split) and is joined by the user's own examples
(``kapibara examples add``, ``$KAPIBARA_HOME/examples.jsonl``). The router learns from the
bank and from the decisions of the shipped fine-tuning set (``routing_examples``).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from kapibara.agent.examples import Example, ExampleBank
from kapibara.agent.router import LinearRouter
from kapibara.demo.grounding import demo_grounding
from kapibara.demo.tools import demo_prompt
from kapibara.settings import kapibara_home

EXAMPLES = "examples.jsonl"
#: The cart waits for the user's yes: the demo has no tool that takes an item out again,
#: and a product the small model resolved wrongly would otherwise sit in the cart unseen.
SIDE_EFFECTS_DEFAULT = "confirm"


def shipped_examples_path() -> Path:
    return Path(str(resources.files("kapibara.demo") / "data" / EXAMPLES))


def shipped_train_path() -> Path:
    """The demo's fine-tuning set as shipped (``kapibara data build`` writes it). It lives
    with the ``finetune`` package's data; it is read here as a resource, not imported, so
    the demo does not depend on the training code."""
    return Path(str(resources.files("kapibara.finetune") / "data" / "train.jsonl"))


def routing_examples(path: str | Path | None = None) -> list[Example]:
    """The decisions of the fine-tuning set that the bank does not hold: catalog template
    and teacher requests, each call executed against the real tools when the set was built,
    none a near-duplicate of the test split (``kapibara data build`` removes and counts
    them). They teach the router only; few-shot examples come from the bank. With them the
    router's confident mistakes on the domain test split fell from 2 to 0 of 72 questions
    ("vivo X60 Pro降价了没？" had gone to ``get_product_info``, "vivo X60 Pro我要了" too)."""
    from kapibara.optimize.bank import examples_from_conversation

    p = Path(path) if path is not None else shipped_train_path()
    out: list[Example] = []
    for line in p.read_text(encoding="utf-8").splitlines():
        sample = json.loads(line) if line.strip() else {}
        source = str(sample.get("source", ""))
        if sample and not source.startswith("dev:"):  # the dev split's are in the bank already
            out.extend(examples_from_conversation(sample["messages"], source))
    return out


def build_examples(dev_cases: str | Path, out: str | Path | None = None) -> ExampleBank:
    """The shipped bank: one example per case of the dev split (written to ``out``)."""
    from kapibara.optimize.bank import examples_from_file

    bank = ExampleBank(e for e in examples_from_file(dev_cases))
    for e in bank.examples:
        e.source = e.source.replace("dev.jsonl:", "domain:dev#")
    if out is not None:
        bank.save(out)
    return bank


@functools.cache
def _bank_and_router(user_bank: str) -> tuple[ExampleBank, LinearRouter]:
    from kapibara.rag.embedders import CachedEmbedder, load_embedder

    # Vectors are cached per text under KAPIBARA_HOME: the first process embeds the bank
    # (a few seconds), later ones read it. One file for every user of the embedder.
    embedder = CachedEmbedder(load_embedder("use"), kapibara_home() / "embeddings" / "use.db")
    bank = ExampleBank.load(shipped_examples_path(), embedder=embedder)
    for example in ExampleBank.load(user_bank):
        bank.add(example)
    return bank, LinearRouter(bank, extra=routing_examples(), cache=kapibara_home() / "routers")


def demo_agent_options(language: str | None = None, *, route: bool = True) -> dict[str, Any]:
    """``Agent`` keyword arguments of the demo's default agent.

    ``language`` fixes one prompt language; by default both ship and each run follows
    its user. ``route=False`` leaves routing out (and with it the embedder, which needs
    the ``rag`` extra).
    """
    langs = [language] if language else ["zh", "en"]
    options: dict[str, Any] = {"prompt": {lang: demo_prompt(lang) for lang in langs},
                               "grounding": demo_grounding(), "shots": 0, "ask_missing": True,
                               "side_effects": SIDE_EFFECTS_DEFAULT}
    if route:
        bank, router = _bank_and_router(str(kapibara_home() / "examples.jsonl"))
        options.update(router=router, examples=bank)
    return options
