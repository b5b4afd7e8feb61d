"""Render the retrieval prompts kept in ``kapibara/prompts/templates/rag_*.yaml`` and
``memory_extract.yaml``.

The files use the shared template format (``{name: {zh: text, en: text}}``, so
``kapibara.prompts.render_template`` renders them too); this helper reads its own file
directly so one teammate's broken template file cannot break retrieval, and returns
ready chat messages (``<file>_system`` + ``<file>_user``). Prompt text lives only there.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import jinja2
import yaml

from kapibara.errors import ConfigError
from kapibara.models.base import Message

_env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@functools.cache
def _load(file: str) -> dict[str, dict[str, str]]:
    entry = resources.files("kapibara.prompts.templates").joinpath(f"{file}.yaml")
    try:
        data = yaml.safe_load(entry.read_text(encoding="utf-8"))
    except (FileNotFoundError, yaml.YAMLError) as exc:
        raise ConfigError(f"prompt template file {file}.yaml is missing or broken: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"prompt template file {file}.yaml must map template names to texts")
    return data


def render_messages(file: str, language: str, **variables: Any) -> list[Message]:
    """System + user messages from templates ``<file>_system`` / ``<file>_user``."""
    data = _load(file)
    msgs: list[Message] = []
    for role in ("system", "user"):
        texts = data.get(f"{file}_{role}")
        if not texts:
            continue
        text = texts.get(language) or texts.get("en") or ""
        try:
            content = _env.from_string(text).render(**variables).strip()
        except jinja2.TemplateError as exc:
            raise ConfigError(f"prompt template {file}_{role} ({language}) failed: {exc}") from exc
        msgs.append({"role": role, "content": content})
    return msgs
