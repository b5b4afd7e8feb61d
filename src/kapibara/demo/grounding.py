"""What the grocery assistant may not state without a tool: catalog product names and
brands, and numbers (prices, stock, temperatures) no tool returned."""

from __future__ import annotations

import re

from kapibara.agent.grounding import AllOf, Grounding, NameGrounding, NumberGrounding
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
    return AllOf(NumberGrounding(), NameGrounding(names))
