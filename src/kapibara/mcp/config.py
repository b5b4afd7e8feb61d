"""Tool files (YAML/JSON) that also name MCP servers: an ``mcp:`` entry beside the tools.

    tools:
      - name: get_weather
        target: mypackage.weather:get_weather
      - mcp: {command: [python, -m, my_server], prefix: fs_}
      - mcp: {url: http://127.0.0.1:8000/mcp, include: [search]}

``kapibara.tools.load_tools`` reads the file's own tools (layer ``tools`` knows nothing of
MCP); this loader hands those entries to it and connects to each server, so the MCP SDK
is needed only when the file has an ``mcp:`` entry. MCP tools come after the file's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kapibara.errors import ToolDefinitionError
from kapibara.mcp.client import McpClient
from kapibara.tools import ToolSet
from kapibara.tools import tools_from_config as local_tools_from_config
from kapibara.tools.config import read_tools_file

_HINT = "see docs/mcp.md, 'In a tools file'"


class McpEntry(BaseModel):
    """One ``mcp:`` entry: a server and which of its tools to take."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] | str | None = None
    url: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    prefix: str = ""
    include: list[str] | None = None
    timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _one_target(self) -> McpEntry:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (a command line) or 'url'")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("'url' must start with http:// or https://")
        return self


def load_tools_with_mcp(path: str | Path) -> tuple[ToolSet, list[McpClient]]:
    """Read a tools file whose entries may include ``mcp:`` servers.

    Returns the tools and the connected clients (close them when done; open ones are
    closed at exit). A bad file raises ``ToolDefinitionError`` naming the entry.
    """
    return tools_with_mcp_from_config(read_tools_file(path), source=str(path))


def tools_with_mcp_from_config(data: Any, source: str = "<config>") -> tuple[ToolSet, list[McpClient]]:
    """``load_tools_with_mcp`` for already-parsed data (a list, or ``{"tools": [...]}``)."""
    items = data["tools"] if isinstance(data, dict) and "tools" in data else data
    if not isinstance(items, list):
        return local_tools_from_config(data, source), []  # it words the error
    servers = [(i, e) for i, e in enumerate(items) if isinstance(e, dict) and "mcp" in e]
    tools = local_tools_from_config([e for e in items if not (isinstance(e, dict) and "mcp" in e)], source)
    clients: list[McpClient] = []
    try:
        for i, raw in servers:
            label = f"{source}: tool #{i + 1} (mcp)"
            entry = _entry(raw, label)
            client = McpClient(entry.command or entry.url or "", timeout_s=entry.timeout_s, env=entry.env)
            clients.append(client)
            found = client.connect().tools()
            if entry.include is not None:
                try:
                    found = found.filter(entry.include)
                except ToolDefinitionError as exc:
                    raise ToolDefinitionError(f"{label}: 'include': {exc.message}", hint=exc.hint) from None
            try:
                tools = tools + found.prefixed(entry.prefix)
            except ToolDefinitionError as exc:
                raise ToolDefinitionError(
                    f"{label}: {exc.message}", hint="set a 'prefix' for this server's tools"
                ) from None
    except BaseException:
        for c in clients:
            c.close()
        raise
    return tools, clients


def _entry(raw: dict[str, Any], label: str) -> McpEntry:
    extra = sorted(set(raw) - {"mcp"})
    if extra:
        raise ToolDefinitionError(f"{label}: an mcp entry has only the key 'mcp', not {', '.join(extra)}", hint=_HINT)
    body = raw["mcp"]
    if isinstance(body, str | list):  # the short form: "mcp: python -m my_server" or a URL
        body = {"url": body} if isinstance(body, str) and body.startswith(("http://", "https://")) else {"command": body}
    if not isinstance(body, dict):
        raise ToolDefinitionError(f"{label}: 'mcp' must be a mapping with 'command' or 'url'", hint=_HINT)
    try:
        return McpEntry.model_validate(body)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"'mcp.{where}': {msg}" if where else msg)
        raise ToolDefinitionError(f"{label}: " + "; ".join(problems), hint=_HINT) from None
