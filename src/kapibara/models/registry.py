"""Model spec strings: which backend, which model.

Specs:
    llamacpp:qwen2.5-coder-0.5b      a bundled model (must be pulled)
    llamacpp:/path/to/model.gguf     any GGUF file
    llamacpp:grocery-v1              a tuned model (kapibara finetune export --name grocery-v1)
    qwen2.5-coder-0.5b               shorthand for the llamacpp spec
    openai:MODEL@http://127.0.0.1:8000/v1
    fake:hello                       the fake model, always answering "hello"
"""

from __future__ import annotations

from typing import Any

from kapibara.errors import ConfigError
from kapibara.models.base import Model

BACKENDS = ("llamacpp", "openai", "fake")


def split_spec(spec: str) -> tuple[str, str]:
    """``"llamacpp:x"`` -> ``("llamacpp", "x")``; a bare name or path means llamacpp."""
    backend, sep, rest = spec.partition(":")
    if sep and backend in BACKENDS:
        return backend, rest
    return "llamacpp", spec


def load_model(spec: str, **options: Any) -> Model:
    """Build a model from a spec string. Options go to the backend's constructor."""
    backend, target = split_spec(spec.strip())
    if backend == "fake":
        from kapibara.models.fake import FakeModel

        return FakeModel(default=target or "ok", name=f"fake:{target}")
    if backend == "openai":
        from kapibara.models.openai import OpenAIModel

        model_name, at, url = target.partition("@")
        if not at or not model_name or not url:
            raise ConfigError(
                f"bad openai model spec {spec!r}",
                hint="use openai:MODEL@http://HOST:PORT/v1",
            )
        return OpenAIModel(model_name, base_url=url, **options)
    if not target:
        raise ConfigError(f"bad model spec {spec!r}", hint="e.g. llamacpp:qwen2.5-coder-0.5b")
    from kapibara.models.llamacpp import LlamaCppModel

    return LlamaCppModel.from_name_or_path(target, **options)


def load_configured(spec: str | None = None, **overrides: Any) -> Model:
    """``load_model`` with the user's settings (arguments, ``KAPIBARA_*``, config file):
    threads and context size for llama.cpp, timeout and retries for HTTP servers."""
    from kapibara.settings import Settings

    settings = Settings.load(model=spec, **overrides)
    backend, _ = split_spec(settings.model)
    options: dict[str, Any] = {}
    if backend == "llamacpp":
        options = {"n_ctx": settings.n_ctx, "threads": settings.threads}
    elif backend == "openai":
        options = {"timeout_s": settings.request_timeout_s, "max_retries": settings.max_retries}
    return load_model(settings.model, **{k: v for k, v in options.items() if v is not None})
