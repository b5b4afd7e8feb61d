"""Load and render the prompt templates shipped as YAML package data.

Every ``*.yaml`` file in ``kapibara/prompts/templates/`` maps template names to one text
per language (``{name: {zh: ..., en: ...}}``); texts are Jinja2 templates rendered with
``StrictUndefined`` so a missing variable fails loudly. To add a template, add an entry to
any of those files (or a new file): no code changes. Structured prompts (a whole
``Prompt`` per language) live in ``templates/prompts/<name>.yaml``.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import jinja2
import yaml

from kapibara.errors import ConfigError

LANGUAGES = ("zh", "en")
_PACKAGE = "kapibara.prompts.templates"


@functools.cache
def _catalog() -> dict[str, dict[str, str]]:
    catalog: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    for entry in sorted(resources.files(_PACKAGE).iterdir(), key=lambda e: e.name):
        if not entry.is_file() or not entry.name.endswith((".yaml", ".yml")):
            continue
        where = f"kapibara/prompts/templates/{entry.name}"
        try:
            data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: invalid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping of template names")
        for name, texts in data.items():
            if name in catalog:
                raise ConfigError(
                    f"{where}: template '{name}' is already defined in {origin[name]}",
                    hint="template names are global; rename one",
                )
            if not isinstance(texts, dict) or not all(isinstance(v, str) for v in texts.values()):
                raise ConfigError(f"{where}: template '{name}' must map languages (zh, en) to text")
            catalog[name] = texts
            origin[name] = where
    return catalog


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=False,
    )


@functools.lru_cache(maxsize=1024)
def _compiled(text: str) -> jinja2.Template:
    """A template's text compiled once: compiling took ~3 ms a template, and a system
    prompt with its few-shot examples renders a dozen of them per decision."""
    return _env().from_string(text)


_CJK = re.compile(r"[\u4e00-\u9fff]")


def detect_language(text: str) -> str:
    """``"zh"`` when the text has Chinese characters, else ``"en"``."""
    return "zh" if _CJK.search(text) else "en"


def template_names() -> list[str]:
    """Names of every text template, sorted."""
    return sorted(_catalog())


def load_template(name: str, language: str = "zh") -> str:
    """The raw (unrendered) text of template ``name`` in ``language`` (``zh`` or ``en``)."""
    catalog = _catalog()
    if name not in catalog:
        raise ConfigError(
            f"unknown prompt template '{name}'",
            hint=f"known templates: {', '.join(sorted(catalog))}",
        )
    texts = catalog[name]
    if language not in texts:
        raise ConfigError(
            f"prompt template '{name}' has no '{language}' text",
            hint=f"available: {', '.join(texts)}",
        )
    return texts[language]


def render_template(name: str, language: str = "zh", /, **variables: Any) -> str:
    """Render template ``name`` in ``language`` with Jinja2; a missing variable raises ConfigError."""
    text = load_template(name, language)
    try:
        return _compiled(text).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"prompt template '{name}' ({language}) needs a variable that was not given: {exc.message}",
        ) from exc
    except jinja2.TemplateError as exc:
        raise ConfigError(f"prompt template '{name}' ({language}) is broken: {exc}") from exc


def load_prompt_data(name: str, language: str = "zh") -> dict[str, Any]:
    """The raw data of built-in structured prompt ``name`` (``templates/prompts/<name>.yaml``)."""
    folder = resources.files(_PACKAGE).joinpath("prompts")
    entry = folder.joinpath(f"{name}.yaml")
    if not entry.is_file():
        known = sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".yaml"))
        raise ConfigError(f"unknown built-in prompt '{name}'", hint=f"known: {', '.join(known)}")
    data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
    if language not in data:
        raise ConfigError(f"built-in prompt '{name}' has no '{language}' version")
    return dict(data[language])
