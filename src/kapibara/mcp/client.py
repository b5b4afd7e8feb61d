"""Tools of an MCP server as a kapibara ``ToolSet``.

    with McpClient("python -m my_server") as server:     # or "http://127.0.0.1:8000/mcp"
        tools = server.tools()                           # ToolSet: schemas validated like any tool
        agent = Agent(model, demo_toolset() + tools)
        agent.run("...")

The agent loop is synchronous and the SDK is async, so one ``McpClient`` owns one
background thread running an event loop. A single task on that loop enters the SDK's
``Client`` (which starts the subprocess or opens the HTTP session) and holds it open
until ``close()``: the SDK's task groups and cancel scopes must be entered and left by
the same task. Tool calls from any thread are submitted to that loop and waited for with
a timeout, so several calls may run at once over the one session.

What the model can fix comes back as an observation: an ``isError`` result or a protocol
error for a call raises ``McpToolError`` (a ``RuntimeError``), which the executor shows the
model like any failing tool. What the developer must fix raises ``McpServerError`` (a
``KapibaraError``): a server that does not start, cannot be reached, or went away.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import os
import shlex
import tempfile
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from kapibara import __version__
from kapibara.errors import KapibaraError, ToolDefinitionError, require
from kapibara.tools import Tool, ToolSet

if TYPE_CHECKING:
    from mcp import Client

_HINT_STDIO = "check the command runs on its own and speaks MCP over stdin/stdout"
_HINT_HTTP = "check the server is running and the URL ends with its MCP path (often /mcp)"


class McpServerError(KapibaraError):
    """An MCP server could not be started or reached, or went away. The user fixes it."""


class McpToolError(RuntimeError):
    """An MCP tool call failed in a way the model can act on (``isError``, bad arguments).

    Deliberately not a ``KapibaraError``: the executor turns it into a ``tool_error``
    observation, the way it does for any local tool that raised.
    """


def parse_target(target: str | Sequence[str]) -> str | list[str]:
    """An ``http(s)://`` URL as is, or a command line split into its arguments.

    ``"python -m my_server --flag"`` becomes ``["python", "-m", "my_server", "--flag"]``
    (shell quoting rules); a list is taken as the argument vector already.
    """
    if isinstance(target, str):
        text = target.strip()
        if text.startswith(("http://", "https://")):
            return text
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise McpServerError(f"cannot parse MCP server command {target!r}: {exc}", hint="check the quoting") from None
    else:
        argv = [str(a) for a in target]
    if not argv or not argv[0]:
        raise McpServerError(
            "empty MCP server target",
            hint='give a command line ("python -m my_server") or a URL (http://127.0.0.1:8000/mcp)',
        )
    return argv


class McpClient:
    """A connection to one MCP server over stdio (a command line) or streamable HTTP (a URL).

    ``timeout_s`` bounds each request (and is each tool's timeout); ``connect_timeout_s``
    bounds start-up and the handshake. ``env`` adds variables for a subprocess (it
    inherits this process's environment); ``stderr`` is where a subprocess writes its
    logs (by default a temporary file whose last line is quoted in error messages).
    Use it as a context manager, or call ``close()``; an open client is closed at exit.
    """

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 30.0,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        require("mcp", "mcp", "mcp")
        if timeout_s <= 0 or connect_timeout_s <= 0:
            raise KapibaraError("MCP timeouts must be > 0")
        self.target = parse_target(target)
        self.label = self.target if isinstance(self.target, str) else shlex.join(self.target)
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._env = env
        self._cwd = cwd
        self._own_log = stderr is None and not isinstance(self.target, str)
        # Closed in close(); the subprocess writes to it for the client's whole life.
        own = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") if self._own_log else None  # noqa: SIM115
        self._log: TextIO | None = cast(TextIO, own) if own is not None else stderr
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._finished = threading.Event()
        self._failure: BaseException | None = None
        self._specs: list[Any] | None = None
        self._closed = False

    # -- life cycle ------------------------------------------------------------------

    def __enter__(self) -> McpClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> McpClient:
        """Start the server (stdio) or open the session (HTTP) and run the handshake.

        Raises ``McpServerError`` when the server does not start or answer in time.
        """
        if self._loop is not None:
            return self
        if self._closed:
            raise McpServerError(f"MCP client for {self.label} is closed", hint="create a new McpClient")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"mcp:{self.label[:40]}", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        holder = asyncio.run_coroutine_threadsafe(self._hold(ready), loop)
        try:
            ready.result(timeout=self.connect_timeout_s)
        except concurrent.futures.TimeoutError:
            holder.cancel()
            error = McpServerError(
                f"MCP server {self.label} did not answer within {self.connect_timeout_s:g} s{self._last_log_line()}",
                hint=self._hint(),
            )
        except BaseException as exc:  # noqa: BLE001 - every start-up failure becomes one line
            why = _reason(exc)
            if why == "Connection closed" and not isinstance(self.target, str):
                why = "it exited before the MCP handshake"
            error = McpServerError(
                f"cannot start MCP server {self.label}: {why}{self._last_log_line()}",
                hint=self._hint(),
            )
        else:
            return self
        self.close()
        raise error

    async def _hold(self, ready: concurrent.futures.Future[None]) -> None:
        """Enter the SDK client, report readiness, and keep it open until ``close()``."""
        from mcp import Client, Implementation

        self._stop = asyncio.Event()
        try:
            async with Client(
                self._server(),
                read_timeout_seconds=self.timeout_s,
                client_info=Implementation(name="kapibara", version=__version__),
            ) as client:
                self._client = client
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            self._failure = exc
            if not ready.done():
                ready.set_exception(exc)
            if not isinstance(exc, Exception | asyncio.CancelledError):
                raise
        finally:
            self._client = None
            self._finished.set()

    def _server(self) -> Any:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        if isinstance(self.target, str):
            return self.target
        # The whole environment, as a shell would pass it: servers read their own
        # settings (KAPIBARA_HOME, API keys) from it.
        params = StdioServerParameters(
            command=self.target[0],
            args=self.target[1:],
            env={**os.environ, **(self._env or {})},
            cwd=self._cwd,
        )
        return stdio_client(params, errlog=self._log) if self._log is not None else params

    def close(self) -> None:
        """Stop the session: a subprocess gets EOF on stdin, then SIGTERM, then SIGKILL."""
        self._closed = True
        loop, self._loop = self._loop, None
        atexit.unregister(self.close)
        if loop is None:
            return
        if not self._finished.is_set() and self._stop is not None:
            loop.call_soon_threadsafe(self._stop.set)
        # The SDK's shutdown waits up to ~5 s for a stubborn subprocess before killing it.
        self._finished.wait(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not loop.is_running():
            loop.close()
        if self._own_log and self._log is not None:
            self._log.close()

    # -- what the server offers ------------------------------------------------------

    def list_tools(self) -> list[Any]:
        """The server's tool definitions (the SDK's ``Tool`` objects), all pages."""
        if self._specs is None:
            specs: list[Any] = []
            cursor: str | None = None
            while True:
                page = self._run(lambda c, cur=cursor: c.list_tools(cursor=cur), "tools/list")
                specs.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            self._specs = specs
        return self._specs

    def tools(self, prefix: str = "") -> ToolSet:
        """The server's tools as a ``ToolSet``; ``prefix`` renames them (``"fs_" + name``).

        Each schema goes through the same normalisation and validator build as any tool,
        so a schema kapibara cannot use raises ``ToolDefinitionError`` naming the tool.
        """
        out: list[Tool] = []
        for spec in self.list_tools():
            name = str(spec.name)
            try:
                tool = Tool(
                    name=prefix + name,
                    description=spec.description or spec.title or "",
                    parameters=dict(spec.input_schema or {"type": "object"}),
                    fn=self._caller(name),
                    timeout_s=self.timeout_s,
                    target=f"mcp {self.label} {name}",
                    side_effect=declares_side_effect(getattr(spec, "annotations", None)),
                )
                tool._validator()  # surface a broken schema now, not at the first call
            except ToolDefinitionError as exc:
                raise ToolDefinitionError(
                    f"MCP server {self.label}: {exc.message}",
                    hint=exc.hint or "the server's tool schema must be a JSON schema of type object",
                ) from None
            out.append(tool)
        return ToolSet(out)

    def _caller(self, name: str) -> Any:
        def call_mcp_tool(**arguments: Any) -> str:
            return self.call_tool(name, arguments)

        call_mcp_tool.__name__ = f"mcp_{name}"
        return call_mcp_tool

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Call a tool on the server; its text content is the observation.

        An ``isError`` result or a protocol error raises ``McpToolError`` (the model
        can fix it); a dead server raises ``McpServerError``.
        """
        result = self._run(lambda c: c.call_tool(name, arguments or {}), f"tool {name!r}")
        text = result_text(result)
        if result.is_error:
            raise McpToolError(text or f"tool {name!r} reported an error")
        return text

    def _run(self, make: Any, what: str) -> Any:
        """Run ``make(client)`` on the session's loop and wait for it."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        loop, client = self._loop, self._client
        if loop is None or client is None or self._finished.is_set():
            if self._closed and self._failure is None:
                raise McpServerError(f"MCP client for {self.label} is closed", hint="create a new McpClient")
            if loop is None:
                self.connect()
                return self._run(make, what)
            raise self._gone()

        async def run() -> Any:
            return await make(client)

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            return future.result(timeout=self.timeout_s + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"MCP {what} on {self.label} took longer than {self.timeout_s:g} s") from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                raise self._gone() from None
            if exc.code == REQUEST_TIMEOUT:
                raise TimeoutError(f"MCP {what} on {self.label} took longer than {self.timeout_s:g} s") from None
            raise McpToolError(exc.error.message or str(exc)) from None
        except McpToolError:
            raise
        except Exception as exc:
            if self._finished.is_set():
                raise self._gone() from None
            raise McpServerError(f"MCP {what} on {self.label} failed: {_reason(exc)}", hint=self._hint()) from None

    # -- messages --------------------------------------------------------------------

    def _gone(self) -> McpServerError:
        why = f": {_reason(self._failure)}" if self._failure is not None else ""
        return McpServerError(
            f"MCP server {self.label} closed the connection{why}{self._last_log_line()}", hint=self._hint()
        )

    def _hint(self) -> str:
        return _HINT_HTTP if isinstance(self.target, str) else _HINT_STDIO

    def _last_log_line(self) -> str:
        """The last line the subprocess wrote to stderr, quoted (its own error message)."""
        if not self._own_log or self._log is None or self._log.closed:
            return ""
        try:
            fd = self._log.fileno()
            size = os.fstat(fd).st_size
            # pread leaves the file offset the subprocess shares with us alone.
            tail = os.pread(fd, 4000, max(0, size - 4000)).decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""
        lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
        return f" (server said: {lines[-1][:200]})" if lines else ""

    def __repr__(self) -> str:
        state = "open" if self._client is not None else "closed" if self._closed else "not connected"
        return f"McpClient({self.label!r}, {state})"


def result_text(result: Any) -> str:
    """A ``CallToolResult`` as observation text: its text blocks, one per line.

    Images and audio are named, embedded text resources included; with no content
    blocks, the structured content as JSON.
    """
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {block.mime_type}]")
        elif kind == "resource":
            res = block.resource
            parts.append(getattr(res, "text", None) or f"[resource: {res.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource: {block.uri}]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)


def _reason(exc: BaseException | None) -> str:
    """The root cause of an (often grouped) SDK or transport exception, in a few words."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc is None:
        return "unknown error"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename}" if exc.filename else "command not found"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    text = str(exc).strip().splitlines()
    return (text[0][:200] if text else "") or type(exc).__name__


def quiet_sdk_logs() -> None:
    """For command-line apps: keep the SDK's internal tracebacks (e.g. a server that prints
    non-JSON on stdout) off an unconfigured terminal; the error that matters reaches the
    user as one ``McpServerError`` line. Logging that the app configures still gets them."""
    logger = logging.getLogger("mcp")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def mcp_tools(targets: Sequence[str | Sequence[str]], **options: Any) -> tuple[ToolSet, list[McpClient]]:
    """Connect to several servers; their tools in one ``ToolSet``, and the clients to close.

    A failure closes the clients already opened before it raises.
    """
    clients: list[McpClient] = []
    try:
        tools = ToolSet()
        for target in targets:
            client = McpClient(target, **options)
            clients.append(client)
            tools = tools + client.connect().tools()
    except BaseException:
        for c in clients:
            c.close()
        raise
    return tools, clients


def declares_side_effect(annotations: Any) -> bool:
    """An MCP tool changes something when its annotations say ``destructiveHint: true``
    or ``readOnlyHint: false``. Hints the server left out say nothing: the tool counts as
    read-only unless the agent's policy names it (``side_effects={"name": "confirm"}``)."""
    if annotations is None:
        return False
    data = annotations.model_dump(by_alias=True) if hasattr(annotations, "model_dump") else dict(annotations)
    return data.get("destructiveHint") is True or data.get("readOnlyHint") is False
