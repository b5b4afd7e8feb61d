"""Quantising a GGUF with llama.cpp, and the CPU copy a bundled model may run from.

    quantize_gguf("merged.f16.gguf", "merged.gguf", "Q8_0")    # any file, any listed type
    path = runtime_path("qwen2.5-coder-0.5b")                   # its Q4_0 CPU copy, made once
    path = runtime_path("qwen2.5-coder-0.5b", "q4_k_m")         # the file as shipped

The bundled models ship as Q4_K_M. On x86-64 with AVX2 (and on ARM) llama.cpp repacks
Q4_0 weights at load into interleaved blocks its matrix kernels read faster. For the
0.5B that made a Q4_0 copy of the shipped file prefill 179 tokens/s against 116 and
decode 51 against 37 (2 threads, one process, interleaved), and the agent's decisions
0.72-0.75x as long case for case on the domain test split and BFCL, with accuracy within
noise (5 cases gained, 8 lost of 194; the dev split 139 = 139 of 165): so the 0.5B runs
from its copy (``BundledModel.runs_as``). The 1.5B's copy was no faster (prefill 55
against 58 tokens/s, decisions 1.00x) and lost 4 more domain cases than it gained, so it
runs as shipped. ``bench/quant.py`` measures both; ``bench/results/quant.md``.

Re-quantising a 4-bit file cannot restore what Q4_K_M dropped; it moves each block onto
Q4_0's grid. That is why the choice is measured per model, and why ``NAME@q4_k_m`` and
``NAME@q4_0`` select either file explicitly. A model tuned from a bundled one trains from,
and merges into, the shipped file (a LoRA delta is smaller than a 4-bit step:
``kapibara.finetune.gguf.MERGED_QUANT``).
"""

from __future__ import annotations

import ctypes
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kapibara.errors import BackendError, ConfigError, require
from kapibara.fileio import atomic_path, write_atomic

Progress = Callable[[str], None]
"""Called with one line of progress text (``quantize Q4_0: tensors 125/290``)."""

QUANT_TYPES = ("Q4_0", "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q6_K", "Q8_0", "F16")
"""llama.cpp file types by the names its quantize tool uses."""

CPU_QUANT = "Q4_0"
"""The type of a bundled model's CPU copy."""

SHIPPED_QUANT = "Q4_K_M"
"""The type the bundled files ship as (``NAME@q4_k_m`` runs the file as shipped)."""


TENSOR_TYPES = ("Q4_0", "Q5_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "F16")
"""Types a ``tensor_types`` override may give a tensor (llama.cpp's ``GGML_TYPE_*``)."""


def parse_tensor_types(specs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["attn_=Q8_0"]`` (llama-quantize's ``--tensor-type PATTERN=TYPE``) as
    ``{"attn_": "Q8_0"}``; a clear error for a malformed one."""
    out: dict[str, str] = {}
    for spec in specs:
        pattern, eq, kind = spec.partition("=")
        if not eq:
            raise ConfigError(f"bad tensor type {spec!r}", hint=_TENSOR_TYPE_HINT)
        out.update(check_tensor_types({pattern: kind}))
    return out


_TENSOR_TYPE_HINT = "PATTERN=TYPE, e.g. attn_=Q8_0; TYPE one of " + ", ".join(TENSOR_TYPES)


def check_tensor_types(tensor_types: dict[str, str]) -> dict[str, str]:
    """``{pattern: type}`` with patterns stripped and types upper-cased; a clear error
    for an empty or invalid pattern or an unknown type."""
    out: dict[str, str] = {}
    for pattern, kind in tensor_types.items():
        pattern, kind = pattern.strip(), kind.strip().upper()
        if not pattern or kind not in TENSOR_TYPES:
            raise ConfigError(f"bad tensor type {pattern}={kind}", hint=_TENSOR_TYPE_HINT)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"bad tensor name pattern {pattern!r}: {exc}") from None
        out[pattern] = kind
    return out


def quantize_gguf(in_path: str | Path, out_path: str | Path, quant: str = "Q4_K_M",
                  threads: int | None = None, progress: Progress | None = None,
                  tensor_types: dict[str, str] | None = None) -> Path:
    """Quantise a GGUF with llama.cpp's ``llama_model_quantize`` (as ``llama-quantize`` does).

    Tensors already in the type the recipe picks for them are copied unchanged, so a
    merge of a Q4_K_M base re-quantises only the merged weights. ``tensor_types`` gives
    the tensors whose name matches a pattern (a regular expression searched in names
    such as ``blk.3.attn_q.weight``) another type, as ``llama-quantize --tensor-type``
    does. The output is written to a temp file and renamed: an interrupted run leaves no
    half file.
    """
    llama_cpp = require("llama_cpp", "llama-cpp-python", "llamacpp")
    key = quant.upper()
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{key}", None)
    if key not in QUANT_TYPES or ftype is None:
        raise ConfigError(f"unknown quantisation {quant!r}", hint="one of: " + ", ".join(QUANT_TYPES))
    report = progress or (lambda line: None)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True  # a tensor whose type the recipe changes is re-quantised
    params.nthread = threads or 0
    overrides = check_tensor_types(tensor_types or {})
    if overrides:
        # a null-pattern-terminated array; it and its strings must outlive the call
        table = (llama_cpp.llama_model_tensor_override * (len(overrides) + 1))()
        for i, (pattern, kind) in enumerate(overrides.items()):
            table[i].pattern = pattern.encode()
            table[i].type = getattr(llama_cpp, f"GGML_TYPE_{kind}")
        table[len(overrides)].pattern = None
        params.tt_overrides = ctypes.cast(table, ctypes.POINTER(llama_cpp.llama_model_tensor_override))
    seen: dict[str, Any] = {"last": 0, "tensor": ""}
    fallbacks: dict[str, int] = {}

    @llama_cpp.llama_log_callback
    def on_log(level: int, text: bytes, user_data: Any) -> None:
        # A tensor whose rows are no multiple of the type's block (the 0.5B's 896 columns
        # for a K-quant's 256) gets another type: llama.cpp says so in a warning only
        # ("warning: blk.0.ffn_up.weight - ncols 896 not divisible by 256 (required for type
        # q6_K) ", then "-> falling back to q8_0"). Counted for the tensors an override
        # named; the recipe's own fallbacks are its business.
        if warned := re.match(rb"warning: (\S+)\s+- ncols", text or b""):
            seen["tensor"] = warned.group(1).decode(errors="replace")
        fb = re.search(rb"falling back to\s+(\w+)", text or b"")
        if fb and any(re.search(p, seen["tensor"]) for p in overrides):
            kind = fb.group(1).decode(errors="replace").upper()
            fallbacks[kind] = fallbacks.get(kind, 0) + 1
        m = re.match(rb"\[\s*(\d+)/\s*(\d+)\]", text or b"")
        if m:
            done, total = int(m.group(1)), int(m.group(2))
            if done - seen["last"] >= 25 or done == total:
                seen["last"] = done
                report(f"quantize {key}: tensors {done}/{total}")

    out = Path(out_path).expanduser()
    with atomic_path(out, suffix=".gguf") as tmp:
        llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))
        try:
            rc = llama_cpp.llama_model_quantize(str(in_path).encode(), str(tmp).encode(), ctypes.byref(params))
        finally:
            from llama_cpp import _logger  # llama-cpp-python's own callback, restored

            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
        if rc != 0:
            raise BackendError(f"llama.cpp could not quantise {in_path} to {key} (code {rc})")
    if fallbacks:
        used = ", ".join(f"{n} to {kind}" for kind, n in sorted(fallbacks.items()))
        report(f"quantize {key}: {sum(fallbacks.values())} tensors could not take the type asked for (their rows "
               f"are no multiple of its block size; K-quants need 256) and fell back: {used}")
    return out


def split_quant(target: str) -> tuple[str, str | None]:
    """``"qwen2.5-coder-0.5b@q4_k_m"`` -> ``("qwen2.5-coder-0.5b", "Q4_K_M")``; no ``@``: None."""
    name, at, quant = target.partition("@")
    return name, (quant.strip().upper() or None) if at else None


def cpu_copy_path(name: str) -> Path:
    """Where bundled model ``name``'s CPU copy lives (beside the shipped file)."""
    from kapibara.models.bundled import bundled, models_dir

    stem = bundled(name).filename.removesuffix(".gguf")
    return models_dir() / f"{stem}.cpu-{CPU_QUANT.lower()}.gguf"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".source")


def _llama_version() -> str:
    """The llama-cpp-python version (a copy made by another one is made again)."""
    return str(getattr(require("llama_cpp", "llama-cpp-python", "llamacpp"), "__version__", "unknown"))


def cpu_copy_ok(name: str) -> bool:
    """Whether the CPU copy exists, was made from this bundled file by this llama.cpp, and
    is the file the marker describes (size and mtime)."""
    from kapibara.models.bundled import bundled

    path = cpu_copy_path(name)
    try:
        data = json.loads(_marker(path).read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("source_sha256") == bundled(name).sha256 \
        and data.get("quant") == CPU_QUANT and data.get("llama_cpp") == _llama_version() \
        and data.get("size") == st.st_size and data.get("mtime_ns") == st.st_mtime_ns


def runs_from(name: str, shipped: Path) -> Path:
    """The file bundled model ``name`` (shipped at ``shipped``) runs from as things stand,
    making nothing: its CPU copy when it runs as one and the copy is made, else ``shipped``."""
    if bundled_runs_as(name) == CPU_QUANT and cpu_copy_ok(name):
        return cpu_copy_path(name)
    return shipped


def bundled_runs_as(name: str) -> str:
    """The type bundled model ``name`` runs as by default (``BundledModel.runs_as``)."""
    from kapibara.models.bundled import bundled

    return bundled(name).runs_as.upper()


def make_cpu_copy(name: str, progress: Progress | None = None, force: bool = False) -> Path:
    """Make bundled model ``name``'s CPU copy from its verified file (nothing when a good
    one exists, unless ``force``). Raises the bundled file's errors (not pulled, corrupt)
    and BackendError when llama.cpp cannot write it."""
    from kapibara.models.bundled import bundled, model_path

    source = model_path(name)
    path = cpu_copy_path(name)
    if not force and cpu_copy_ok(name):
        return path
    quantize_gguf(source, path, CPU_QUANT, progress=progress)
    st = path.stat()
    write_atomic(_marker(path), json.dumps({
        "source": source.name, "source_sha256": bundled(name).sha256, "quant": CPU_QUANT,
        "llama_cpp": _llama_version(), "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return path


def runtime_path(name: str, quant: str | None = None) -> Path:
    """The file bundled model ``name`` runs from: the shipped file for Q4_K_M, its CPU copy
    for Q4_0, and for None what the model runs as by default (``BundledModel.runs_as``). A
    copy not made yet (``kapibara models pull`` makes the default ones) is made now; if it
    cannot be, the shipped file runs, with a warning on stderr."""
    from kapibara.models.bundled import model_path

    key = (quant or bundled_runs_as(name)).upper()
    if key == SHIPPED_QUANT:
        return model_path(name)
    if key != CPU_QUANT:
        raise ConfigError(f"{name}@{quant}: a bundled model runs as {SHIPPED_QUANT} (as shipped) or "
                          f"{CPU_QUANT} (its CPU copy)",
                          hint=f"use {name}@{SHIPPED_QUANT.lower()} or {name}@{CPU_QUANT.lower()}, "
                               "or quantise a file yourself and give its path")
    source = model_path(name)  # the shipped file's errors come first: not pulled, corrupt
    if cpu_copy_ok(name):
        return cpu_copy_path(name)
    print(f"kapibara: making {name}'s {CPU_QUANT} CPU copy (once)...", file=sys.stderr, flush=True)
    try:
        return make_cpu_copy(name)
    except (BackendError, OSError) as exc:
        print(f"kapibara: could not make it ({exc}); running the shipped file", file=sys.stderr, flush=True)
        return source
