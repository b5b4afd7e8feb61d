"""Tools written in YAML or JSON, for people who configure rather than code.

A file holds a list of tools (or a mapping with a ``tools:`` list). Each entry has a
``name``, a ``description``, ``parameters`` (a JSON schema of type object) and exactly
one target:

- ``target: package.module:function``: a Python function (its own hints and docstring
  fill in ``parameters``/``description`` when the entry leaves them out);
- ``http: {url, method, headers, timeout_s}``: an HTTP endpoint. POST/PUT/PATCH send the
  arguments as a JSON body, GET/DELETE as query parameters; ``{name}`` in the URL is
  filled from the argument of that name; ``${VAR}`` in header values is read from the
  environment (keep API keys out of the file). The observation is the response text.
  ``allow_hosts`` lists the hosts the tool may reach (default: the host of its own
  ``url`` only); a redirect to another host is refused, not followed.

Every entry may say ``side_effect: true`` (a call changes something; the agent's
side-effect policy gates it; HTTP tools with a method other than GET default to true),
``timeout_s``, ``max_output_chars`` (the observation is cut there, default 8000) and
``vocabulary`` (per string parameter, the terms the tool understands, as
``{param: {name: [words]}}``) and ``entities`` (per string parameter naming a thing,
the names the tool knows, as ``{param: {canonical name: [other names]}}``); see ``Tool``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kapibara.errors import ToolDefinitionError
from kapibara.tools.base import DEFAULT_MAX_OUTPUT_CHARS, Tool
from kapibara.tools.decorator import _is_context, tool_from_function
from kapibara.tools.toolset import ToolSet

_HINT = "see docs/tools.md, 'Tools in YAML'"


class HttpTarget(BaseModel):
    """Where an HTTP tool sends its arguments."""

    model_config = ConfigDict(extra="forbid")

    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0)
    allow_hosts: list[str] | None = None
    """Hosts the tool may reach; None means the host of ``url`` only."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    def hosts(self) -> set[str]:
        """The allowed hosts, lower-cased (``{host}`` placeholders cannot widen them)."""
        if self.allow_hosts is not None:
            return {h.strip().lower() for h in self.allow_hosts if h.strip()}
        return {(urlsplit(self.url).hostname or "").lower()}


class ToolEntry(BaseModel):
    """One tool as written in the file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    target: str | None = None
    http: HttpTarget | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    side_effect: bool | None = None
    max_output_chars: int | None = Field(default=DEFAULT_MAX_OUTPUT_CHARS, ge=1)
    vocabulary: dict[str, dict[str, list[str]]] | None = None
    entities: dict[str, dict[str, list[str]]] | None = None


def load_tools(path: str | Path) -> ToolSet:
    """Read tool definitions from a YAML or JSON file into a ``ToolSet``.

    A bad file raises ``ToolDefinitionError`` naming the file, the entry and the problem.
    """
    return tools_from_config(read_tools_file(path), source=str(path))


def read_tools_file(path: str | Path) -> Any:
    """The parsed content of a YAML or JSON tools file; ``ToolDefinitionError`` naming the
    file when it cannot be read or parsed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolDefinitionError(f"{p}: cannot read tools file: {exc.strerror}", hint=_HINT) from exc
    try:
        return json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ToolDefinitionError(f"{p}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {exc}", hint=_HINT) from exc


def tools_from_config(data: Any, source: str = "<config>") -> ToolSet:
    """Build a ``ToolSet`` from already-parsed config data (a list, or ``{"tools": [...]}``)."""
    if isinstance(data, dict) and "tools" in data:
        data = data["tools"]
    if not isinstance(data, list):
        raise ToolDefinitionError(
            f"{source}: expected a list of tools (or a mapping with a 'tools' list), got {type(data).__name__}",
            hint=_HINT,
        )
    tools: list[Tool] = []
    seen: set[str] = set()
    for i, raw in enumerate(data):
        label = f"{source}: tool #{i + 1}"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            label += f" ('{raw['name']}')"
        if not isinstance(raw, dict):
            raise ToolDefinitionError(f"{label}: each tool must be a mapping, got {type(raw).__name__}", hint=_HINT)
        if "mcp" in raw:  # MCP lives a layer above tools; its loader reads these entries
            raise ToolDefinitionError(
                f"{label}: an 'mcp' entry needs the MCP-aware loader",
                hint="use kapibara.mcp.load_tools_with_mcp(path), or kapibara run --tools FILE",
            )
        try:
            entry = ToolEntry.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(x) for x in err["loc"])
                problems.append(f"'{where}': {err['msg']}" if where else err["msg"])
            raise ToolDefinitionError(f"{label}: " + "; ".join(problems), hint=_HINT) from None
        if entry.name in seen:
            raise ToolDefinitionError(f"{label}: duplicate tool name '{entry.name}'", hint="names must be unique")
        seen.add(entry.name)
        try:
            tools.append(_build(entry))
        except ToolDefinitionError as exc:
            raise ToolDefinitionError(f"{label}: {exc.message}", hint=exc.hint or _HINT) from exc
    return ToolSet(tools)


def _build(entry: ToolEntry) -> Tool:
    if (entry.target is None) == (entry.http is None):
        raise ToolDefinitionError("give exactly one of 'target' (module:function) or 'http'")
    if entry.http is not None:
        if entry.parameters is None:
            raise ToolDefinitionError("an http tool needs 'parameters' (a JSON schema of type object)")
        http = entry.http
        timeout = entry.timeout_s or http.timeout_s
        tool = Tool(
            name=entry.name,
            description=entry.description or "",
            parameters=entry.parameters,
            fn=_http_function(http, timeout),
            timeout_s=timeout,
            target=f"{http.method} {http.url}",
            side_effect=http.method != "GET" if entry.side_effect is None else entry.side_effect,
            max_output_chars=entry.max_output_chars,
            vocabulary=entry.vocabulary or {},
            entities=entry.entities or {},
        )
    else:
        assert entry.target is not None
        fn = _import_target(entry.target)
        if entry.parameters is None:
            # The function's own hints and docstring describe it.
            derived = tool_from_function(fn, name=entry.name, description=entry.description)
            tool = Tool(
                name=derived.name,
                description=derived.description,
                parameters=derived.parameters,
                fn=derived.fn,
                timeout_s=entry.timeout_s or derived.timeout_s,
                context_param=derived.context_param,
                target=entry.target,
                args_model=derived.args_model,
                side_effect=bool(entry.side_effect),
                max_output_chars=entry.max_output_chars,
                vocabulary=entry.vocabulary or {},
                entities=entry.entities or {},
            )
        else:
            tool = Tool(
                name=entry.name,
                description=entry.description or _first_line(fn),
                parameters=entry.parameters,
                fn=fn,
                timeout_s=entry.timeout_s or 30.0,
                context_param=_context_param(fn),
                target=entry.target,
                side_effect=bool(entry.side_effect),
                max_output_chars=entry.max_output_chars,
                vocabulary=entry.vocabulary or {},
                entities=entry.entities or {},
            )
    tool._validator()  # surface a broken schema now, not at the first call
    return tool


def _import_target(target: str) -> Callable[..., Any]:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ToolDefinitionError(f"target '{target}' must look like 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolDefinitionError(f"cannot import module '{module_name}' for target '{target}': {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ToolDefinitionError(f"module '{module_name}' has no attribute '{attr}' (target '{target}')")
        obj = getattr(obj, part)
    if isinstance(obj, Tool):
        if obj.fn is None:
            raise ToolDefinitionError(f"target '{target}' is a Tool without a function")
        return obj.fn
    if not callable(obj):
        raise ToolDefinitionError(f"target '{target}' is not callable")
    return typing.cast(Callable[..., Any], obj)


def _context_param(fn: Callable[..., Any]) -> str | None:
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):
        return None
    return next((n for n, h in hints.items() if n != "return" and _is_context(h)), None)


def _first_line(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n", 1)[0].strip()


def _http_function(http: HttpTarget, timeout_s: float) -> Callable[..., str]:
    def call_endpoint(**arguments: Any) -> str:
        url = http.url
        for key in list(arguments):
            if "{" + key + "}" in url:
                url = url.replace("{" + key + "}", quote(str(arguments.pop(key)), safe=""))
        headers = {k: os.path.expandvars(v) for k, v in http.headers.items()}
        allowed = http.hosts()
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                _check_host(url, allowed)
                if http.method in ("GET", "DELETE"):
                    params = {k: _query_value(v) for k, v in arguments.items()}
                    response = client.request(http.method, url, params=params, headers=headers)
                else:
                    response = client.request(http.method, url, json=arguments, headers=headers)
                if not response.is_redirect:
                    break
                # Followed by hand so every hop is checked against the allowlist.
                url = urljoin(str(response.url), response.headers.get("location", ""))
            else:
                raise RuntimeError(f"more than {MAX_REDIRECTS} redirects from {http.method} {http.url}")
        if response.status_code >= 400:
            # The model sees this as a tool error; keep it short and useful.
            raise RuntimeError(f"HTTP {response.status_code} from {http.method} {url}: {response.text[:300]}")
        return response.text

    call_endpoint.__name__ = "http_tool"
    return call_endpoint


MAX_REDIRECTS = 5


def _check_host(url: str, allowed: set[str]) -> None:
    """Refuse a URL whose host is not on the tool's allowlist (the model sees why)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in allowed:
        raise RuntimeError(f"refused: {url} is not on this tool's allow_hosts ({', '.join(sorted(allowed))})")


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value
