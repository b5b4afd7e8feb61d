"""Server-sent events in OpenAI's chunk format.

A stream is: a first chunk with ``delta.role``; content deltas; for each tool call a
delta with its ``index``, ``id``, ``type`` and ``function.name`` (arguments empty), then
deltas carrying ``function.arguments`` fragments (what clients concatenate); a last
chunk with the ``finish_reason``; with ``stream_options.include_usage`` one more chunk
with no choices and the ``usage``; then ``data: [DONE]``. An error after the stream began
is sent as ``data: {"error": {...}}`` (OpenAI's SDK raises it as an ``APIError``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from kapibara.models.base import ToolCall

DONE = "data: [DONE]\n\n"
ARGUMENT_FRAGMENT = 16
"""Characters of ``function.arguments`` per delta: small enough that clients exercise
their incremental assembly, as they must with OpenAI's own streams."""


def sse(data: dict[str, Any]) -> str:
    """One ``data:`` event."""
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def tool_call_deltas(calls: list[ToolCall], fragment: int = ARGUMENT_FRAGMENT) -> Iterator[dict[str, Any]]:
    """The ``delta`` objects that stream ``calls``: id and name first, then the arguments."""
    for index, call in enumerate(calls):
        wire = call.to_openai()
        name, arguments = wire["function"]["name"], wire["function"]["arguments"]
        yield {"tool_calls": [{"index": index, "id": wire["id"], "type": "function",
                               "function": {"name": name, "arguments": ""}}]}
        for start in range(0, len(arguments), fragment):
            yield {"tool_calls": [{"index": index, "function": {"arguments": arguments[start:start + fragment]}}]}


def content_rest(content: str, sent: str) -> str:
    """What of the final ``content`` the client has not been sent yet.

    Pass-through mode streams text while it cannot be a call; the decision's final text
    normally continues it. When the ladder rewrote it (a re-ask), nothing more is sent
    rather than text that contradicts what the client already has.
    """
    return content[len(sent):] if content.startswith(sent) else ""
