"""Stand-ins for the demo's 7 grocery tools: same names, parameters and docstrings shape,
tiny canned data. Tests use them so the agent tests do not depend on the demo catalog."""

from __future__ import annotations

import json

from kapibara.tools import ToolContext, ToolSet, tool

PRODUCTS = {
    "小米11 Ultra": {"price": 5999, "camera": "5000万像素三摄", "category": "手机"},
    "vivo X60 Pro": {"price": 4498, "camera": "蔡司光学镜头", "category": "手机"},
    "车厘子": {"price": 89.9, "origin": "智利", "category": "水果"},
    "蒙牛纯牛奶": {"price": 59.9, "shelf_life": "6个月", "category": "乳品"},
}


@tool
def recommend_products(
    category: str, scenario: str = "", max_price: float | None = None, limit: int = 3
) -> list[dict]:
    """按品类和使用场景推荐商品。

    Args:
        category: 商品品类，例如“手机”“水果”
        scenario: 使用场景或偏好，例如“拍照”
        max_price: 最高价格（元）
        limit: 返回数量
    """
    items = [
        {"name": n, "price": p["price"]}
        for n, p in PRODUCTS.items()
        if p["category"] == category and (max_price is None or p["price"] <= max_price)
    ]
    return items[:limit]


@tool
def get_product_info(product_name: str, properties: list[str]) -> dict:
    """查询商品的属性。

    Args:
        product_name: 商品名称
        properties: 要查询的属性，例如 ["price", "camera"]
    """
    if product_name not in PRODUCTS:
        raise ValueError(f"没有找到商品 {product_name}")
    return {k: PRODUCTS[product_name].get(k) for k in properties}


@tool
def get_promotions(product_name: str) -> str:
    """查询商品的优惠活动。

    Args:
        product_name: 商品名称
    """
    return f"{product_name}：满199减20"


@tool
def recommend_recipes(dish_or_ingredient: str, limit: int = 3) -> list[str]:
    """根据菜名或食材推荐菜谱。

    Args:
        dish_or_ingredient: 菜名或食材
        limit: 返回数量
    """
    return [f"{dish_or_ingredient}炒蛋", f"清蒸{dish_or_ingredient}"][:limit]


@tool
def add_to_cart(product_name: str, ctx: ToolContext, quantity: int = 1) -> str:
    """把商品加入购物车。

    Args:
        product_name: 商品名称
        quantity: 数量，1-99
    """
    if not 1 <= quantity <= 99:
        raise ValueError("数量必须在 1 到 99 之间")
    cart = ctx.state.setdefault("cart", {})
    cart[product_name] = cart.get(product_name, 0) + quantity
    return f"已加入购物车：{product_name} x{quantity}"


@tool
def view_cart(ctx: ToolContext) -> dict:
    """查看购物车。"""
    return dict(ctx.state.get("cart", {}))


@tool
def get_weather(city: str, date: str = "today") -> str:
    """查询城市的天气。

    Args:
        city: 城市名
        date: 日期，默认今天
    """
    return f"{city} {date}：晴，25°C"


def grocery_tools() -> ToolSet:
    """The 7 stand-in tools."""
    return ToolSet(
        [
            recommend_products,
            get_product_info,
            get_promotions,
            recommend_recipes,
            add_to_cart,
            view_cart,
            get_weather,
        ]
    )


def call(name: str, **arguments) -> str:
    """A strict Qwen tool-call block, as the model writes it."""
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)}\n</tool_call>'
