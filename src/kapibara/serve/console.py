"""The web UI at ``/`` and the JSON routes it needs beyond OpenAI's API.

The page (``ui/index.html``, ``ui/app.js``, ``ui/style.css``: no build step) talks to
``/v1/models`` and ``/v1/chat/completions`` like any client, and to these, under the
same API keys:

``GET /v1/kapibara/sessions``                  the sessions, most recent first
``GET /v1/kapibara/sessions/{id}``             one session: its messages and its turns' traces
``DELETE /v1/kapibara/sessions/{id}``          delete it (messages, tool state, traces)
``GET /v1/kapibara/kb``                        the knowledge bases under ``$KAPIBARA_HOME/kb``
``POST /v1/kapibara/kb/{name}/documents``      multipart upload (field ``file``), ingested
``GET /v1/kapibara/kb/{name}/search?q=&k=&mode=``  the best chunks

The page itself is served without a key (it holds none); it asks for one when
``/v1/models`` answers 401.
"""

# No ``from __future__ import annotations``: FastAPI reads the route functions'
# annotations at runtime.
from collections.abc import Callable
from importlib import resources
from typing import Any

from kapibara.memory import SessionNotFound, SessionStore
from kapibara.serve import knowledge, sessions
from kapibara.serve.errors import APIError

ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
PREFIX = "/v1/kapibara"


def asset(name: str) -> str:
    """The text of one file of the page (``ui/NAME``), from the installed package."""
    return resources.files("kapibara.serve").joinpath("ui", name).read_text(encoding="utf-8")


def add_routes(app: Any, auth: Callable[..., None], *, sessions_store: SessionStore | None,
               embedder: knowledge.EmbedderSource, max_upload_bytes: int) -> None:
    """Register the page and the ``/v1/kapibara/*`` routes on ``app``: ``auth`` guards them,
    ``sessions_store`` is the agents' (None: no agents, no sessions), ``embedder`` the
    server's (knowledge bases use it)."""
    import fastapi
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request

    guarded = [fastapi.Depends(auth)]

    @app.get("/", include_in_schema=False)
    async def page() -> Any:
        return Response(asset("index.html"), media_type=ASSETS["index.html"], headers={"Cache-Control": "no-cache"})

    @app.get("/ui/{name}", include_in_schema=False)
    async def ui_file(name: str) -> Any:
        if name not in ASSETS:  # a fixed set: no path from the URL reaches the file system
            raise APIError(404, f"no file {name!r} in the web UI", code="unknown_url")
        return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    def store() -> SessionStore:
        if sessions_store is None:
            raise APIError(404, "this server runs no agents, so it keeps no sessions", code="no_session_store")
        return sessions_store

    @app.get(f"{PREFIX}/sessions", dependencies=guarded)
    async def list_sessions() -> dict[str, Any]:
        found = await run_in_threadpool(store().list_sessions)
        return {"object": "list", "data": [s.to_dict() for s in found]}

    @app.get(f"{PREFIX}/sessions/{{session_id}}", dependencies=guarded)
    async def get_session(session_id: str) -> dict[str, Any]:
        try:
            data = await run_in_threadpool(store().export, session_id)
        except SessionNotFound as exc:
            raise APIError(404, str(exc), param="session_id", code="session_not_found") from exc
        return {"session_id": session_id, "title": data["title"], "created_at": data["created_at"],
                "updated_at": data["updated_at"], "state": data["state"],
                "messages": sessions.chat_messages(data["messages"]), "turns": sessions.turns(data["traces"])}

    @app.delete(f"{PREFIX}/sessions/{{session_id}}", dependencies=guarded)
    async def delete_session(session_id: str) -> dict[str, Any]:
        if not await run_in_threadpool(store().delete, session_id):
            raise APIError(404, f"no session {session_id!r}", param="session_id", code="session_not_found")
        return {"id": session_id, "object": "session", "deleted": True}

    @app.get(f"{PREFIX}/kb", dependencies=guarded)
    async def list_kbs() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": n, "object": "knowledge_base"} for n in knowledge.names()]}

    @app.post(f"{PREFIX}/kb/{{name}}/documents", dependencies=guarded)
    async def upload(name: str, request: Request) -> dict[str, Any]:
        limit = max_upload_bytes
        too_big = APIError(413, f"an upload may have at most {limit} bytes", code="request_too_large")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_big
        try:
            form = await request.form(max_files=16)
        except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors become a 400
            raise APIError(400, f"not a multipart/form-data upload: {exc}", param="file") from exc
        files = [f for f in form.getlist("file") if not isinstance(f, str)]
        if not files:
            raise APIError(400, "no file: send multipart/form-data with a 'file' field", param="file")
        reports = []
        for part in files:
            data = await part.read()
            if len(data) > limit:
                raise too_big
            reports.append(await run_in_threadpool(knowledge.upload, name, part.filename or "", data, embedder))
        return {"object": "list", "kb": name, "data": reports}

    @app.get(f"{PREFIX}/kb/{{name}}/search", dependencies=guarded)
    async def search(name: str, q: str = "", k: int = 5, mode: str = "hybrid") -> dict[str, Any]:
        return await run_in_threadpool(knowledge.search, name, q, max(1, min(k, 50)), mode, embedder)
