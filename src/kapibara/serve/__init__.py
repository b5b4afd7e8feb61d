"""An OpenAI-compatible HTTP API over kapibara's agents and models (extra ``server``).

    from kapibara.serve import create_app
    app = create_app({"qwen2.5-coder-0.5b": model}, store=open_store("sessions.db"))

``kapibara serve`` builds and runs it (``server.py``). Modules: ``app`` (routes),
``schema`` (the OpenAI wire format), ``passthrough`` (one decision for a client's tools),
``agents`` (agent mode and sessions), ``streaming`` (SSE chunks), ``queue`` (one model
shared fairly), ``worker`` (generation in a thread, cancellable), ``auth``, ``metrics``,
``errors``; the web UI at ``/`` (``ui/``) and its routes: ``console`` (the routes),
``sessions`` (sessions and their traces as the UI shows them), ``knowledge`` (upload and
search knowledge bases).
"""

from kapibara.serve.agents import DEFAULT_AGENTS, SESSION_HEADER, AgentSpec
from kapibara.serve.app import ServeConfig, create_app

__all__ = ["DEFAULT_AGENTS", "SESSION_HEADER", "AgentSpec", "ServeConfig", "create_app"]
