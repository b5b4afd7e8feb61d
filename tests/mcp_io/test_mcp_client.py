"""kapibara's MCP client against a real server process (tiny_server.py), stdio and HTTP."""

from __future__ import annotations

import time

import pytest
from mcp_helpers import TINY, alive

from kapibara.errors import KapibaraError, ToolDefinitionError
from kapibara.mcp import McpClient, McpServerError, parse_target
from kapibara.models.base import ToolCall
from kapibara.tools import execute_call, execute_calls


@pytest.fixture(scope="module")
def tiny():
    with McpClient(TINY) as client:
        yield client


def test_stdio_server_tools_become_a_toolset(tiny):
    tools = tiny.tools()
    assert tools.names == ["add", "shout", "fail", "sleep", "crash", "pid"]
    add = tools.get("add")
    assert add.description == "Add two integers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"] == {"type": "integer"}
    assert tools.get("crash").parameters == {"type": "object", "properties": {}}
    assert tiny.tools(prefix="tiny_").names[0] == "tiny_add"


def test_a_call_returns_the_text_after_kapibara_validates_the_arguments(tiny):
    tools = tiny.tools()
    ok = execute_call(tools, ToolCall("add", {"a": 2, "b": "3"}))  # "3" coerced as for any tool
    assert ok.ok and ok.output == "5"
    bad = execute_call(tools, ToolCall("add", {"a": 2, "c": 1}))
    assert bad.error_kind == "invalid_arguments"
    assert "parameter 'b': is required but missing" in bad.output
    assert "unknown parameter 'c'" in bad.output


def test_an_is_error_result_is_an_observation_the_model_can_fix(tiny):
    result = execute_call(tiny.tools(), ToolCall("fail", {"message": "boom"}))
    assert result.error_kind == "tool_error"
    assert "failed: boom" in result.output


def test_calls_from_several_threads_share_one_session(tiny):
    calls = [ToolCall("sleep", {"seconds": 1}) for _ in range(3)] + [ToolCall("shout", {"text": "hi"})]
    t0 = time.perf_counter()
    results = execute_calls(tiny.tools(), calls)
    assert [r.output for r in results] == ["slept", "slept", "slept", "HI"]
    assert time.perf_counter() - t0 < 2.8  # concurrent, not 3 s in a row


def test_a_slow_call_times_out_as_an_observation():
    with McpClient(TINY, timeout_s=1) as client:
        result = execute_call(client.tools(), ToolCall("sleep", {"seconds": 5}))
        assert result.error_kind == "timeout", result.output
        # The session survives a timed-out call.
        assert execute_call(client.tools(), ToolCall("add", {"a": 1, "b": 1})).output == "2"


def test_a_server_that_dies_mid_session_is_one_clear_error():
    with McpClient(TINY) as client:
        tools = client.tools()
        with pytest.raises(McpServerError) as err:
            execute_call(tools, ToolCall("crash", {}))
        assert "closed the connection" in str(err.value) and "\n" not in str(err.value)
        with pytest.raises(McpServerError):  # and stays dead, clearly
            client.call_tool("add", {"a": 1, "b": 2})


def test_close_stops_the_server_process():
    client = McpClient(TINY).connect()
    pid = int(client.call_tool("pid"))
    assert alive(pid)
    client.close()
    assert not alive(pid)
    with pytest.raises(McpServerError, match="closed"):
        client.call_tool("pid")


def test_a_schema_kapibara_cannot_use_is_a_developer_error():
    with McpClient([*TINY, "--bad-schema"]) as client, pytest.raises(ToolDefinitionError) as err:
        client.tools()
    assert "tool 'broken'" in err.value.message and "enum" in err.value.message


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("no-such-command-kapibara", "command not found: no-such-command-kapibara"),
        (f"{TINY[0]} -m no_such_module_kapibara", "No module named no_such_module_kapibara"),
        (f"{TINY[0]} -c pass", "exited before the MCP handshake"),
        ("http://127.0.0.1:9/mcp", "cannot start MCP server http://127.0.0.1:9/mcp"),
    ],
)
def test_a_server_that_does_not_start_is_one_clear_error(target, said):
    with pytest.raises(McpServerError) as err:
        McpClient(target, connect_timeout_s=20).connect()
    assert isinstance(err.value, KapibaraError) and err.value.hint
    assert said in err.value.message and "\n" not in err.value.message


def test_a_server_that_never_answers_times_out():
    t0 = time.perf_counter()
    with pytest.raises(McpServerError, match="did not answer within 1 s"):
        McpClient([TINY[0], "-c", "import time; time.sleep(60)"], connect_timeout_s=1).connect()
    assert time.perf_counter() - t0 < 15


def test_streamable_http_server(http_server):
    url = http_server([*TINY, "--http", "{port}"])
    with McpClient(url) as client:
        tools = client.tools()
        assert "shout" in tools
        assert execute_call(tools, ToolCall("shout", {"text": "over http"})).output == "OVER HTTP"
        assert execute_call(tools, ToolCall("fail", {})).error_kind == "tool_error"


def test_targets_are_urls_or_command_lines():
    assert parse_target("http://h:1/mcp") == "http://h:1/mcp"
    assert parse_target('python -m srv --name "a b"') == ["python", "-m", "srv", "--name", "a b"]
    assert parse_target(["python", "srv.py"]) == ["python", "srv.py"]
    with pytest.raises(McpServerError, match="empty"):
        parse_target("  ")
