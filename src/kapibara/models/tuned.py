"""The local registry of fine-tuned models: one folder per model under
``$KAPIBARA_HOME/models/tuned/NAME/`` holding ``tuned.json`` and the files it names.

    register("grocery", base="qwen2.5-coder-0.5b", adapter_gguf=..., merged_gguf=...)
    load_model("llamacpp:grocery")      # the merged GGUF, or the base + the LoRA adapter

A record names its base (a bundled model name or a GGUF path), the GGUF LoRA adapter,
the merged and re-quantised GGUF, the plain peft folder (for vLLM), when it was made, and
free metadata (a prompt variant, eval figures). Paths inside the model's folder are
stored relative to it, so the folder can be moved or copied to another machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kapibara.errors import ConfigError, ModelCacheError, ModelNotFoundError
from kapibara.fileio import write_atomic
from kapibara.models.bundled import BUNDLED, model_path, models_dir

RECORD = "tuned.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def tuned_dir() -> Path:
    """Where tuned models live: ``$KAPIBARA_HOME/models/tuned``."""
    return models_dir() / "tuned"


def model_dir(name: str) -> Path:
    """The folder of tuned model ``name`` (checked to be a valid name)."""
    check_name(name)
    return tuned_dir() / name


def check_name(name: str) -> str:
    """Refuse names that could not be a spec (``llamacpp:NAME``) or that shadow a bundled model."""
    if not _NAME.fullmatch(name or ""):
        raise ConfigError(f"bad tuned model name {name!r}",
                          hint="use letters, digits, '.', '_' or '-' (up to 64), e.g. grocery-v1")
    if name in BUNDLED:
        raise ConfigError(f"{name!r} is a bundled model's name", hint="pick another name for the tuned model")
    return name


@dataclass(frozen=True)
class TunedModel:
    """One registry record. Paths are absolute once read."""

    name: str
    base: str
    adapter_gguf: Path | None = None
    merged_gguf: Path | None = None
    peft_dir: Path | None = None
    created: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return tuned_dir() / self.name

    def base_path(self) -> Path:
        """The base GGUF: a bundled model's verified file, or the recorded path."""
        if self.base in BUNDLED:
            return model_path(self.base)
        path = Path(self.base).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"tuned model {self.name}: base {path} does not exist",
                                     hint=f"restore the base GGUF or export {self.name} again")
        return path

    def load_files(self) -> tuple[Path, Path | None]:
        """What llama.cpp loads: ``(merged, None)`` when the merged GGUF is there, else
        ``(base, adapter)``. A recorded file that is missing is an error with a hint."""
        hint = f"export it again: kapibara finetune export RUN --name {self.name}"
        if self.merged_gguf is not None:
            if not self.merged_gguf.is_file():
                raise ModelCacheError(f"tuned model {self.name}: {self.merged_gguf} is missing", hint=hint)
            return self.merged_gguf, None
        if self.adapter_gguf is None:
            raise ModelCacheError(f"tuned model {self.name} has neither a merged GGUF nor an adapter", hint=hint)
        if not self.adapter_gguf.is_file():
            raise ModelCacheError(f"tuned model {self.name}: {self.adapter_gguf} is missing", hint=hint)
        return self.base_path(), self.adapter_gguf

    def to_json(self) -> dict[str, Any]:
        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            return str(p.relative_to(self.folder)) if p.is_relative_to(self.folder) else str(p)

        return {"name": self.name, "base": self.base, "adapter_gguf": rel(self.adapter_gguf),
                "merged_gguf": rel(self.merged_gguf), "peft_dir": rel(self.peft_dir),
                "created": self.created, "metadata": self.metadata}


def _from_json(name: str, data: Any, path: Path) -> TunedModel:
    hint = f"export it again (kapibara finetune export RUN --name {name}) or delete {path.parent}"
    if not isinstance(data, dict) or not isinstance(data.get("base"), str) or data.get("name") != name:
        raise ModelCacheError(f"tuned model record {path} is corrupt (no base, or another name)", hint=hint)
    folder = path.parent

    def absolute(key: str) -> Path | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ModelCacheError(f"tuned model record {path}: {key} is not a path", hint=hint)
        p = Path(value).expanduser()
        return p if p.is_absolute() else folder / p

    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ModelCacheError(f"tuned model record {path}: metadata is not a mapping", hint=hint)
    return TunedModel(name=name, base=data["base"], adapter_gguf=absolute("adapter_gguf"),
                      merged_gguf=absolute("merged_gguf"), peft_dir=absolute("peft_dir"),
                      created=str(data.get("created") or ""), metadata=metadata)


def exists(name: str) -> bool:
    """Whether a record for ``name`` is on disk (valid or not); False for impossible names."""
    return bool(_NAME.fullmatch(name or "")) and (tuned_dir() / name / RECORD).is_file()


def get(name: str) -> TunedModel:
    """Read the record of tuned model ``name``."""
    path = model_dir(name) / RECORD
    if not path.is_file():
        known = [m.name for m in list_tuned() if isinstance(m, TunedModel)]
        raise ModelNotFoundError(
            f"no tuned model {name!r}",
            hint=("tuned models: " + ", ".join(known)) if known else "make one: kapibara finetune export RUN --name NAME",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelCacheError(f"tuned model record {path} is corrupt: {exc}",
                              hint=f"export it again (kapibara finetune export RUN --name {name}) "
                                   f"or delete {path.parent}") from exc
    return _from_json(name, data, path)


def register(name: str, *, base: str, adapter_gguf: Path | None = None, merged_gguf: Path | None = None,
             peft_dir: Path | None = None, metadata: dict[str, Any] | None = None) -> TunedModel:
    """Write (or replace) the record of ``name``; the files it names must exist."""
    check_name(name)
    if adapter_gguf is None and merged_gguf is None:
        raise ConfigError(f"tuned model {name}: nothing to serve", hint="give an adapter GGUF or a merged GGUF")
    for p in (adapter_gguf, merged_gguf, peft_dir):
        if p is not None and not Path(p).exists():
            raise ConfigError(f"tuned model {name}: {p} does not exist")
    if base not in BUNDLED and not Path(base).expanduser().is_file():
        raise ConfigError(f"tuned model {name}: base {base!r} is neither a bundled model nor a file",
                          hint="known models: " + ", ".join(BUNDLED))
    try:
        json.dumps(metadata or {})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"tuned model {name}: metadata is not JSON-serialisable: {exc}") from exc

    def resolved(p: Path | None) -> Path | None:
        return Path(p).expanduser().absolute() if p is not None else None

    record = TunedModel(
        name=name,
        base=base if base in BUNDLED else str(Path(base).expanduser().resolve()),
        adapter_gguf=resolved(adapter_gguf),
        merged_gguf=resolved(merged_gguf),
        peft_dir=resolved(peft_dir),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        metadata=dict(metadata or {}),
    )
    write_atomic(record.folder / RECORD, json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n")
    return record


def list_tuned() -> list[TunedModel | ModelCacheError]:
    """Every record, sorted by name; a corrupt one is listed as its error."""
    root = tuned_dir()
    out: list[TunedModel | ModelCacheError] = []
    if not root.is_dir():
        return out
    for path in sorted(root.glob(f"*/{RECORD}")):
        name = path.parent.name
        try:
            out.append(get(name))
        except ModelCacheError as exc:
            out.append(exc)
        except ConfigError:
            continue  # a folder whose name is not a valid model name is not a record
    return out
