"""MCP (Model Context Protocol) in and out, with the official ``mcp`` SDK (the ``mcp`` extra).

- ``McpClient``: the tools of an MCP server (a command line over stdio, or a streamable
  HTTP URL) as a kapibara ``ToolSet``; ``mcp_tools`` for several servers at once.
- ``load_tools_with_mcp``: a YAML/JSON tools file whose entries may name MCP servers.
- ``kapibara.mcp.server``: a ``ToolSet`` (and knowledge-base search) served to MCP clients.

The SDK is imported only when a client or server is built, so ``import kapibara.mcp``
works without the extra.
"""

from kapibara.mcp.client import (
    McpClient,
    McpServerError,
    McpToolError,
    mcp_tools,
    parse_target,
    quiet_sdk_logs,
)
from kapibara.mcp.config import load_tools_with_mcp, tools_with_mcp_from_config

__all__ = [
    "McpClient",
    "McpServerError",
    "McpToolError",
    "load_tools_with_mcp",
    "mcp_tools",
    "parse_target",
    "quiet_sdk_logs",
    "tools_with_mcp_from_config",
]
