"""A trained adapter made servable and registered: ``kapibara finetune export``.

    tuned = publish("runs/grocery", name="grocery", merge=True)
    load_model("llamacpp:grocery")

Writes into the tuned model's folder (``$KAPIBARA_HOME/models/tuned/NAME/``) the GGUF LoRA
adapter, optionally the merged re-quantised GGUF, and the peft folder for vLLM, then the
registry record (``kapibara.models.tuned``). The record is written last: a failed export
leaves an earlier model of the same name as it was.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from kapibara.errors import ConfigError
from kapibara.finetune.gguf import (
    MERGED_QUANT,
    Progress,
    export_gguf_adapter,
    export_peft_folder,
    merge_and_quantize,
)
from kapibara.models import tuned
from kapibara.models.bundled import BUNDLED, model_path

# Hugging Face ids of the bundled models' full-precision weights (for vLLM's --lora-modules).
HF_IDS = {
    "qwen2.5-coder-0.5b": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
    "qwen2.5-coder-1.5b": "Qwen/Qwen2.5-Coder-1.5B-Instruct",
}


def find_adapter(run_or_adapter: str | Path) -> Path:
    """The peft adapter folder: the path itself, or its ``adapter/`` sub-folder (a run)."""
    path = Path(run_or_adapter).expanduser()
    for candidate in (path, path / "adapter"):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise ConfigError(f"no peft adapter in {path} (no adapter_config.json there or in {path / 'adapter'})",
                      hint="give the training run's folder or the folder PeftModel.save_pretrained wrote")


def base_file(base: str) -> Path:
    """A bundled model's verified GGUF, or a GGUF path."""
    if base in BUNDLED:
        return model_path(base)
    path = Path(base).expanduser()
    if not path.is_file():
        raise ConfigError(f"base {base!r} is neither a bundled model nor a GGUF file",
                          hint="known models: " + ", ".join(BUNDLED))
    return path


def publish(run_or_adapter: str | Path, name: str, *, base: str = "qwen2.5-coder-0.5b", merge: bool = False,
            quant: str = MERGED_QUANT, metadata: dict[str, Any] | None = None, threads: int | None = None,
            progress: Progress | None = None, tensor_types: dict[str, str] | None = None) -> tuned.TunedModel:
    """Export the adapter (GGUF adapter, peft folder, and with ``merge`` the merged
    ``quant`` GGUF, ``tensor_types`` giving the tensors whose names match another type)
    into the tuned model's folder and register it as ``name``."""
    report = progress or (lambda line: None)
    folder = tuned.model_dir(name)  # checks the name before any work
    adapter = find_adapter(run_or_adapter)
    base_gguf = base_file(base)
    t0 = time.perf_counter()
    # Built in a staging folder and swapped in at the end: a failed export leaves an
    # earlier model of the same name untouched.
    stage = folder.with_name(f".{name}.partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        export_gguf_adapter(adapter, base_gguf, stage / "adapter.gguf")
        report(f"adapter: {folder / 'adapter.gguf'} ({(stage / 'adapter.gguf').stat().st_size / 1e6:.1f} MB)")
        export_peft_folder(adapter, stage / "peft", name=name, base_model=HF_IDS.get(base), serve_dir=folder / "peft")
        report(f"peft folder (vLLM): {folder / 'peft'}")
        mixed = "-mixed" if tensor_types else ""
        merged_name = f"merged-{quant.upper()}{mixed}.gguf" if merge else None
        if merged_name:
            merge_and_quantize(adapter, base_gguf, stage / merged_name, quant=quant, threads=threads, progress=report,
                               tensor_types=tensor_types)
        old = folder.with_name(f".{name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        stage.rename(folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(folder.with_name(f".{name}.old"), ignore_errors=True)
    info = {"source": str(adapter.resolve()), "export_s": round(time.perf_counter() - t0, 1), **(metadata or {})}
    if merge and tensor_types:
        info["tensor_types"] = dict(tensor_types)
    return tuned.register(name, base=base, adapter_gguf=folder / "adapter.gguf",
                          merged_gguf=folder / merged_name if merged_name else None,
                          peft_dir=folder / "peft", metadata=info)
