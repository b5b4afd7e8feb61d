"""A trained adapter made servable and registered: ``kapibara finetune export``.

    tuned = publish("runs/grocery", name="grocery", merge=True)
    load_model("llamacpp:grocery")

Writes into the tuned model's folder (``$KAPIBARA_HOME/models/tuned/NAME/``) the GGUF LoRA
adapter, optionally the merged re-quantised GGUF, and the peft folder for vLLM, then the
registry record (``kapibara.models.tuned``). The record is written last: a failed export
leaves an earlier model of the same name as it was.

The merged GGUF's default type is ``GPTQ-Q4_0``: Q4_0 (the bundled 0.5B's fast CPU
type) rounded by GPTQ on the run's own training samples (``kapibara.finetune.gptq``),
which keeps the LoRA delta that plain rounding to Q4_0 erases. The llama.cpp types
(``Q8_0`` and the rest of ``QUANT_TYPES``) need no samples.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
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
from kapibara.models.quantize import QUANT_TYPES

GPTQ = "GPTQ-Q4_0"
"""Q4_0 rounded by GPTQ on training samples (``kapibara.finetune.gptq``)."""

DEFAULT_QUANT = GPTQ
"""The merged model's type unless one is asked for (bench/results/finetune_session24.md)."""

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


@dataclass(frozen=True)
class Calibration:
    """The samples a GPTQ merge rounds against, rendered as the run rendered them."""

    samples: Path
    toolset: str = "demo"
    profile: str = "compact"


def calibration_for(run_or_adapter: str | Path, samples: str | Path | None = None) -> Calibration:
    """The run's own training samples, tool set and prompt profile (its ``train.json``),
    or ``samples`` when given; a clear error when neither is there."""
    path = Path(run_or_adapter).expanduser()
    config: dict[str, Any] = {}
    for info in (path / "train.json", path.parent / "train.json"):
        if info.is_file():
            config = json.loads(info.read_text(encoding="utf-8")).get("config", {})
            break
    chosen = samples if samples is not None else config.get("data")
    hint = f"give the training samples with --calibration FILE, or merge with --quant {MERGED_QUANT}"
    if not chosen:
        raise ConfigError(f"{GPTQ} needs the samples the adapter was trained on, and {path} has no train.json "
                          "naming them", hint=hint)
    file = Path(chosen).expanduser()
    if not file.is_file():
        raise ConfigError(f"calibration samples {file} do not exist", hint=hint)
    return Calibration(samples=file, toolset=str(config.get("toolset", "demo")),
                       profile=str(config.get("profile", "compact")))


def publish(run_or_adapter: str | Path, name: str, *, base: str = "qwen2.5-coder-0.5b", merge: bool = False,
            quant: str = DEFAULT_QUANT, metadata: dict[str, Any] | None = None, threads: int | None = None,
            progress: Progress | None = None, tensor_types: dict[str, str] | None = None,
            calibration: str | Path | None = None) -> tuned.TunedModel:
    """Export the adapter (GGUF adapter, peft folder, and with ``merge`` the merged
    ``quant`` GGUF, ``tensor_types`` giving the tensors whose names match another type)
    into the tuned model's folder and register it as ``name``. ``GPTQ-Q4_0`` rounds on
    ``calibration`` (training samples; default: those the run names)."""
    report = progress or (lambda line: None)
    folder = tuned.model_dir(name)  # checks the name before any work
    adapter = find_adapter(run_or_adapter)
    base_gguf = base_file(base)
    quant = quant.upper()
    if quant not in (*QUANT_TYPES, GPTQ):
        raise ConfigError(f"unknown quantisation {quant!r}", hint="one of: " + ", ".join((GPTQ, *QUANT_TYPES)))
    gptq = merge and quant == GPTQ
    if gptq and tensor_types:
        raise ConfigError(f"--tensor-type does not apply to {GPTQ} (every weight is Q4_0)",
                          hint=f"use it with a llama.cpp type, e.g. --quant {MERGED_QUANT}")
    cal = calibration_for(run_or_adapter, calibration) if gptq else None
    rounding: dict[str, Any] = {}
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
        merged_name = f"merged-{quant}{mixed}.gguf" if merge else None
        if merged_name and cal is not None:
            from kapibara.finetune.gptq import merge_gptq

            report(f"{GPTQ}: calibrating on {cal.samples}")
            rounding = merge_gptq(adapter, base_gguf, stage / merged_name, samples=cal.samples, toolset=cal.toolset,
                                  profile=cal.profile, threads=threads, progress=report).to_dict()
            rounding["calibration"] = str(cal.samples)
        elif merged_name:
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
    if rounding:
        info["gptq"] = rounding
    return tuned.register(name, base=base, adapter_gguf=folder / "adapter.gguf",
                          merged_gguf=folder / merged_name if merged_name else None,
                          peft_dir=folder / "peft", metadata=info)
