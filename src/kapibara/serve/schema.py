"""The OpenAI wire format: request bodies validated with pydantic, responses built as dicts.

Requests accept and ignore fields kapibara has no use for (``presence_penalty``,
``logprobs``, ...), so unmodified OpenAI clients work; what kapibara cannot honour
(``n > 1``, an unknown ``tool_choice``) is a 400 naming the field.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kapibara.models.base import Constraint, Message, Sampling, ToolCall, ToolSpec, Usage
from kapibara.serve.errors import APIError, bad_request

ROLES = ("system", "developer", "user", "assistant", "tool")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionDef(_Open):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolDef(_Open):
    type: Literal["function"] = "function"
    function: FunctionDef


class NamedChoice(_Open):
    type: Literal["function"] = "function"
    function: dict[str, str]


class ResponseFormat(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class StreamOptions(_Open):
    include_usage: bool = False


class ChatMessage(_Open):
    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        return role


class ChatCompletionRequest(_Open):
    """``POST /v1/chat/completions``."""

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[ToolDef] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedChoice | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = 1
    user: str | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported")
        return n

    # -- what kapibara's model call needs --------------------------------------------

    def chat_messages(self) -> list[Message]:
        """The messages as kapibara's OpenAI-style dicts (text parts joined, ``developer``
        read as ``system``)."""
        out: list[Message] = []
        for m in self.messages:
            msg: Message = {"role": "system" if m.role == "developer" else m.role, "content": _text(m.content)}
            if m.name:
                msg["name"] = m.name
            if m.tool_calls:
                msg["tool_calls"] = m.tool_calls
            if m.tool_call_id:
                msg["tool_call_id"] = m.tool_call_id
            out.append(msg)
        return out

    def tool_specs(self) -> list[ToolSpec]:
        return [t.model_dump(exclude_none=True) for t in self.tools or []]

    def choice(self) -> str:
        """``auto``, ``none``, ``required`` or the name of the function the client forces."""
        if isinstance(self.tool_choice, NamedChoice):
            name = self.tool_choice.function.get("name", "")
            if name not in {t.function.name for t in self.tools or []}:
                raise bad_request(f"tool_choice names the function {name!r}, which is not in tools",
                                  "tool_choice")
            return name
        return self.tool_choice or "auto"

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def sampling(self) -> Sampling:
        base = Sampling()
        return Sampling(temperature=self.temperature if self.temperature is not None else base.temperature,
                        top_p=self.top_p if self.top_p is not None else base.top_p,
                        seed=self.seed if self.seed is not None else base.seed)

    def stops(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop

    def constraint(self) -> Constraint | None:
        """The constrained decoding ``response_format`` asks for (None for text)."""
        rf = self.response_format
        if rf is None or rf.type == "text":
            return None
        if rf.type == "json_object":
            return Constraint(json_schema={"type": "object"})
        schema = (rf.json_schema or {}).get("schema")
        if not isinstance(schema, dict):
            raise bad_request("response_format.json_schema.schema must be a JSON schema object",
                              "response_format")
        return Constraint(json_schema=schema)

    def wants_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class EmbeddingRequest(_Open):
    """``POST /v1/embeddings``."""

    model: str = Field(min_length=1)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float"] = "float"

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.get("type") != "text":
            raise bad_request(f"content parts of type {part.get('type')!r} are not supported; send text",
                              "messages")
        parts.append(str(part.get("text", "")))
    return "".join(parts)


def parse_body(cls: type[BaseModel], raw: bytes) -> Any:
    """Decode and validate a request body; a 400 naming the first bad field otherwise."""
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise APIError(400, f"{where}: {first['msg']}", param=where or None, code="invalid_value") from exc


# -- responses -------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_dict(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens}


def tool_call_dicts(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls``: ids, ``function.arguments`` as a JSON string."""
    return [c.to_openai() for c in calls]


def chat_completion(cid: str, model: str, content: str, calls: list[ToolCall], usage: Usage,
                    extension: dict[str, Any] | None = None) -> dict[str, Any]:
    """A whole ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": content or (None if calls else "")}
    if calls:
        message["tool_calls"] = tool_call_dicts(calls)
    body: dict[str, Any] = {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop",
                     "logprobs": None}],
        "usage": usage_dict(usage),
    }
    if extension is not None:
        body["kapibara"] = extension
    return body


def chunk(cid: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
          extension: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with one choice."""
    body: dict[str, Any] = {
        "id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if extension is not None:
        body["kapibara"] = extension
    return body


def usage_chunk(cid: str, model: str, usage: Usage) -> dict[str, Any]:
    """The last chunk when ``stream_options.include_usage`` is set: no choices, the usage."""
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [], "usage": usage_dict(usage)}


# -- the OpenAPI document ------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every refusal's body: OpenAI's error format."""

    error: ErrorDetail


BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", "/v1/chat/completions"): ChatCompletionRequest,
    ("post", "/v1/embeddings"): EmbeddingRequest,
}
"""Routes that read their body themselves (to refuse an oversized one before parsing it)."""


def document(spec: dict[str, Any], served: list[str]) -> dict[str, Any]:
    """Complete FastAPI's OpenAPI ``spec`` with what the routes do by hand: the request
    bodies (``model`` limited to the ``served`` names), OpenAI error bodies for every
    refusal, server-sent events and the metrics' plain text, so a client generator or a
    schema fuzzer sees the API as it behaves."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})

    def ref(model: type[BaseModel]) -> dict[str, str]:
        found = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(found.pop("$defs", {}))
        schemas[model.__name__] = found
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error = {"description": "an OpenAI-style error", "content": {"application/json": {"schema": ref(ErrorResponse)}}}
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)  # validation errors answer 400 in OpenAI's format
            responses["default"] = error
            model = BODIES.get((method, path))
            if model is not None:
                body = ref(model)
                if model is ChatCompletionRequest or model is EmbeddingRequest:
                    props = schemas[model.__name__].setdefault("properties", {})
                    props["model"] = {**props.get("model", {}), "enum": served}
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
            if (method, path) == ("post", "/v1/chat/completions"):
                responses["200"] = {"description": "a chat.completion, or chunks as server-sent events",
                                    "content": {"application/json": {"schema": {"type": "object"}},
                                                "text/event-stream": {"schema": {"type": "string"}}}}
            if (method, path) == ("get", "/metrics"):
                responses["200"] = {"description": "Prometheus text format",
                                    "content": {"text/plain": {"schema": {"type": "string"}}}}
    return spec
