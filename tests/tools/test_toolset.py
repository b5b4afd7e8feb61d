"""ToolSet: lookups, composition, and close matches for misspelled names."""

from __future__ import annotations

import pytest

from kapibara.errors import ToolDefinitionError
from kapibara.tools import Tool, ToolSet, tool


@tool
def recommend_products(category: str, limit: int = 3) -> str:
    """Recommend products."""
    return category


@tool
def get_product_info(product_name: str) -> str:
    """Product details."""
    return product_name


def view_cart() -> str:
    """Show the cart."""
    return "empty"


def test_plain_functions_are_wrapped_and_lookups_work():
    ts = ToolSet([recommend_products, get_product_info, view_cart])
    assert ts.names == ["recommend_products", "get_product_info", "view_cart"]
    assert len(ts) == 3
    assert "view_cart" in ts and "nope" not in ts
    assert isinstance(ts.get("view_cart"), Tool)
    assert ts.get("nope") is None
    assert [s["function"]["name"] for s in ts.specs()] == ts.names
    assert [t.name for t in ts] == ts.names


def test_filter_by_names_and_predicate():
    ts = ToolSet([recommend_products, get_product_info, view_cart])
    assert ts.filter(["view_cart", "recommend_products"]).names == ["view_cart", "recommend_products"]
    assert ts.filter(lambda t: t.name.startswith("get")).names == ["get_product_info"]
    assert ts.filter("view_cart").names == ["view_cart"]
    with pytest.raises(ToolDefinitionError, match="'missing'"):
        ts.filter(["missing"])


def test_prefixed_renames_but_keeps_the_function():
    shop = ToolSet([recommend_products]).prefixed("shop_")
    assert shop.names == ["shop_recommend_products"]
    t = shop.get("shop_recommend_products")
    assert t is not None and t.fn is not None and t.fn("fruit") == "fruit"
    assert t.spec()["function"]["name"] == "shop_recommend_products"
    # The original set is unchanged.
    assert recommend_products.name == "recommend_products"


def test_merge_and_add_reject_duplicates():
    a = ToolSet([recommend_products])
    b = ToolSet([get_product_info])
    assert (a + b).names == ["recommend_products", "get_product_info"]
    assert a.merge(b, [view_cart]).names == ["recommend_products", "get_product_info", "view_cart"]
    with pytest.raises(ToolDefinitionError, match="duplicate tool name 'recommend_products'"):
        a + a
    # Prefixing resolves the clash.
    assert len(a + a.prefixed("v2_")) == 2


def test_suggest_close_matches():
    ts = ToolSet([recommend_products, get_product_info, view_cart])
    assert ts.suggest("recommend_product")[0] == "recommend_products"
    assert ts.suggest("get_prodct_info")[0] == "get_product_info"
    assert ts.suggest("book_flight_ticket_now") == []
