"""What the grocery assistant may not state without a tool: catalog product names and
brands, numbers (prices, stock, temperatures) no tool returned, and that the cart changed."""

from __future__ import annotations

import re

from kapibara.agent.grounding import (
    AllOf,
    ClaimGrounding,
    Grounding,
    NameGrounding,
    NumberGrounding,
)
from kapibara.demo.tools import get_catalog

_ASCII = re.compile(r"^[A-Za-z][A-Za-z0-9 .&'-]+$")


def demo_grounding() -> Grounding:
    """Numbers, plus the catalog's full product names and its Latin-script brands.

    Short Chinese names are left out: "苹果" is a brand and a fruit, and an answer may
    name a kind of product ("酸奶") without stating a fact about any one of them.
    """
    products = get_catalog().products
    names = [n for p in products for n in (p.name_zh, p.name_en) if len(n) >= 4]
    names += [p.brand for p in products if p.brand and _ASCII.match(p.brand) and len(p.brand) >= 3]
    return AllOf(NumberGrounding(), NameGrounding(names), ClaimGrounding([CART_CLAIM]))


CART_CLAIM = (
    "加入购物车",
    r"(已经?|帮你|帮您|给你|为你|为您|我会|我将|我来|我这就|这就|马上|我已|我把|我帮)[^。！？!?]{0,24}"
    r"(加入|加到|加进|放入|放进|添加到|添加进)(了)?(你的|您的)?购物车|"
    r"(加入|加到|加进|放入|放进|添加到|添加进)(了)?(你的|您的)?购物车(了|啦|咯)|"
    r"\b(added|I'll add|I will add|I've added|adding|I'm adding)\b[^.!?]{0,40}\b(cart|basket)\b",
    r"[\"']added[\"']\s*:",
)
"""Saying the cart changed: only ``add_to_cart``'s result (its ``"added"`` field) proves it."""
