"""Typed settings: arguments win, then ``KAPIBARA_*`` environment variables, then
``$KAPIBARA_HOME/config.yaml``. Unknown keys are errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kapibara.errors import ConfigError

DEFAULT_MODEL = "llamacpp:qwen2.5-coder-0.5b"


def kapibara_home() -> Path:
    """Cache and state directory: ``$KAPIBARA_HOME`` or ``~/.cache/kapibara``."""
    return Path(os.environ.get("KAPIBARA_HOME") or Path.home() / ".cache" / "kapibara")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAPIBARA_", extra="forbid")

    home: Path = kapibara_home()
    model: str = DEFAULT_MODEL
    threads: int | None = None
    n_ctx: int = 4096
    request_timeout_s: float = 60.0
    max_retries: int = 3
    session_db: str | None = None
    language: Literal["auto", "zh", "en"] = "auto"
    """``auto``: answer in the language of the user's message."""
    answer_prompt: Literal["cached", "plain"] = "plain"
    """How the answer from tool results is prompted (``kapibara.agent.answer``): ``plain``
    (the first layout), or ``cached``, whose fixed part's prefilled state is saved: faster,
    but the 0.5B's answers got terser (bench/results/first_run.md), so it is opt-in."""
    direct_answers: bool = True
    """Tools that render their own results (``Tool.direct_answer``) answer the turn;
    false: the model always writes the answer."""
    api_keys: str | None = None
    """Keys ``kapibara serve`` accepts (``Authorization: Bearer KEY``), comma-separated."""
    side_effects: str | None = None
    """What calls to side-effecting tools do: ``allow``, ``confirm`` or ``deny``, and
    ``TOOL=MODE`` per tool, comma-separated (``confirm,view_cart=allow``); None: the tool set's default."""

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from overrides, environment and the config file."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        cfg_path = kapibara_home() / "config.yaml"
        file_values: dict[str, Any] = {}
        if cfg_path.exists():
            try:
                file_values = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{cfg_path} is not valid YAML: {exc}") from exc
            if not isinstance(file_values, dict):
                raise ConfigError(f"{cfg_path} must hold a mapping of settings")
        env_keys = {k[len("KAPIBARA_") :].lower() for k in os.environ if k.startswith("KAPIBARA_")}
        merged = {k: v for k, v in file_values.items() if k not in env_keys}
        merged.update(overrides)
        try:
            return cls(**merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"bad setting {loc}: {first['msg']}") from exc
