"""A tiny MCP server written with the SDK's low-level ``Server``, for kapibara's client tests.

    python tiny_server.py                      # stdio
    python tiny_server.py --http PORT          # streamable HTTP on 127.0.0.1:PORT/mcp
    python tiny_server.py --bad-schema         # also lists a tool whose schema is not valid

Tools: ``add(a, b)``, ``shout(text)``, ``fail(message)`` (an ``isError`` result),
``sleep(seconds)``, ``crash()`` (the process exits mid-call), ``pid()``.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

TOOLS = [
    types.Tool(
        name="add",
        description="Add two integers.",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    ),
    types.Tool(
        name="shout",
        description="Upper-case a text.",
        input_schema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    ),
    types.Tool(
        name="fail",
        description="Always fails with the given message.",
        input_schema={"type": "object", "properties": {"message": {"type": "string"}}},
    ),
    types.Tool(
        name="sleep",
        description="Sleep some seconds.",
        input_schema={"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]},
    ),
    types.Tool(name="crash", description="Exit the server process.", input_schema={"type": "object"}),
    types.Tool(name="pid", description="The server's process id.", input_schema={"type": "object"}),
]
# An enum that is not a list: kapibara cannot build a validator from it.
BAD = types.Tool(
    name="broken",
    description="A tool whose schema is wrong.",
    input_schema={"type": "object", "properties": {"size": {"type": "string", "enum": "small"}}},
)


def text(value: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=value)], is_error=error)


def build(bad_schema: bool) -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[*TOOLS, BAD] if bad_schema else TOOLS)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        args = params.arguments or {}
        if params.name == "add":
            return text(str(args["a"] + args["b"]))
        if params.name == "shout":
            return text(str(args["text"]).upper())
        if params.name == "fail":
            return text(f"failed: {args.get('message', '')}", error=True)
        if params.name == "sleep":
            await anyio.sleep(float(args["seconds"]))
            return text("slept")
        if params.name == "crash":
            os._exit(3)
        if params.name == "pid":
            return text(str(os.getpid()))
        return text(f"unknown tool {params.name}", error=True)

    return Server("tiny", on_list_tools=list_tools, on_call_tool=call_tool)


async def serve_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=0, help="serve streamable HTTP on this port")
    parser.add_argument("--bad-schema", action="store_true")
    parser.add_argument("--slow-start", type=float, default=0.0, help="sleep before serving")
    args = parser.parse_args()
    time.sleep(args.slow_start)
    server = build(args.bad_schema)
    if args.http:
        import uvicorn

        uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=args.http, log_level="warning")
    else:
        anyio.run(serve_stdio, server)


if __name__ == "__main__":
    main()
