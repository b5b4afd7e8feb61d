"""Any OpenAI-compatible chat server: vLLM, Ollama, llama.cpp server, hosted APIs.

    model = OpenAIModel("qwen2.5-coder", "http://127.0.0.1:8000/v1")
    model.chat([{"role": "user", "content": "hi"}])

Talks plain HTTP with httpx (no ``openai`` package). Tool calls come back parsed;
when a server leaves a small model's ``<tool_call>`` text in the content instead of
parsing it, the content is parsed the same way the embedded backend parses it.
Retries are bounded and only for what a retry can fix: 429, 5xx, refused connections.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import httpx

from kapibara.errors import BackendError
from kapibara.models.base import (
    ChatModel,
    ChatRequest,
    Completion,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
    Watch,
    opens_call,
)
from kapibara.models.toolcalls import parse_tool_calls

API_KEY_ENVS = ("KAPIBARA_OPENAI_API_KEY", "OPENAI_API_KEY")
"""Environment variables read for the API key, first set wins."""


class HTTPStatusError(BackendError):
    """The server answered an HTTP error status (``status``)."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


TOP_LOGPROBS = 20
"""Alternatives asked per token for ``Completion.call_probability`` (OpenAI's maximum)."""

GRAMMAR_FIELDS = ("grammar", "guided_grammar")
"""Request fields that carry a GBNF grammar: llama.cpp servers read ``grammar``, vLLM
``guided_grammar``; each ignores the other's field."""

_MAX_RETRY_AFTER_S = 60.0  # a server asking for a longer pause is better reported than waited on

_sleep = time.sleep  # module attribute so tests can replace the wait


class OpenAIModel(ChatModel):
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the model name the server knows (``"Qwen/Qwen2.5-1.5B-Instruct"``).
        base_url: the API root including ``/v1``, e.g. ``http://127.0.0.1:8000/v1``.
        api_key: bearer token; else ``$KAPIBARA_OPENAI_API_KEY``, else ``$OPENAI_API_KEY``;
            no ``Authorization`` header is sent when none is set.
        timeout_s: seconds allowed for connecting and for each read.
        max_retries: extra attempts after a 429, a 5xx or a refused connection.
        backoff_s: first retry delay; doubles each attempt, with jitter. A server's
            ``Retry-After`` replaces it.
        name: display name; defaults to the spec ``openai:MODEL@URL``.
        context_window: tokens the served model accepts (servers do not report it).
        schema_format: how a JSON-schema constraint is sent: ``"json_schema"`` (OpenAI,
            vLLM, llama.cpp server) or ``"json_object"`` (``{"type": "json_object",
            "schema": ...}``, what llama-cpp-python's server accepts).
        grammar_fields: request fields that carry a GBNF grammar (a dotted name nests,
            ``"structured_outputs.grammar"``); empty disables
            grammars (``supports_grammar`` becomes False), e.g. for hosted APIs that
            reject unknown fields.
        extra_body: fields merged into every request (``{"top_k": 20}``).
        logprobs: ask for the first token's ``top_logprobs`` when a request wants
            ``call_probability`` (the mass of the alternatives that open a call). A server
            that refuses them (HTTP 400/422) is asked again without, and not asked again.
        transport: an httpx transport, for tests (``httpx.MockTransport``).
    """

    supports_tools = True
    supports_json_schema = True
    can_stream = True
    thread_safe = True  # httpx.Client is thread-safe; the server schedules the requests

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        name: str | None = None,
        context_window: int = 32768,
        schema_format: Literal["json_schema", "json_object"] = "json_schema",
        grammar_fields: tuple[str, ...] = GRAMMAR_FIELDS,
        extra_body: Mapping[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
        logprobs: bool = True,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.name = name or f"openai:{model}@{self.base_url}"
        self.timeout_s = timeout_s
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.context_window = context_window
        self.schema_format = schema_format
        self.grammar_fields = tuple(grammar_fields)
        self.supports_grammar = bool(self.grammar_fields)
        self.extra_body = dict(extra_body or {})
        self.logprobs = logprobs
        key = api_key or next((os.environ[e] for e in API_KEY_ENVS if os.environ.get(e)), None)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAIModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, {self.base_url!r})"

    def complete(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """POST one chat completion: deltas then the Completion (one event when not streamed).

        Raises BackendError when the server is unreachable, answers an HTTP error, or
        still answers 429/5xx after ``max_retries`` retries. The request is sent before
        this returns, so those errors raise here, not while iterating. A ``watch`` stops
        a streamed answer early by closing the connection.
        """
        body = self.request_body(request)
        # Content is parsed for tool calls only when tools were offered: a JSON answer
        # to a schema constraint must not be mistaken for a call.
        parse_content = bool(request.tools) and request.constraint is None
        t0 = time.perf_counter()
        try:
            response = self._send(body, stream=request.stream)
        except HTTPStatusError as exc:
            if not body.get("logprobs") or exc.status not in (400, 422):
                raise
            self.logprobs = False  # this server refuses logprobs: ask without, from now on
            body = self.request_body(request)
            response = self._send(body, stream=request.stream)
        if request.stream:
            return self._stream_events(response, t0, parse_content, request.watch)
        data = self._json_body(response)
        return iter([self._completion_from_json(data, time.perf_counter() - t0, parse_content)])

    def _json_body(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data, what = None, "something that is not JSON"
        else:
            what = "JSON that is not a completion"
        if not isinstance(data, dict):
            raise BackendError(
                f"{self.base_url} answered with {what}: {response.text[:200]!r}",
                hint="check that the URL points at an OpenAI-compatible API (ending in /v1)",
            )
        return data

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent to ``/chat/completions`` for this request."""
        s, tools, stop, constraint = request.sampling, request.tools, request.stop, request.constraint
        messages, max_tokens = request.messages, request.max_tokens
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        if stop:
            body["stop"] = stop
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if constraint is not None and constraint.json_schema is not None:
            if self.schema_format == "json_object":
                body["response_format"] = {"type": "json_object", "schema": constraint.json_schema}
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "out", "schema": constraint.json_schema},
                }
        elif constraint is not None and constraint.grammar is not None:
            if not self.grammar_fields:
                raise BackendError(
                    f"{self.name} does not take grammars",
                    hint="use a JSON-schema constraint, or set grammar_fields for your server",
                )
            for f in self.grammar_fields:
                # A dotted field nests: "structured_outputs.grammar" (newer vLLM).
                *parents, leaf = f.split(".")
                target = body
                for part in parents:
                    target = target.setdefault(part, {})
                target[leaf] = constraint.grammar
        if request.call_probability and tools and constraint is None and self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = TOP_LOGPROBS
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(self.extra_body)
        return body

    # -- HTTP ---------------------------------------------------------------------------

    def _send(self, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        """POST with bounded retries on 429, 5xx and refused connections."""
        url = f"{self.base_url}/chat/completions"
        attempt = 0
        while True:
            try:
                request = self._client.build_request("POST", url, json=body)
                response = self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self.max_retries:
                    _sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                raise BackendError(
                    f"cannot reach {self.base_url} (timeout {self.timeout_s:g}s)",
                    hint="start the server, or fix the host and port in the URL",
                ) from exc
            except httpx.TransportError as exc:
                raise self._transport_error(exc, streaming=False) from exc
            status = response.status_code
            if status < 400:
                return response
            if stream:
                response.read()
            response.close()
            message = _error_message(response)
            if (status == 429 or status >= 500) and attempt < self.max_retries:
                _sleep(self._backoff(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            raise HTTPStatusError(
                status,
                f"{url} answered HTTP {status}"
                + (f" after {attempt + 1} attempts" if attempt else "")
                + f": {message}",
                hint=_hint_for_status(status),
            )

    def _transport_error(self, exc: httpx.TransportError, *, streaming: bool) -> BackendError:
        """The one wording of a broken or timed-out exchange (request or stream)."""
        if isinstance(exc, httpx.TimeoutException):
            what = "stopped sending" if streaming else "gave no answer"
            return BackendError(
                f"{self.base_url} {what} within the timeout ({self.timeout_s:g}s)",
                hint="the server is busy or the request is too long; raise timeout_s",
            )
        what = "stream from" if streaming else "request to"
        return BackendError(
            f"{what} {self.base_url} failed: {type(exc).__name__}: {exc}",
            hint="check the server's log",
        )

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        server_asks = _parse_retry_after(retry_after)
        if server_asks is not None:
            return min(server_asks, _MAX_RETRY_AFTER_S)
        # Jitter spreads out clients that failed together so they do not retry together.
        return float(self.backoff_s * (2**attempt) * random.uniform(0.5, 1.5))

    # -- responses ------------------------------------------------------------------------

    def _completion_from_json(
        self, data: dict[str, Any], total_s: float, parse_content: bool
    ) -> Completion:
        choices = data.get("choices") or []
        if not choices:
            raise BackendError(
                f"{self.base_url} returned no choices: {json.dumps(data)[:200]}",
                hint="check the server's log",
            )
        choice = choices[0]
        msg = choice.get("message") or {}
        raw_calls = list(msg.get("tool_calls") or [])
        if not raw_calls and isinstance(msg.get("function_call"), dict):  # legacy servers
            raw_calls = [{"id": "", "function": msg["function_call"]}]
        usage = _usage(data.get("usage"), data.get("timings"), total_s, ttft_s=None)
        completion = _build_completion(
            content=_text_of(msg.get("content")),
            raw_calls=[
                {
                    "id": c.get("id") or "",
                    "name": (c.get("function") or {}).get("name") or "",
                    "arguments": (c.get("function") or {}).get("arguments"),
                }
                for c in raw_calls
            ],
            finish_reason=choice.get("finish_reason") or "stop",
            usage=usage,
            model=data.get("model") or self.model,
            parse_content=parse_content,
        )
        completion.call_probability = _call_probability(choice.get("logprobs"))
        return completion

    def _stream_events(
        self, response: httpx.Response, t0: float, parse_content: bool, watch: Watch | None = None
    ) -> Iterator[StreamEvent]:
        """Read server-sent events; tool-call fragments are joined by their index."""
        content: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        finish = "stop"
        usage_json: dict[str, Any] | None = None
        timings: dict[str, Any] | None = None
        model = self.model
        ttft: float | None = None
        chunks = 0
        events = 0
        call_probability: float | None = None
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, "event:" lines
                payload = line[5:].strip()
                events += 1
                if payload == "[DONE]":
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    raise BackendError(
                        f"{self.base_url} sent a stream event that is not JSON: {payload[:200]!r}",
                        hint="check that the server speaks the OpenAI streaming format",
                    ) from None
                if chunk.get("error"):
                    raise BackendError(
                        f"{self.base_url} failed mid-stream: {_message_of(chunk)}",
                        hint="check the server's log",
                    )
                model = chunk.get("model") or model
                usage_json = chunk.get("usage") or usage_json
                timings = chunk.get("timings") or timings
                for choice in chunk.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    if call_probability is None:
                        call_probability = _call_probability(choice.get("logprobs"))
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if text or delta.get("tool_calls"):
                        chunks += 1
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                    for part in delta.get("tool_calls") or []:
                        _merge_call_delta(calls, part)
                    if text:
                        content.append(text)
                        yield TextDelta(text)
                if watch is not None and (reason := watch("".join(content))):
                    finish = reason
                    break
        except httpx.TransportError as exc:
            raise self._transport_error(exc, streaming=True) from exc
        finally:
            response.close()
        if not events:
            # An empty 200 stream is how some servers fail (llama-cpp-python's
            # chatml-function-calling with stream=True); an empty answer would hide it.
            raise BackendError(
                f"{self.base_url} ended the stream without sending any event",
                hint="check the server's log, or call without stream=True",
            )
        total = time.perf_counter() - t0
        usage = _usage(usage_json, timings, total, ttft_s=ttft if ttft is not None else total)
        if usage_json is None and not usage.completion_tokens:
            # Servers that ignore stream_options send no usage; each delta is about a token.
            usage.completion_tokens = chunks
            usage.decode_tps = _decode_tps(chunks, total, usage.ttft_s)
        completion = _build_completion(
            content="".join(content),
            raw_calls=[calls[i] for i in sorted(calls)],
            finish_reason=finish,
            usage=usage,
            model=model,
            parse_content=parse_content,
        )
        completion.call_probability = call_probability
        yield completion


def _call_probability(logprobs: Any) -> float | None:
    """The probability mass the first output token's ``top_logprobs`` give to tokens that
    open a call (``opens_call``); None when the server sent none. Alternatives beyond the
    top ones are not seen, so this is a lower bound of what llama.cpp in-process reads."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not content or not isinstance(content[0], dict):
        return None
    first = content[0]
    top = first.get("top_logprobs") or [first]
    mass = 0.0
    for alt in top:
        if not isinstance(alt, dict):
            continue
        token, lp = alt.get("token"), alt.get("logprob")
        if isinstance(token, str) and isinstance(lp, int | float) and opens_call(token):
            mass += math.exp(lp)
    return min(1.0, mass)


def _merge_call_delta(calls: dict[int, dict[str, Any]], part: dict[str, Any]) -> None:
    """Fold one streamed tool-call fragment into the call at its index."""
    index = part.get("index")
    if not isinstance(index, int):
        index = len(calls) if part.get("id") or not calls else max(calls)
    entry = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    if part.get("id"):
        entry["id"] = part["id"]
    fn = part.get("function") or {}
    name = fn.get("name")
    if name:
        # Most servers send the name once; some repeat it whole in every fragment.
        entry["name"] = name if name.startswith(entry["name"]) else entry["name"] + name
    args = fn.get("arguments")
    if isinstance(args, str):
        entry["arguments"] += args
    elif isinstance(args, dict):
        entry["arguments"] = json.dumps(args, ensure_ascii=False)


def _build_completion(
    *,
    content: str,
    raw_calls: list[dict[str, Any]],
    finish_reason: str,
    usage: Usage,
    model: str,
    parse_content: bool,
) -> Completion:
    """Decode server tool calls, or parse the content for calls when there are none."""
    if raw_calls:
        calls: list[ToolCall] = []
        error: str | None = None
        blocks: list[str] = []
        for raw in raw_calls:
            args = raw.get("arguments")
            args_text = args if isinstance(args, str) else json.dumps(args or {}, ensure_ascii=False)
            blocks.append(
                f'<tool_call>\n{{"name": {json.dumps(raw["name"], ensure_ascii=False)}, '
                f'"arguments": {args_text or "{}"}}}\n</tool_call>'
            )
            decoded, problem = _decode_arguments(args)
            if problem and error is None:
                error = f"arguments of tool call {raw['name']!r} {problem}"
            elif decoded is not None:
                calls.append(ToolCall(name=raw["name"], arguments=decoded, id=raw.get("id") or ""))
        # Keep the raw calls in text so traces and the repair ladder see what came back.
        text = "\n".join([content, *blocks]) if content else "\n".join(blocks)
        return Completion(
            text=text,
            content=content,
            tool_calls=[] if error else calls,
            finish_reason="tool_calls" if not error else finish_reason,
            usage=usage,
            parse_error=error,
            model=model,
        )
    if parse_content:
        parsed = parse_tool_calls(content)
        if parsed.calls or parsed.error:
            return Completion(
                text=content,
                content=parsed.content,
                tool_calls=parsed.calls,
                finish_reason="tool_calls" if parsed.calls else finish_reason,
                usage=usage,
                parse_error=parsed.error,
                model=model,
            )
    return Completion(
        text=content, content=content, finish_reason=finish_reason, usage=usage, model=model
    )


def _text_of(content: Any) -> str:
    """Message content as text; some servers send a list of ``{"type": "text"}`` parts."""
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _decode_arguments(args: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Arguments as a dict, or the reason they are not one."""
    if args is None or (isinstance(args, str) and not args.strip()):
        return {}, None
    if isinstance(args, dict):
        return args, None
    if not isinstance(args, str):
        return None, f"must be a JSON object, got {type(args).__name__}"
    try:
        value = json.loads(args)
    except json.JSONDecodeError as exc:
        return None, f"are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"must be a JSON object, got {type(value).__name__}"
    return value, None


def _usage(
    usage: dict[str, Any] | None,
    timings: dict[str, Any] | None,
    total_s: float,
    ttft_s: float | None,
) -> Usage:
    """Usage from the response; llama.cpp's ``timings`` give server-side rates when sent.

    Without streaming the first token arrives with the last, so ``ttft_s`` is the whole
    wait unless the server reports its prefill time.
    """
    u = usage or {}
    details = u.get("prompt_tokens_details") or {}
    out = Usage(
        prompt_tokens=int(u.get("prompt_tokens") or 0),
        cached_prompt_tokens=int(details.get("cached_tokens") or 0),
        completion_tokens=int(u.get("completion_tokens") or 0),
        total_s=total_s,
    )
    t = timings or {}
    if ttft_s is None:
        ttft_s = float(t["prompt_ms"]) / 1000 if t.get("prompt_ms") else total_s
    out.ttft_s = ttft_s
    if t.get("cache_n") and not out.cached_prompt_tokens:
        out.cached_prompt_tokens = int(t["cache_n"])
    if t.get("prompt_per_second"):
        out.prefill_tps = float(t["prompt_per_second"])
    elif ttft_s > 0 and out.prompt_tokens:
        out.prefill_tps = (out.prompt_tokens - out.cached_prompt_tokens) / ttft_s
    if t.get("predicted_per_second"):
        out.decode_tps = float(t["predicted_per_second"])
    else:
        out.decode_tps = _decode_tps(out.completion_tokens, total_s, ttft_s)
    return out


def _decode_tps(tokens: int, total_s: float, ttft_s: float) -> float:
    """Tokens after the first, over the time after the first; whole call when unknown."""
    span = total_s - ttft_s
    if tokens > 1 and span > 0:
        return (tokens - 1) / span
    return tokens / total_s if total_s > 0 else 0.0


def _parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _message_of(data: Any) -> str:
    """The human part of an error body in the shapes servers use."""
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            return str(err.get("message") or err.get("msg") or err)
        if isinstance(err, list):  # FastAPI validation errors
            return "; ".join(_validation_item(e) for e in err)
        if err is not None:
            return str(err)
    return json.dumps(data)[:300]


def _validation_item(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(p) for p in item.get("loc") or [])
    return f"{item.get('msg', item)}" + (f" at {where}" if where else "")


def _error_message(response: httpx.Response) -> str:
    """The server's error message on one line, short enough for a CLI error line."""
    try:
        text = _message_of(response.json())
    except ValueError:
        text = response.text
    text = " ".join(text.split()) or response.reason_phrase
    return text if len(text) <= 300 else text[:297] + "..."


def _hint_for_status(status: int) -> str:
    if status in (401, 403):
        return "set the API key: api_key=..., $KAPIBARA_OPENAI_API_KEY or $OPENAI_API_KEY"
    if status == 404:
        return "check the model name and that the base URL ends in /v1"
    if status == 429:
        return "the server is rate limiting; wait, or raise max_retries"
    if status >= 500:
        return "the server failed; check its log"
    return "the server rejected the request; see its message above"
