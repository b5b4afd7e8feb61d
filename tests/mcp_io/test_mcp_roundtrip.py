"""Round trip: kapibara's client -> ``kapibara mcp serve`` subprocess -> a ToolSet an agent runs."""

from __future__ import annotations

import json

import pytest
from mcp_helpers import KAPIBARA, TINY, alive

from kapibara.agent import Agent
from kapibara.demo import demo_toolset
from kapibara.errors import ToolDefinitionError
from kapibara.mcp import McpClient, tools_with_mcp_from_config
from kapibara.models.base import ToolCall
from kapibara.models.fake import FakeModel
from kapibara.tools import ToolSet, execute_call, tools_from_config


def call(name: str, **arguments) -> str:
    return f'<tool_call>\n{json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)}\n</tool_call>'


def test_served_demo_tools_run_in_an_agent_like_local_ones(home):
    local = demo_toolset()
    with McpClient([*KAPIBARA, "mcp", "serve", "--toolset", "demo"]) as server:
        remote = server.tools()
        assert remote.names == local.names
        assert remote.specs() == local.specs()  # the schemas survive the trip unchanged

        model = FakeModel([call("get_promotions", product_name="水果"), "水果有优惠。"])
        result = Agent(model, remote).run("水果有什么优惠？")
        assert [c.name for c in result.tool_calls] == ["get_promotions"]
        assert result.answer == "水果有优惠。"
        same_call = ToolCall("get_promotions", {"product_name": "水果"})
        # The observation through MCP is the one the local tool gives.
        assert result.tool_results[0].output == execute_call(local, same_call).output
        assert result.tool_results[0].ok

        # A model's bad arguments are caught on this side, before the server sees them.
        bad = execute_call(remote, ToolCall("get_promotions", {"product": "水果"}))
        assert bad.error_kind == "invalid_arguments" and "did you mean 'product_name'" in bad.output


def test_a_tools_file_with_mcp_entries():
    config = [
        {"name": "show", "description": "Show a value.", "target": "kapibara.tools.execute:format_output"},
        {"mcp": {"command": TINY, "prefix": "t_", "include": ["add", "pid"]}},
    ]
    tools, clients = tools_with_mcp_from_config({"tools": config}, source="tools.yaml")
    try:
        assert tools.names == ["show", "t_add", "t_pid"]
        assert execute_call(tools, ToolCall("t_add", {"a": 40, "b": 2})).output == "42"
        pid = int(execute_call(tools, ToolCall("t_pid", {})).output)
    finally:
        for client in clients:
            client.close()
    assert not alive(pid)


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ({"mcp": {"command": ["x"], "url": "http://h/mcp"}}, "give exactly one of 'command'"),
        ({"mcp": {"url": "ftp://h/mcp"}}, "must start with http://"),
        ({"mcp": {"command": ["x"], "colour": "red"}}, "'mcp.colour'"),
        ({"mcp": {"command": ["x"]}, "name": "n"}, "only the key 'mcp'"),
        ({"mcp": {"command": TINY, "include": ["nope"]}}, "'include': no tool named 'nope'"),
        ({"mcp": {"command": TINY}}, "duplicate tool name 'add'"),
    ],
)
def test_bad_mcp_entries_name_the_entry(entry, said):
    local = {"name": "add", "target": "kapibara.tools.execute:format_output"}
    with pytest.raises(ToolDefinitionError) as err:
        tools_with_mcp_from_config([local, entry], source="tools.yaml")
    assert err.value.message.startswith("tools.yaml: tool #2 (mcp): ") and said in err.value.message


def test_the_tools_layer_loader_points_to_the_mcp_one():
    with pytest.raises(ToolDefinitionError) as err:
        tools_from_config([{"mcp": {"command": ["x"]}}])
    assert "load_tools_with_mcp" in (err.value.hint or "")
    assert isinstance(tools_with_mcp_from_config([])[0], ToolSet)
