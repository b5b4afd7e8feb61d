"""Dropping optional numeric arguments the user never gave (a 0.5B habit: it invents a
budget, e.g. max_price=1000 for "有推荐吗？", and then finds nothing)."""

from __future__ import annotations

import pytest

from kapibara.agent.repair import drop_ungrounded, numbers_in
from kapibara.models.base import ToolCall
from kapibara.tools import ToolSet, tool


@tool
def recommend_products(category: str, scenario: str = "", max_price: float | None = None, limit: int = 3) -> str:
    """Recommend products.

    Args:
        category: category
        scenario: scenario
        max_price: budget
        limit: how many
    """
    return "ok"


@tool
def buy(product: str, quantity: int) -> str:
    """Buy.

    Args:
        product: name
        quantity: how many
    """
    return "ok"


TOOLS = ToolSet([recommend_products, buy])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("预算3000以内", {3000.0}),
        ("两千块以内的手机", {2000.0}),
        ("1.5万左右", {15000.0}),
        ("under 2k please", {2000.0}),
        ("五百元", {500.0}),
        ("一千二百元", {1200.0}),
        ("来十二瓶", {12.0}),
        ("我想买一款拍照好的手机", {1.0}),
    ],
)
def test_numbers_in_reads_digits_and_chinese_numerals(text, expected):
    assert expected <= numbers_in(text)


def test_invented_budget_is_dropped():
    calls = [ToolCall("recommend_products", {"category": "手机", "scenario": "拍照", "max_price": 1000, "limit": 3})]
    fixed, dropped = drop_ungrounded(calls, TOOLS, "我想买一款拍照好的手机，有推荐吗？")
    assert fixed[0].arguments == {"category": "手机", "scenario": "拍照", "limit": 3}  # 3 is the default
    assert dropped == ["recommend_products: max_price=1000 is not in the user's words"]


def test_stated_budget_is_kept_in_any_spelling():
    calls = [ToolCall("recommend_products", {"category": "手机", "max_price": 2000})]
    for text in ("两千以内的手机", "2000以内的手机", "2k以内的手机"):
        fixed, dropped = drop_ungrounded(calls, TOOLS, text)
        assert fixed[0].arguments["max_price"] == 2000 and dropped == []


def test_required_arguments_are_never_dropped():
    calls = [ToolCall("buy", {"product": "牛奶", "quantity": 7})]
    fixed, dropped = drop_ungrounded(calls, TOOLS, "买点牛奶")
    assert fixed[0].arguments == {"product": "牛奶", "quantity": 7} and dropped == []
