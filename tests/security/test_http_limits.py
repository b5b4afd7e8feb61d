"""HTTP tools reach only their allowed hosts (redirects included); every tool has a
timeout and an output cap; side effects are declared in YAML, by HTTP method and by MCP
annotations."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from kapibara.mcp.client import declares_side_effect
from kapibara.models.base import ToolCall
from kapibara.tools import ToolSet, execute_call, tool, tools_from_config


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.startswith("/hop"):  # a redirect to the same server under another host name
            self.send_response(302)
            port = self.server.server_address[1]  # type: ignore[index]
            self.send_header("Location", f"http://localhost:{port}/data")
            self.end_headers()
            return
        if self.path.startswith("/big"):
            body = b"x" * 20000
        elif self.path.startswith("/slow"):
            time.sleep(2)
            body = b"late"
        else:
            body = b"secret data"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()


def _http_tool(url: str, **extra: object) -> ToolSet:
    entry = {"name": "fetch", "description": "fetch", "parameters": {"type": "object", "properties": {}},
             "http": {"url": url, "method": "GET", **extra.pop("http", {})}, **extra}  # type: ignore[dict-item]
    return tools_from_config([entry])


def test_the_tool_reaches_its_own_host(server):
    tools = _http_tool(f"http://127.0.0.1:{server}/data")
    result = execute_call(tools, ToolCall("fetch", {}))
    assert result.ok and result.output == "secret data"


def test_a_redirect_to_another_host_is_refused(server):
    tools = _http_tool(f"http://127.0.0.1:{server}/hop")
    result = execute_call(tools, ToolCall("fetch", {}))
    assert result.error_kind == "tool_error"
    assert "not on this tool's allow_hosts" in result.output and "localhost" in result.output


def test_allow_hosts_lets_the_redirect_through(server):
    tools = _http_tool(f"http://127.0.0.1:{server}/hop", http={"allow_hosts": ["127.0.0.1", "localhost"]})
    result = execute_call(tools, ToolCall("fetch", {}))
    assert result.ok and result.output == "secret data"


def test_a_url_placeholder_cannot_leave_the_allowlist(server):
    entry = {"name": "fetch", "description": "fetch",
             "parameters": {"type": "object", "properties": {"host": {"type": "string"}}},
             "http": {"url": "http://{host}/data", "method": "GET", "allow_hosts": ["api.example.com"]}}
    result = execute_call(tools_from_config([entry]), ToolCall("fetch", {"host": f"127.0.0.1:{server}"}))
    assert result.error_kind == "tool_error" and "allow_hosts" in result.output


def test_output_is_capped_with_a_marker(server):
    tools = _http_tool(f"http://127.0.0.1:{server}/big", max_output_chars=100)
    result = execute_call(tools, ToolCall("fetch", {}), language="en")
    assert result.output.startswith("x" * 100) and "x" * 101 not in result.output
    assert "[output truncated: showing the first 100 of 20000 characters]" in result.output


def test_the_default_cap_applies_to_python_tools_too():
    @tool
    def dump() -> str:
        """Dump a lot."""
        return "y" * 9000

    out = execute_call(ToolSet([dump]), ToolCall("dump", {}), language="zh").output
    assert len(out) < 8100 and "已截断" in out


def test_http_timeout_is_an_observation(server):
    tools = _http_tool(f"http://127.0.0.1:{server}/slow", http={"timeout_s": 0.3})
    result = execute_call(tools, ToolCall("fetch", {}))
    assert not result.ok and result.error_kind in ("tool_error", "timeout")


def test_side_effects_declared_in_config_and_by_method():
    entries = [
        {"name": "get", "parameters": {"type": "object"}, "http": {"url": "https://a.example/x", "method": "GET"}},
        {"name": "post", "parameters": {"type": "object"}, "http": {"url": "https://a.example/x", "method": "POST"}},
        {"name": "post_read", "parameters": {"type": "object"}, "side_effect": False,
         "http": {"url": "https://a.example/x", "method": "POST"}},
        {"name": "py", "target": "json:dumps", "parameters": {"type": "object"}, "side_effect": True},
    ]
    tools = tools_from_config(entries)
    assert {t.name: t.side_effect for t in tools} == {"get": False, "post": True, "post_read": False, "py": True}


def test_decorator_declares_side_effects():
    @tool(side_effect=True, max_output_chars=50)
    def order(item: str) -> str:
        """Order it.

        Args:
            item: what
        """
        return item

    assert order.side_effect and order.max_output_chars == 50


def test_mcp_annotations_decide_side_effects():
    assert declares_side_effect({"destructiveHint": True})
    assert declares_side_effect({"readOnlyHint": False})
    assert not declares_side_effect({"readOnlyHint": True})
    assert not declares_side_effect(None)
