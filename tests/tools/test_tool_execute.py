"""execute_call / execute_calls: model-caused failures become observations, never raise."""

from __future__ import annotations

import asyncio
import time

import pytest

from kapibara.models.base import ToolCall
from kapibara.tools import ToolContext, ToolSet, execute_call, execute_calls, tool


@tool
def add_to_cart(product_name: str, ctx: ToolContext, quantity: int = 1) -> dict:
    """Add to cart.

    Args:
        product_name: name
        quantity: how many
    """
    cart = ctx.state.setdefault("cart", {})
    cart[product_name] = cart.get(product_name, 0) + quantity
    return {"cart": cart}


@tool
def nap(seconds: float) -> str:
    """Sleep."""
    time.sleep(seconds)
    return f"slept {seconds}"


@tool
async def async_nap(seconds: float) -> dict:
    """Sleep asynchronously."""
    await asyncio.sleep(seconds)
    return {"slept": seconds, "名字": "异步"}


@tool(timeout_s=0.2)
def hang() -> str:
    """Never answers in time."""
    time.sleep(2)
    return "late"


@tool
def broken(product_name: str) -> str:
    """Raises."""
    raise LookupError(f"catalog offline while looking up {product_name}")


@tool(timeout_s=5)
def times_out_itself(url: str) -> str:
    """Its own I/O gives up first (as an MCP request past its read timeout does)."""
    raise TimeoutError(f"{url} took longer than 1 s")


TOOLS = ToolSet([add_to_cart, nap, async_nap, hang, broken, times_out_itself])


def test_success_injects_context_and_mutates_state():
    ctx = ToolContext(session_id="s1", user_id="u1")
    r1 = execute_call(TOOLS, ToolCall("add_to_cart", {"product_name": "车厘子", "quantity": "2"}), ctx)
    r2 = execute_call(TOOLS, ToolCall("add_to_cart", {"product_name": "车厘子"}), ctx)
    assert r1.ok and r2.ok and r2.error_kind is None
    assert ctx.state == {"cart": {"车厘子": 3}}
    # Non-string values are JSON with Chinese kept readable.
    assert r2.output == '{"cart": {"车厘子": 3}}'
    assert r2.value == {"cart": {"车厘子": 3}}
    assert r2.to_message()["role"] == "tool" and r2.to_message()["content"] == r2.output


def test_string_output_is_passed_as_is():
    r = execute_call(TOOLS, ToolCall("nap", {"seconds": 0}))
    assert r.output == "slept 0.0"


def test_unknown_tool_names_close_matches():
    r = execute_call(TOOLS, ToolCall("add_to_chart", {}))
    assert r.error_kind == "unknown_tool" and not r.ok
    assert "add_to_chart" in r.output and "add_to_cart" in r.output
    zh = execute_call(TOOLS, ToolCall("add_to_chart", {}), language="zh")
    assert "没有名为" in zh.output and "add_to_cart" in zh.output


def test_invalid_arguments_observation_lists_problems():
    r = execute_call(TOOLS, ToolCall("add_to_cart", {"quantity": "lots"}))
    assert r.error_kind == "invalid_arguments"
    assert "parameter 'product_name': is required but missing" in r.output
    assert "parameter 'quantity': must be an integer" in r.output


def test_tool_exception_becomes_message_not_traceback():
    r = execute_call(TOOLS, ToolCall("broken", {"product_name": "牛奶"}))
    assert r.error_kind == "tool_error"
    assert "catalog offline while looking up 牛奶" in r.output
    assert "Traceback" not in r.output
    assert r.error is not None and r.error.startswith("LookupError")


def test_timeout_uses_the_tools_own_limit():
    start = time.perf_counter()
    r = execute_call(TOOLS, ToolCall("hang", {}))
    elapsed = time.perf_counter() - start
    assert r.error_kind == "timeout"
    assert "0.2" in r.output
    assert elapsed < 1.0


def test_a_tool_s_own_timeout_is_a_timeout_too():
    # The MCP client's read timeout and execute_call's wait both ended at 1 s; whichever
    # came first decided the kind, and under load the tool's TimeoutError won as a
    # "tool_error" (a CI run failed on it).
    r = execute_call(TOOLS, ToolCall("times_out_itself", {"url": "http://slow"}))
    assert r.error_kind == "timeout"
    assert "took longer than 1 s" in r.error and "times_out_itself" in r.output


def test_async_tool_runs():
    r = execute_call(TOOLS, ToolCall("async_nap", {"seconds": 0.01}))
    assert r.ok and r.value == {"slept": 0.01, "名字": "异步"}


@pytest.mark.parametrize("name", ["nap", "async_nap"])
def test_calls_run_concurrently_and_keep_order(name):
    calls = [ToolCall(name, {"seconds": 0.3}, id="a"), ToolCall(name, {"seconds": 0.31}, id="b")]
    start = time.perf_counter()
    results = execute_calls(TOOLS, calls)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.55
    assert [r.call.id for r in results] == ["a", "b"]
    assert all(r.ok for r in results)


def test_mixed_batch_never_raises():
    calls = [
        ToolCall("nope", {}),
        ToolCall("broken", {"product_name": "x"}),
        ToolCall("nap", {"seconds": 0}),
    ]
    kinds = [r.error_kind for r in execute_calls(TOOLS, calls)]
    assert kinds == ["unknown_tool", "tool_error", None]
    assert execute_calls(TOOLS, []) == []


def test_kapibara_errors_from_a_tool_raise_spec_only_tools_do_not():
    from kapibara.errors import DataError
    from kapibara.tools import Tool

    @tool
    def catalog_lookup(product_name: str) -> str:
        """Needs the catalog file."""
        raise DataError("catalog.db is missing", hint="run scripts/build_catalog.py")

    specs_only = ToolSet([Tool("f", "F.", {"type": "object", "properties": {}})])
    spec_only = execute_call(specs_only, ToolCall("f", {}))
    assert spec_only.error_kind == "tool_error" and "no implementation" in spec_only.output
    with pytest.raises(DataError, match="catalog.db"):
        execute_call(ToolSet([catalog_lookup]), ToolCall("catalog_lookup", {"product_name": "x"}))
    # An unknown name is still the model's mistake, even in a spec-only set.
    assert execute_call(specs_only, ToolCall("g", {})).error_kind == "unknown_tool"


@tool
def slow_add(product_name: str, ctx: ToolContext) -> int:
    """Read-modify-write the cart slowly, as a database round trip would."""
    count = ctx.state.get("count", 0)
    time.sleep(0.05)
    ctx.state["count"] = count + 1
    ctx.state.setdefault("order", []).append(product_name)
    return ctx.state["count"]


def test_state_changing_calls_do_not_race_and_keep_order():
    ts = ToolSet([slow_add, nap])
    ctx = ToolContext()
    calls = [ToolCall("slow_add", {"product_name": n}) for n in ("a", "b", "c")]
    calls.insert(1, ToolCall("nap", {"seconds": 0.1}))
    results = execute_calls(ts, calls, ctx)
    assert ctx.state == {"count": 3, "order": ["a", "b", "c"]}
    assert [r.call.name for r in results] == ["slow_add", "nap", "slow_add", "slow_add"]
    assert [r.value for r in results if r.call.name == "slow_add"] == [1, 2, 3]
