"""Every target call of a training sample is run against the real tools and checked.

A call target is kept only when the tool runs without error and returns a non-empty,
relevant result: no ``error`` field, no unknown property, a product or city the tool
resolved to what the request was about, items where items were asked for. Earlier calls
in the sample's context are replayed first, in one ``ToolContext``, so a follow-up's
``view_cart`` sees the cart its context filled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kapibara.finetune.samples import Sample, calls_of
from kapibara.models.base import ToolCall
from kapibara.tools import ToolContext, ToolSet
from kapibara.tools.execute import execute_call

Check = Callable[[ToolCall, Any], str | None]
"""A tool's relevance check: the call and the tool's return value -> why it is bad, or None."""


@dataclass
class Verdict:
    """What running a sample's target calls found. ``reason`` is empty when they passed."""

    ok: bool
    reason: str = ""
    outputs: list[str] | None = None


def _loose(text: Any) -> str:
    return "".join(str(text).lower().split())


def _non_empty(key: str) -> Check:
    def check(call: ToolCall, value: Any) -> str | None:
        return None if isinstance(value, dict) and value.get(key) else f"{call.name}: empty {key!r}"
    return check


def _same_product(call: ToolCall, value: Any) -> str | None:
    """The tool resolved the name to a product (not a list of similar ones)."""
    if not isinstance(value, dict) or not value.get("product") and not value.get("category"):
        return f"{call.name}: no product resolved for {call.arguments.get('product_name')!r}"
    return None


def _product_info(call: ToolCall, value: Any) -> str | None:
    bad = _same_product(call, value)
    if bad:
        return bad
    if value.get("unknown_properties"):
        return f"get_product_info: unknown properties {value['unknown_properties']}"
    return None


def _promotions(call: ToolCall, value: Any) -> str | None:
    bad = _same_product(call, value)
    if bad:
        return bad
    if "deals" in value and not value["deals"]:
        return f"get_promotions: no deals in category {value.get('category')!r}"
    return None


def _cart_add(call: ToolCall, value: Any) -> str | None:
    return None if isinstance(value, dict) and value.get("ok") else f"add_to_cart: {value.get('error', value)}"


def _weather(call: ToolCall, value: Any) -> str | None:
    return None if isinstance(value, dict) and value.get("city") else f"get_weather: {value.get('error', value)}"


def _view_cart(call: ToolCall, value: Any) -> str | None:
    return None if isinstance(value, dict) and "items" in value else "view_cart: no items field"


def _recommend(call: ToolCall, value: Any) -> str | None:
    """Items, or the tool's own "nothing under that price; the cheapest is ..." answer (a
    request for a phone under 800 yuan is answered right by saying there is none)."""
    if isinstance(value, dict) and (value.get("items") or value.get("message")):
        return None
    return "recommend_products: no items"


#: The demo tools' relevance checks; a tool without one passes when it returns non-empty.
DEMO_CHECKS: dict[str, Check] = {
    "recommend_products": _recommend,
    "get_product_info": _product_info,
    "get_promotions": _promotions,
    "recommend_recipes": _non_empty("recipes"),
    "add_to_cart": _cart_add,
    "view_cart": _view_cart,
    "get_weather": _weather,
}


class CallVerifier:
    """Runs sample target calls on ``toolset`` and applies ``checks`` to what they return."""

    def __init__(self, toolset: ToolSet, checks: dict[str, Check] | None = None) -> None:
        self.toolset = toolset
        self.checks = DEMO_CHECKS if checks is None else checks

    def run(self, call: ToolCall, ctx: ToolContext) -> tuple[str | None, str, Any]:
        """(why it failed or None, the observation text, the raw value)."""
        result = execute_call(self.toolset, call, ctx)
        if not result.ok:
            return f"{call.name}: {result.error_kind}: {result.error}", result.output, None
        value = result.value
        if value in (None, "", [], {}):
            return f"{call.name}: empty result", result.output, value
        if isinstance(value, dict) and value.get("error"):
            return f"{call.name}: {value['error']}", result.output, value
        check = self.checks.get(call.name)
        bad = check(call, value) if check else None
        return bad, result.output, value

    def verify(self, sample: Sample) -> Verdict:
        """Replay the context's calls, then run and check the target's. Plain replies pass."""
        ctx = ToolContext(session_id=sample.id)
        for m in sample.context:
            for call in calls_of(m):
                execute_call(self.toolset, call, ctx)
        calls = sample.target_calls
        outputs: list[str] = []
        for call in calls:
            bad, output, _ = self.run(call, ctx)
            if bad:
                return Verdict(False, bad, outputs)
            outputs.append(output)
        return Verdict(True, "", outputs)


def tool_message(call_id: str, name: str, output: str) -> dict[str, Any]:
    """The ``{"role": "tool"}`` message carrying an observation."""
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": output}


def compact(value: Any) -> str:
    """A tool value as the short JSON text an observation carries."""
    return json.dumps(value, ensure_ascii=False)
