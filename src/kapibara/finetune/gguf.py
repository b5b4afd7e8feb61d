"""A peft LoRA adapter served by llama.cpp: as a GGUF LoRA adapter, merged into the base
and re-quantised, or as the plain peft folder for vLLM.

    export_gguf_adapter("runs/x/adapter", base, "x.lora.gguf")   # Llama(model_path=base, lora_path=...)
    merge_and_quantize("runs/x/adapter", base, "x-Q8_0.gguf")   # one file, no adapter cost per token
    export_peft_folder("runs/x/adapter", "x-peft")                # vllm serve ... --lora-modules x=x-peft

The adapter file has the layout of llama.cpp's ``convert_lora_to_gguf.py``:
``general.type = "adapter"``, ``adapter.type = "lora"``, ``adapter.lora.alpha``, the base's
architecture, and per target weight ``blk.{i}.attn_q.weight.lora_a`` (numpy shape
``(r, in)``, ggml ``ne = [in, r]``) and ``.lora_b`` (``(out, r)``, ``ne = [r, out]``), which
is peft's ``lora_A``/``lora_B`` unchanged; llama.cpp scales by ``alpha / r``
(``src/llama-adapter.cpp``, ``llama_adapter_lora_weight::get_scale``).

Only the ``gguf`` package and numpy are needed (no torch): the adapter's safetensors file
is read here directly, so bf16 adapters work too.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kapibara.errors import ConfigError, DataError, require
from kapibara.fileio import atomic_path, write_atomic
from kapibara.models.quantize import QUANT_TYPES, quantize_gguf

Progress = Callable[[str], None]
"""Called with one line of progress text (a stage, or ``tensors 120/291``)."""

# Architectures whose Hugging Face -> GGUF conversion keeps q/k weights as they are. For
# "llama" and its kin convert_hf_to_gguf.py permutes q_proj/k_proj rows, so an adapter's
# lora_B would need the same permutation: not done here, refused instead.
SUPPORTED_ARCHS = ("qwen2",)

MERGED_QUANT = "Q8_0"
"""The merged model's default type. A LoRA delta trained on the 2-core recipe is smaller
than a 4-bit step: re-quantising ``W_q4 + delta`` to Q4_K_M snaps nearly every weight back
to the base's grid value, and the merged model decided like the untuned base (0/24 on the
domain test split where the adapter got 16/24, bench/results/finetune.md). Q8_0's finer
grid keeps the delta (675 MB for the 0.5B, against 491 MB). Q4_0, on a grid other than the
base's, does not keep it either: a merge re-quantised to Q4_0 right 49 of 72 test cases
where the adapter and the Q8_0 merge were right 68 and 67 (bench/results/finetune_session13.md).
Rounding to Q4_0 by GPTQ on the training samples keeps it (``kapibara.finetune.gptq``): that
is what ``kapibara finetune export --merge`` writes unless ``--quant`` names a type here."""

_PEFT_PREFIX = "base_model.model."


def _gguf() -> Any:
    return require("gguf", "gguf", "train")


@dataclass(frozen=True)
class LoraWeight:
    """One adapted weight: ``W + scale * B @ A``; A is ``(r, in)``, B is ``(out, r)``."""

    a: np.ndarray
    b: np.ndarray
    scale: float

    @property
    def rank(self) -> int:
        return int(self.a.shape[0])

    def delta(self) -> np.ndarray:
        """``scale * B @ A`` in float32, shaped like the base weight ``(out, in)``."""
        return (self.scale * (self.b.astype(np.float32) @ self.a.astype(np.float32))).astype(np.float32)


@dataclass(frozen=True)
class PeftAdapter:
    """A peft LoRA adapter folder read into memory, keyed by Hugging Face module name
    (``model.layers.0.self_attn.q_proj``)."""

    path: Path
    config: dict[str, Any]
    weights: dict[str, LoraWeight]

    @property
    def alpha(self) -> float:
        return float(self.config.get("lora_alpha") or self.config.get("r") or 8)


# -- reading the peft folder ---------------------------------------------------------

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as float32 numpy arrays (F32, F16, BF16, F64)."""
    try:
        raw = path.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
    except (OSError, struct.error, ValueError) as exc:
        raise DataError(f"{path} is not a readable safetensors file: {exc}",
                        hint="save the adapter again with PeftModel.save_pretrained") from exc
    body = memoryview(raw)[8 + n :]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _ST_DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise DataError(f"{path}: tensor {name} has dtype {info.get('dtype')}, not a float type")
        start, end = info["data_offsets"]
        if end > len(body):
            raise DataError(f"{path} is truncated (tensor {name} ends past the file)",
                            hint="save the adapter again with PeftModel.save_pretrained")
        arr = np.frombuffer(body[start:end], dtype=dtype).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.astype(np.float32)
    return out


def _pattern_value(pattern: dict[str, Any], module: str, default: Any) -> Any:
    # peft's own rule (peft.utils.other.get_pattern_key): a key matches a module name
    # when it matches the name's tail at a dot boundary.
    for key, value in pattern.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def read_peft_adapter(adapter_dir: str | Path) -> PeftAdapter:
    """Read ``adapter_config.json`` + ``adapter_model.safetensors`` as ``PeftModel.save_pretrained``
    writes them. Raises a one-line error for anything llama.cpp cannot serve (DoRA, extra
    trained modules, embeddings, fan-in-fan-out layers)."""
    folder = Path(adapter_dir).expanduser()
    cfg_path, st_path = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    hint = "give the folder PeftModel.save_pretrained wrote (adapter_config.json + adapter_model.safetensors)"
    if not cfg_path.is_file() or not st_path.is_file():
        raise ConfigError(f"{folder} is not a peft adapter folder", hint=hint)
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{cfg_path} is not valid JSON: {exc}", hint=hint) from exc
    if not isinstance(config, dict) or str(config.get("peft_type", "")).upper() != "LORA":
        raise ConfigError(f"{cfg_path} is not a LoRA adapter (peft_type {config.get('peft_type')!r})",
                          hint="only LoRA adapters can be exported to llama.cpp")
    for key, why in (("use_dora", "DoRA"), ("fan_in_fan_out", "fan-in-fan-out (Conv1D) layers")):
        if config.get(key):
            raise ConfigError(f"{folder}: {why} adapters are not supported by llama.cpp",
                              hint=f"train with {key}=False")
    if config.get("modules_to_save"):
        raise ConfigError(f"{folder} also trains whole modules ({config['modules_to_save']})",
                          hint="llama.cpp adapters hold LoRA pairs only; train without modules_to_save")
    if config.get("bias", "none") != "none":
        raise ConfigError(f"{folder} trains biases (bias={config['bias']!r})", hint="train with bias='none'")
    tensors = read_safetensors(st_path)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in tensors.items():
        m = re.fullmatch(r"(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight", key)
        if m is None:
            raise ConfigError(f"{st_path}: tensor {key} is not a LoRA A/B weight",
                              hint="embeddings, DoRA magnitudes and saved modules cannot go to llama.cpp")
        pairs.setdefault(m.group(1), {})[m.group(2)] = arr
    if not pairs:
        raise DataError(f"{st_path} holds no LoRA weights", hint=hint)
    r, alpha = int(config.get("r") or 8), float(config.get("lora_alpha") or 8)
    weights: dict[str, LoraWeight] = {}
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise DataError(f"{st_path}: {module} has lora_{''.join(ab)} but not its pair", hint=hint)
        a, b = ab["A"], ab["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise DataError(f"{st_path}: {module} has A {a.shape} and B {b.shape}, not (r, in) and (out, r)")
        rank = int(_pattern_value(config.get("rank_pattern") or {}, module, r))
        mod_alpha = float(_pattern_value(config.get("alpha_pattern") or {}, module, alpha))
        if rank != a.shape[0]:
            raise DataError(f"{st_path}: {module} has rank {a.shape[0]}, the config says {rank}")
        scale = mod_alpha / math.sqrt(rank) if config.get("use_rslora") else mod_alpha / rank
        weights[module] = LoraWeight(a=a, b=b, scale=scale)
    return PeftAdapter(path=folder, config=config, weights=weights)


# -- the base GGUF -------------------------------------------------------------------


def _reader(base_gguf: str | Path) -> Any:
    path = Path(base_gguf).expanduser()
    if not path.is_file():
        raise ConfigError(f"base model {path} does not exist", hint="give the GGUF the adapter was trained on")
    try:
        return _gguf().GGUFReader(str(path))
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} is not a readable GGUF file: {exc}") from exc


def _arch(reader: Any) -> str:
    field = reader.get_field("general.architecture")
    arch = str(field.contents()) if field is not None else ""
    if arch not in SUPPORTED_ARCHS:
        raise ConfigError(
            f"base architecture {arch or '(none)'!r} is not supported here (supported: {', '.join(SUPPORTED_ARCHS)})",
            hint="for other architectures use llama.cpp's convert_lora_to_gguf.py",
        )
    return arch


def tensor_names(reader: Any) -> Any:
    """gguf's map from Hugging Face module names to the base's llama.cpp tensor names
    (``get_name("model.layers.3.self_attn.q_proj.weight") == "blk.3.attn_q.weight"``)."""
    gguf = _gguf()
    arch = _arch(reader)
    n_blocks = int(reader.get_field(f"{arch}.block_count").contents())
    return gguf.get_tensor_name_map({v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch], n_blocks)


def copy_metadata(reader: Any, writer: Any, skip: tuple[str, ...] = ()) -> None:
    """Every key of the base (tokenizer, chat template, hyper-parameters) into ``writer``,
    but for ``skip``. The writer writes the architecture itself; GGUF.* are the reader's
    virtual fields."""
    gguf = _gguf()
    for field in reader.fields.values():
        if field.name in (gguf.Keys.General.ARCHITECTURE, *skip) or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)


def gguf_names(adapter: PeftAdapter, reader: Any) -> dict[str, LoraWeight]:
    """The adapter's weights keyed by llama.cpp tensor name (``blk.3.attn_q.weight``),
    each checked against the base tensor's shape."""
    arch = _arch(reader)
    names = tensor_names(reader)
    base = {t.name: t for t in reader.tensors}
    out: dict[str, LoraWeight] = {}
    for module, w in adapter.weights.items():
        name = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if name is None:
            raise ConfigError(f"adapter module {module} has no llama.cpp tensor for {arch}",
                              hint="target q/k/v/o_proj and gate/up/down_proj only")
        if name in ("token_embd.weight", "output.weight"):
            raise ConfigError(f"adapter targets {module} (embeddings/lm_head)",
                              hint="target the attention and MLP projections only")
        tensor = base.get(name)
        # ggml's ne is [in, out]; GGUFReader.shape lists it in that order.
        want = (int(tensor.shape[1]), int(tensor.shape[0])) if tensor is not None else None
        got = (int(w.b.shape[0]), int(w.a.shape[1]))
        if want != got:
            raise ConfigError(
                f"adapter weight {module} is {got[0]}x{got[1]} but the base's {name} is "
                + (f"{want[0]}x{want[1]}" if want else "missing"),
                hint="wrong base model: pass the GGUF the adapter was trained on (--base)",
            )
        out[name] = w
    return out


# -- exports -------------------------------------------------------------------------


def export_gguf_adapter(adapter_dir: str | Path, base_gguf: str | Path, out_path: str | Path) -> Path:
    """Write the peft adapter as a GGUF LoRA adapter llama.cpp loads with ``lora_path``.

    Tensors stay float32 (a rank-8 adapter on the 0.5B is a few MB). When peft's scale
    for a weight is not llama.cpp's ``alpha / r`` (rsLoRA, ``alpha_pattern``), the
    difference is folded into that weight's B, so every adapter loads with one alpha.
    """
    gguf = _gguf()
    adapter = read_peft_adapter(adapter_dir)
    reader = _reader(base_gguf)
    weights = gguf_names(adapter, reader)
    alpha = adapter.alpha
    out = Path(out_path).expanduser()
    with atomic_path(out, suffix=".gguf") as tmp:
        writer = gguf.GGUFWriter(str(tmp), _arch(reader))
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_name(adapter.path.resolve().name)
        for name, w in weights.items():
            fold = w.scale / (alpha / w.rank)
            b = w.b if math.isclose(fold, 1.0, rel_tol=1e-6) else w.b * np.float32(fold)
            writer.add_tensor(name + ".lora_a", np.ascontiguousarray(w.a, dtype=np.float32))
            writer.add_tensor(name + ".lora_b", np.ascontiguousarray(b, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return out


def merge_to_gguf(adapter_dir: str | Path, base_gguf: str | Path, out_path: str | Path,
                  progress: Progress | None = None) -> Path:
    """Write the base GGUF with the LoRA delta added (``W + alpha/r * B @ A``).

    Adapted weights are dequantised, merged and stored as F16; every other tensor and all
    metadata (tokenizer, chat template) are copied byte for byte.
    """
    gguf = _gguf()
    adapter = read_peft_adapter(adapter_dir)
    reader = _reader(base_gguf)
    weights = gguf_names(adapter, reader)
    report = progress or (lambda line: None)
    out = Path(out_path).expanduser()
    with atomic_path(out, suffix=".gguf") as tmp:
        writer = gguf.GGUFWriter(str(tmp), _arch(reader), endianess=reader.endianess)
        copy_metadata(reader, writer)
        for t in reader.tensors:
            if t.name in weights:
                rows, cols = int(t.shape[1]), int(t.shape[0])
                writer.add_tensor_info(t.name, (rows, cols), np.dtype(np.float16), rows * cols * 2,
                                       gguf.GGMLQuantizationType.F16)
            else:
                writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        n = len(reader.tensors)
        for i, t in enumerate(reader.tensors, 1):
            if t.name in weights:
                base = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
                merged = (base.reshape(weights[t.name].b.shape[0], -1) + weights[t.name].delta()).astype(np.float16)
                writer.write_tensor_data(merged)
            else:
                writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
            if i % 25 == 0 or i == n:
                report(f"merge: tensors {i}/{n}")
        writer.close()
    return out


def merge_and_quantize(adapter_dir: str | Path, base_gguf: str | Path, out_path: str | Path,
                       quant: str = MERGED_QUANT, threads: int | None = None,
                       progress: Progress | None = None, tensor_types: dict[str, str] | None = None) -> Path:
    """The base with the LoRA merged in and re-quantised: one GGUF that decodes at the
    base model's speed. The F16 intermediate lives beside ``out_path`` and is removed.
    ``tensor_types``: other types for the tensors whose names match (``quantize_gguf``)."""
    if quant.upper() not in QUANT_TYPES:
        raise ConfigError(f"unknown quantisation {quant!r}", hint="one of: " + ", ".join(QUANT_TYPES))
    report = progress or (lambda line: None)
    out = Path(out_path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".f16.gguf")
    os.close(fd)
    merged = Path(name)
    t0 = time.perf_counter()
    try:
        merge_to_gguf(adapter_dir, base_gguf, merged, progress=report)
        report(f"merged in {time.perf_counter() - t0:.1f}s; quantising to {quant.upper()}")
        quantize_gguf(merged, out, quant, threads=threads, progress=report, tensor_types=tensor_types)
    finally:
        merged.unlink(missing_ok=True)
    report(f"{out.name}: {out.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f}s")
    return out


def export_peft_folder(adapter_dir: str | Path, out_dir: str | Path, *, name: str = "tuned",
                       base_model: str | None = None, serve_dir: str | Path | None = None) -> Path:
    """Copy the peft adapter to ``out_dir`` for vLLM (``--lora-modules NAME=DIR``), with a
    README naming the command. ``base_model`` (a Hugging Face id) is written into the
    copied ``adapter_config.json`` when given; ``serve_dir`` is the folder's final place
    when ``out_dir`` is a staging folder."""
    adapter = read_peft_adapter(adapter_dir)  # refuses what no server could load
    out = Path(out_dir).expanduser()
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        config = dict(adapter.config)
        if base_model:
            config["base_model_name_or_path"] = base_model
        write_atomic(tmp / "adapter_config.json", json.dumps(config, indent=2, ensure_ascii=False))
        shutil.copy2(adapter.path / "adapter_model.safetensors", tmp / "adapter_model.safetensors")
        serve_base = base_model or str(config.get("base_model_name_or_path") or "BASE_MODEL")
        write_atomic(tmp / "README.md", (
            f"# {name}: LoRA adapter (peft)\n\n"
            f"vllm serve {serve_base} --enable-lora --max-lora-rank {1 << max(3, (adapter_rank(adapter) - 1).bit_length())} "
            f"--lora-modules {name}={Path(serve_dir or out).resolve()}\n\n"
            "Trained on the dequantised GGUF base; a full-precision base gives slightly different logits.\n"
        ))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def adapter_rank(adapter: PeftAdapter) -> int:
    """The largest rank among the adapter's weights."""
    return max(w.rank for w in adapter.weights.values())
