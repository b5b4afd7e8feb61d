"""A kapibara ``ToolSet`` served to MCP clients, over stdio or streamable HTTP.

    server = build_server(demo_toolset(), knowledge_base=KnowledgeBase.open("policies"))
    serve(server, transport="http", port=8000)            # or serve_toolset(...) in one call

Built on the SDK's low-level ``Server``: each tool is listed with the JSON schema kapibara
already has (no Python signatures to rewrite), and each call runs through kapibara's own
executor, so arguments are validated and coerced exactly as for the agent and a failing
tool gives the same observation, returned as an ``isError`` result the client's model
can act on. One ``ToolContext`` serves the process (stdio gives each client its own
process; over HTTP the clients share it, e.g. one cart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from kapibara import __version__
from kapibara.errors import ConfigError, KapibaraError, require
from kapibara.models.base import ToolCall
from kapibara.tools import Tool, ToolContext, ToolSet, execute_call, tool

if TYPE_CHECKING:
    from mcp.server import Server

    from kapibara.rag.knowledge_base import KnowledgeBase, Mode

Transport = Literal["stdio", "http"]

KB_TOOL = "search_knowledge_base"


def knowledge_base_tool(kb: KnowledgeBase, *, mode: Mode = "hybrid", budget_tokens: int = 1200) -> Tool:
    """``search_knowledge_base(query, k)``: numbered passages from ``kb``, best first."""
    from kapibara.rag.context import build_context

    def search_knowledge_base(query: str, k: Annotated[int, Field(ge=1, le=20)] = 4) -> str:
        """Search the knowledge base (documents, policies, manuals) and return numbered passages with their sources.

        Args:
            query: what to look for, in the user's language
            k: how many passages to return, 1 to 20
        """
        hits = kb.search(query, k=k, mode=mode)
        if not hits:
            return "no matching documents"
        return build_context(hits, budget_tokens=budget_tokens).text

    return tool(name=KB_TOOL)(search_knowledge_base)


def build_server(
    tools: ToolSet,
    *,
    knowledge_base: KnowledgeBase | None = None,
    kb_mode: Mode = "hybrid",
    name: str = "kapibara",
    instructions: str | None = None,
    language: str = "en",
) -> Server[Any]:
    """An MCP ``Server`` listing ``tools`` (plus ``search_knowledge_base`` when a knowledge
    base is given) and running calls with kapibara's executor."""
    require("mcp", "mcp", "mcp")
    import anyio.to_thread
    import mcp_types as types
    from mcp.server import Server, ServerRequestContext
    from mcp.shared.exceptions import MCPError
    from mcp_types import INTERNAL_ERROR

    if knowledge_base is not None:
        if KB_TOOL in tools:
            raise ConfigError(f"the tool set already has a tool named {KB_TOOL!r}", hint="rename that tool")
        tools = tools + [knowledge_base_tool(knowledge_base, mode=kb_mode)]
    listing = [
        types.Tool(name=t.name, description=t.description or None, input_schema=t.parameters) for t in tools
    ]
    ctx = ToolContext(session_id="mcp")

    async def list_tools(
        _ctx: ServerRequestContext[Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listing)

    async def call_tool(_ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        call = ToolCall(params.name, dict(params.arguments or {}))
        try:
            # The executor blocks (a thread per call, with the tool's timeout): keep the loop free.
            result = await anyio.to_thread.run_sync(
                lambda: execute_call(tools, call, ctx, language=language), abandon_on_cancel=True
            )
        except KapibaraError as exc:  # the server's own setup is broken: no model can fix it
            raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.output)], is_error=not result.ok
        )

    def input_schema(tool_name: str) -> dict[str, Any] | None:
        found = tools.get(tool_name)
        return found.parameters if found is not None else None

    return Server(
        name,
        version=__version__,
        instructions=instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=input_schema,
    )


def serve(
    server: Server[Any],
    *,
    transport: Transport = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
) -> None:
    """Serve until the client hangs up (stdio) or the process is interrupted (HTTP)."""
    require("mcp", "mcp", "mcp")
    import anyio

    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async def run_stdio() -> None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(run_stdio)
    elif transport == "http":
        import uvicorn

        app = server.streamable_http_app(streamable_http_path=path, host=host)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    else:
        raise ConfigError(f"unknown MCP transport {transport!r}", hint="use stdio or http")


def serve_toolset(tools: ToolSet, *, transport: Transport = "stdio", port: int = 8000, **options: Any) -> None:
    """``build_server(tools, **options)`` then ``serve`` it: the whole server in one call."""
    serve(build_server(tools, **options), transport=transport, port=port)
