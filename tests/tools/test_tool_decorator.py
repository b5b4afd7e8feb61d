"""@tool: the schema a model sees comes from type hints and the docstring."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from kapibara.errors import ToolDefinitionError
from kapibara.tools import Tool, ToolContext, tool


class Address(BaseModel):
    city: str
    street: str = ""


class Color(Enum):
    RED = "red"
    GREEN = "green"


def params(t: Tool) -> dict:
    return t.spec()["function"]["parameters"]


def test_spec_has_openai_shape_and_description_from_first_paragraph():
    @tool
    def get_weather(city: str, date: str = "today") -> str:
        """Look up the weather of a city.

        More details that are not part of the description.

        Args:
            city: The city name.
            date: Which day.
        """
        return city

    spec = get_weather.spec()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "get_weather"
    assert spec["function"]["description"] == "Look up the weather of a city."
    assert params(get_weather) == {
        "type": "object",
        "properties": {
            "city": {"description": "The city name.", "type": "string"},
            "date": {"description": "Which day.", "type": "string", "default": "today"},
        },
        "required": ["city"],
    }


def test_types_map_to_json_schema():
    @tool
    def f(
        a: int,
        b: float,
        c: bool,
        d: list[str],
        e: dict,
        g: Literal["fast", "slow"],
        h: float | None = None,
        i: Color = Color.RED,
        j: Address | None = None,
    ) -> None:
        """Do things."""

    props = params(f)["properties"]
    assert props["a"] == {"type": "integer"}
    assert props["b"] == {"type": "number"}
    assert props["c"] == {"type": "boolean"}
    assert props["d"] == {"type": "array", "items": {"type": "string"}}
    assert props["e"] == {"type": "object"}
    assert props["g"] == {"type": "string", "enum": ["fast", "slow"]}
    # Optional with a None default: the model simply leaves it out.
    assert props["h"] == {"type": "number"}
    assert props["i"] == {"type": "string", "enum": ["red", "green"], "default": "red"}
    assert props["j"]["type"] == "object"
    assert props["j"]["properties"]["city"] == {"type": "string"}
    assert "title" not in props["j"]
    assert params(f)["required"] == ["a", "b", "c", "d", "e", "g"]


def test_optional_without_default_is_required_and_nullable():
    @tool
    def f(x: int | None) -> None:
        """X."""

    assert params(f)["properties"]["x"] == {"type": ["integer", "null"]}
    assert params(f)["required"] == ["x"]


def test_chinese_docstring_with_args_section():
    @tool
    def add_to_cart(product_name: str, quantity: int = 1) -> str:
        """把商品加入购物车。

        Args:
            product_name: 商品名称，例如“车厘子”
            quantity: 购买数量，
                1 到 99 之间
        """
        return product_name

    fn = add_to_cart.spec()["function"]
    assert fn["description"] == "把商品加入购物车。"
    assert fn["parameters"]["properties"]["product_name"]["description"] == "商品名称，例如“车厘子”"
    assert fn["parameters"]["properties"]["quantity"]["description"] == "购买数量，1 到 99 之间"


def test_chinese_section_header_and_fullwidth_colon():
    @tool
    def get_promotions(product_name: str) -> str:
        """查询商品的优惠活动。

        参数：
            product_name (str)：商品名称
        """
        return product_name

    prop = params(get_promotions)["properties"]["product_name"]
    assert prop["description"] == "商品名称"


def test_annotated_description_and_constraints():
    @tool
    def f(
        q: Annotated[int, Field(ge=1, le=99, description="数量")] = 1,
        name: Annotated[str, "the name"] = "x",
    ) -> None:
        """F."""

    props = params(f)["properties"]
    assert props["q"] == {"description": "数量", "type": "integer", "minimum": 1, "maximum": 99, "default": 1}
    assert props["name"]["description"] == "the name"


def test_missing_type_hint_raises_naming_function_and_parameter():
    with pytest.raises(ToolDefinitionError) as info:

        @tool
        def lookup(city, date: str = "today"):  # type: ignore[no-untyped-def]
            """Lookup."""

    message = str(info.value)
    assert "lookup" in message and "'city'" in message
    assert "type hint" in message


def test_var_kwargs_rejected():
    with pytest.raises(ToolDefinitionError, match="kwargs"):

        @tool
        def f(**kw: str) -> None:
            """F."""


def test_context_parameter_is_excluded_from_schema():
    @tool
    def view_cart(ctx: ToolContext) -> dict:
        """Show the cart."""
        return ctx.state.get("cart", {})

    assert view_cart.context_param == "ctx"
    assert params(view_cart)["properties"] == {}
    assert "required" not in params(view_cart)


def test_decorated_function_stays_callable_and_options_apply():
    @tool(name="double_it", description="Doubles.", timeout_s=2.5)
    def double(x: int) -> int:
        """Ignored docstring."""
        return 2 * x

    assert double(21) == 42
    assert double.name == "double_it"
    assert double.description == "Doubles."
    assert double.timeout_s == 2.5


def test_no_docstring_falls_back_to_name():
    @tool
    def ping() -> str:
        return "pong"

    assert ping.description == "ping"
    assert ping() == "pong"


def test_multiline_summary_and_sections_after_args():
    @tool
    def search(query: str, limit: int = 5) -> list:
        """Search the product catalog
        by keyword.

        Args:
            query (str): Words to look for,
                in any language.
            limit: At most this many results.

        Returns:
            The matching products.
        """
        return []

    fn = search.spec()["function"]
    assert fn["description"] == "Search the product catalog by keyword."
    props = fn["parameters"]["properties"]
    assert props["query"]["description"] == "Words to look for, in any language."
    assert props["limit"]["description"] == "At most this many results."
