"""Tool.validate: coerce safe things, fill defaults, explain every problem to the model."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field

from kapibara.errors import KapibaraError, ToolDefinitionError
from kapibara.tools import Tool, ToolArgumentError, tool


class Item(BaseModel):
    name: str
    qty: int = 1


@tool
def add_to_cart(product_name: str, quantity: Annotated[int, Field(ge=1, le=99)] = 1) -> str:
    """Add a product to the cart."""
    return f"{product_name} x{quantity}"


@tool
def order(items: list[Item], note: str | None = None) -> int:
    """Order items."""
    return sum(i.qty for i in items)


def problems(tool_: Tool, args: object) -> list[str]:
    with pytest.raises(ToolArgumentError) as info:
        tool_.validate(args)
    return info.value.problems


def test_argument_error_is_model_fixable_not_a_developer_error():
    assert not issubclass(ToolArgumentError, KapibaraError)


def test_defaults_filled_and_numeric_strings_coerced():
    assert add_to_cart.validate({"product_name": "车厘子"}) == {"product_name": "车厘子", "quantity": 1}
    assert add_to_cart.validate({"product_name": "车厘子", "quantity": "3"})["quantity"] == 3


def test_bound_violation_message():
    assert problems(add_to_cart, {"product_name": "x", "quantity": 100}) == [
        "parameter 'quantity': must be <= 99"
    ]


def test_missing_and_wrong_type_listed_together():
    found = problems(add_to_cart, {"quantity": "many"})
    assert "parameter 'product_name': is required but missing" in found
    assert "parameter 'quantity': must be an integer, got \"many\"" in found


def test_fractional_number_not_silently_truncated():
    assert problems(add_to_cart, {"product_name": "x", "quantity": 2.5}) == [
        "parameter 'quantity': must be a whole number, got 2.5"
    ]


def test_number_is_not_turned_into_a_string():
    assert problems(add_to_cart, {"product_name": 11}) == ["parameter 'product_name': must be a string, got 11"]


def test_unknown_parameter_suggests_the_close_name():
    (msg,) = problems(add_to_cart, {"product_name": "x", "quantiy": 2})
    assert msg.startswith("unknown parameter 'quantiy' (did you mean 'quantity'?)")
    assert "product_name, quantity" in msg


def test_arguments_must_be_an_object():
    assert problems(add_to_cart, ["x"]) == ['arguments must be a JSON object, got ["x"]']


def test_pydantic_model_parameter_validated_into_objects_with_nested_paths():
    args = order.validate({"items": [{"name": "milk", "qty": "2"}]})
    assert isinstance(args["items"][0], Item) and args["items"][0].qty == 2
    assert problems(order, {"items": [{"qty": 1}]}) == ["parameter 'items[0].name': is required but missing"]


def test_schema_tool_validation_enum_bounds_and_absent_optionals():
    t = Tool(
        name="book",
        description="Book a table.",
        parameters={
            "type": "object",
            "properties": {
                "city": {"type": "string", "enum": ["北京", "上海"]},
                "people": {"type": "integer", "minimum": 1, "default": 2},
                "note": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["city"],
        },
    )
    # Schema defaults are filled; optionals without a default stay absent.
    assert t.validate({"city": "北京"}) == {"city": "北京", "people": 2}
    found = problems(t, {"city": "广州", "people": 0, "tags": "a"})
    assert "parameter 'city': must be one of '北京' or '上海', got \"广州\"" in found
    assert "parameter 'people': must be >= 1" in found
    assert any(p.startswith("parameter 'tags': must be a list") for p in found)


def test_bfcl_style_types_accepted():
    t = Tool("f", "F.", {"type": "dict", "properties": {"x": {"type": "float"}, "y": {"type": "tuple", "items": {"type": "integer"}}}, "required": ["x"]})
    assert t.spec()["function"]["parameters"]["type"] == "object"
    assert t.validate({"x": 1, "y": [1, 2]}) == {"x": 1.0, "y": [1, 2]}


def test_bad_parameters_schema_is_a_definition_error():
    with pytest.raises(ToolDefinitionError, match="type 'object'"):
        Tool("f", "F.", {"type": "string"})
    with pytest.raises(ToolDefinitionError, match="unknown type"):
        Tool("g", "G.", {"type": "object", "properties": {"x": {"type": "wibble"}}}).validate({})
    with pytest.raises(ToolDefinitionError, match="invalid tool name"):
        Tool("two words", "F.", {"type": "object"})


def test_string_defaults_in_hand_written_schemas_are_coerced():
    t = Tool("f", "F.", {"type": "object", "properties": {"flag": {"type": "boolean", "default": "false"}}})
    assert t.validate({}) == {"flag": False}
