"""A tuned model merged at Q4_0 without losing what it learned: GPTQ rounding against
activations of the model's own training samples.

    merge_gptq("runs/x/adapter", base_gguf, "x-Q4_0-gptq.gguf", samples="train.jsonl")

Why: the LoRA delta is smaller than a 4-bit step. Rounding each merged weight to its
nearest Q4_0 value (what llama.cpp's quantize does without an importance matrix) moves
the weights by more than the delta moved them, and the merge decided like a noisier
untuned model (``MERGED_QUANT``). GPTQ (Frantar et al., 2022, arXiv:2210.17323) rounds
the columns of each weight one at a time and spreads each column's rounding error over
the columns not yet rounded, weighted by the inverse Hessian ``H = X^T X`` of the layer's
inputs ``X``, so the layer's *outputs* on those inputs stay close to the merged
full-precision layer's. With ``X`` taken from the samples the adapter was trained on,
that is the delta's own behaviour that is kept.

The result is exactly llama.cpp's Q4_0 format (blocks of 32 inputs, one fp16 scale
``d`` each, values ``d * (q - 8)`` with ``q`` in 0..15), so it loads and decodes at the
speed of the bundled model's Q4_0 CPU copy or faster; it is written here with the
``gguf`` package (no llama.cpp quantize pass). Every attention and MLP weight is rounded
this way, adapted or not, and by default the output matrix too (``output``: 136M of the
0.5B's 494M weights, read in full for every decoded token; the CPU copy keeps it at
Q8_0). ``token_embd`` is rounded plainly to Q4_0, as in the copy: a lookup table, read
one row per token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kapibara.errors import ConfigError, DataError, require
from kapibara.fileio import atomic_path

Progress = Callable[[str], None]

BLOCK = 32
"""Q4_0's block: inputs sharing one scale."""

DAMP = 0.01
"""Added to the Hessian's diagonal, as a share of its mean (GPTQ's ``percdamp``)."""

CALIBRATION_SAMPLES = 256
"""Training samples run through the merged model to collect each layer's inputs."""

LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _torch() -> Any:
    return require("torch", "torch==2.13.0", "train")


# -- Q4_0 ------------------------------------------------------------------------------


def q4_0_scale(block_values: Any) -> Any:
    """llama.cpp's Q4_0 scale for each row of ``(rows, 32)`` values: the value of largest
    magnitude (its sign kept) over -8, as fp16 (what the file stores)."""
    torch = _torch()
    idx = block_values.abs().argmax(dim=1, keepdim=True)
    amax = torch.gather(block_values, 1, idx).squeeze(1)
    return (amax / -8).to(torch.float16).to(block_values.dtype)


def q4_0_round(w: Any, d: Any) -> Any:
    """Codes 0..15 of ``w`` under scales ``d`` (same shape), as llama.cpp rounds them:
    ``min(15, trunc(w / d + 8.5))``."""
    torch = _torch()
    inv = torch.where(d == 0, torch.zeros_like(d), 1.0 / d)
    return torch.clamp(torch.floor(w * inv + 8.5), 0, 15)


def pack_q4_0(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``codes`` ``(rows, cols)`` in 0..15 and ``scales`` ``(rows, cols/32)`` as Q4_0
    bytes ``(rows, cols/32 * 18)``: per block the fp16 scale, then 16 bytes whose low
    nibbles are the block's first 16 codes and high nibbles its last 16."""
    rows, cols = codes.shape
    q = codes.astype(np.uint8).reshape(rows, cols // BLOCK, 2, BLOCK // 2)
    qs = q[:, :, 0, :] | (q[:, :, 1, :] << np.uint8(4))
    d = scales.astype(np.float16).reshape(rows, cols // BLOCK, 1).view(np.uint8)
    return np.concatenate([d, qs], axis=2).reshape(rows, -1)


def gptq_q4_0(weight: Any, hessian: Any, *, damp: float = DAMP, block: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ of one ``(out, in)`` weight onto Q4_0's grid: ``(codes, scales)``.

    Columns are rounded left to right; each block of 32 takes its scale from its values
    as they stand when rounding reaches it (after the error spread from earlier columns),
    so the scales are Q4_0's own rule applied to the corrected weights."""
    torch = _torch()
    w = weight.detach().to(torch.float32).clone()
    rows, cols = w.shape
    if cols % BLOCK or block % BLOCK:
        raise ConfigError(f"a {rows}x{cols} weight's {cols} inputs are not a multiple of {BLOCK}",
                          hint="Q4_0 rounds blocks of 32 inputs; merge with --quant Q8_0")
    h = hessian.detach().to(torch.float32).clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += torch.eye(cols) * (damp * torch.mean(torch.diag(h)))
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    codes = torch.zeros_like(w)
    scales = torch.zeros(rows, cols // BLOCK)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        w1 = w[:, i1:i2].clone()
        err = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = i1 + i
            if col % BLOCK == 0:
                scales[:, col // BLOCK] = q4_0_scale(w1[:, i:i + BLOCK])
            d = scales[:, col // BLOCK]
            q = q4_0_round(w1[:, i], d)
            codes[:, col] = q
            e = (w1[:, i] - d * (q - 8)) / hinv1[i, i]
            w1[:, i:] -= e.unsqueeze(1) @ hinv1[i, i:].unsqueeze(0)
            err[:, i] = e
        w[:, i2:] -= err @ hinv[i1:i2, i2:]
    return codes.to(torch.uint8).numpy(), scales.numpy()


def dequantize_q4_0(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The values llama.cpp computes with: ``fp16(d) * (q - 8)``."""
    rows, cols = codes.shape
    d = scales.astype(np.float16).astype(np.float32)
    return ((codes.astype(np.float32) - 8).reshape(rows, cols // BLOCK, BLOCK) * d[:, :, None]).reshape(rows, cols)


# -- calibration -----------------------------------------------------------------------


OUTPUT = "lm_head"
"""The output matrix's module: its inputs are the decoder's last hidden states."""


class Hessians:
    """``X^T X`` of every linear layer's inputs (``OUTPUT`` included when ``output``),
    summed over real tokens."""

    def __init__(self, model: Any, output: bool = False) -> None:
        torch = _torch()
        self.torch = torch
        self.sums: dict[str, Any] = {}
        self.tokens = 0
        self.mask: Any = None
        self.output = output
        self._hooks = []
        for name, module in model.named_modules():
            if name.split(".")[-1] in LINEAR and isinstance(module, torch.nn.Linear):
                self._hooks.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(_module: Any, inputs: tuple[Any, ...], _output: Any) -> None:
            self.add(name, inputs[0])
        return hook

    def add(self, name: str, inputs: Any) -> None:
        """Add one forward pass's inputs ``(batch, tokens, features)`` of ``name``."""
        x = inputs.detach().reshape(-1, inputs.shape[-1]).to(self.torch.float32)
        if self.mask is not None:
            x = x[self.mask.reshape(-1)]
        acc = self.sums.get(name)
        xtx = x.T @ x
        self.sums[name] = xtx if acc is None else acc + xtx

    def decoded(self, out: Any) -> None:
        """The decoder's output: the output matrix's inputs."""
        if self.output:
            self.add(OUTPUT, out.last_hidden_state)

    def close(self) -> None:
        for h in self._hooks:
            h.remove()


def calibrate(model: Any, tokenizer: Any, frame: Any, samples: list[Any], *, batch: int = 8,
              output: bool = False, progress: Progress | None = None) -> tuple[dict[str, Any], int]:
    """``({module name: X^T X}, tokens)`` over the samples as the agent sends them (the
    shared system turn once per language, then each sample's conversation and target
    after it)."""
    torch = _torch()
    from transformers import DynamicCache

    report = progress or (lambda line: None)
    decoder = model.model
    hess = Hessians(model, output=output)
    try:
        by_lang: dict[str, list[list[int]]] = {}
        prefixes: dict[str, list[int]] = {}
        for s in samples:
            lang = frame.language(s)
            if lang not in prefixes:
                prefixes[lang] = tokenizer.encode(frame.prefix(lang), add_special_tokens=False)
            prompt, target = frame.render(s)
            ids = tokenizer.encode(prompt + target, add_special_tokens=False)
            if ids[: len(prefixes[lang])] != prefixes[lang]:
                raise DataError(f"sample {s.id}: its tokens do not start with the system turn's",
                                hint="run `kapibara finetune check` to see where")
            by_lang.setdefault(lang, []).append(ids[len(prefixes[lang]):])
        total = sum(len(v) for v in by_lang.values())
        done, t0 = 0, time.perf_counter()
        with torch.no_grad():
            for lang, rows in by_lang.items():
                ids = torch.tensor([prefixes[lang]])
                hess.mask = None
                out = decoder(input_ids=ids, use_cache=True)  # the system turn, counted once
                hess.decoded(out)
                hess.tokens += len(prefixes[lang])
                layers = out.past_key_values.layers
                rows.sort(key=len)
                for i in range(0, len(rows), batch):
                    part = rows[i:i + batch]
                    width = max(len(r) for r in part)
                    x = torch.full((len(part), width), tokenizer.pad_token_id or 0, dtype=torch.long)
                    mask = torch.zeros((len(part), width), dtype=torch.bool)
                    for j, r in enumerate(part):
                        x[j, :len(r)] = torch.tensor(r)
                        mask[j, :len(r)] = True
                    cache = DynamicCache(ddp_cache_data=[
                        (la.keys.expand(len(part), -1, -1, -1).contiguous(),
                         la.values.expand(len(part), -1, -1, -1).contiguous()) for la in layers])
                    hess.mask = mask
                    hess.decoded(decoder(input_ids=x, past_key_values=cache, use_cache=True))
                    hess.tokens += int(mask.sum())
                    done += len(part)
                    spent = time.perf_counter() - t0
                    report(f"calibrate: samples {done}/{total}, {hess.tokens} tokens, "
                           f"{spent / done * (total - done):.0f}s left")
    finally:
        hess.close()
    if hess.tokens == 0:
        raise DataError("no calibration tokens", hint="give training samples")
    return hess.sums, hess.tokens


# -- the merged GGUF -------------------------------------------------------------------


@dataclass(frozen=True)
class GptqReport:
    """What a GPTQ merge did: calibration size and time, and how far the rounded layers'
    outputs moved on the calibration tokens (``tr(E H E^T) / tr(W H W^T)`` averaged over
    the layers, ``E`` the rounding change) against plain rounding's."""

    samples: int
    tokens: int
    layers: int
    calibrate_s: float
    wall_s: float
    error: float
    rtn_error: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merge_gptq(adapter_dir: str | Path, base_gguf: str | Path, out_path: str | Path, *, samples: str | Path,
               toolset: str = "demo", profile: str = "compact", max_samples: int = CALIBRATION_SAMPLES,
               seed: int = 0, threads: int | None = None, progress: Progress | None = None,
               base: tuple[Any, Any] | None = None, template: Any = None, output: bool = True) -> GptqReport:
    """Write the base GGUF with the LoRA merged in (``W + alpha/r * B @ A``), every
    attention and MLP weight (adapted or not) GPTQ-rounded to Q4_0 on the activations of
    up to ``max_samples`` of ``samples`` (rendered for ``toolset`` and ``profile`` as in
    training), ``token_embd`` rounded to Q4_0, and every other tensor and all metadata
    copied.

    ``base`` is ``(model, tokenizer)`` to calibrate with instead of the base GGUF
    dequantised (tests use a tiny one; the delta is added to its weights in place);
    ``template`` the chat template (default: the base GGUF's). The weights that are
    rounded always come from the GGUF."""
    import random

    torch = _torch()
    gguf = require("gguf", "gguf", "train")
    from kapibara.finetune.base import load_hf_base
    from kapibara.finetune.frame import agent_frame, gguf_template
    from kapibara.finetune.gguf import _reader, gguf_names, read_peft_adapter, tensor_names
    from kapibara.finetune.samples import load_samples

    report = progress or (lambda line: None)
    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    adapter = read_peft_adapter(adapter_dir)
    reader = _reader(base_gguf)
    gguf_names(adapter, reader)  # refuses an adapter that does not fit the base
    pool = load_samples(samples)
    if not pool:
        raise DataError(f"{samples} holds no samples", hint="calibrate on the samples the adapter was trained on")
    random.Random(seed).shuffle(pool)
    pool = pool[:max_samples]

    if base is None:
        report(f"loading {Path(base_gguf).name} (dequantised) to calibrate")
    model, tokenizer = base if base is not None else load_hf_base(str(base_gguf))
    model.eval()
    with torch.no_grad():  # the merged model's activations: the delta's own behaviour
        for module_name, w in adapter.weights.items():
            model.get_submodule(module_name).weight += torch.from_numpy(w.delta())
    frame = agent_frame(toolset, profile=profile,
                        template=template if template is not None else gguf_template(Path(base_gguf)))
    # The output matrix too (``output``) when the file has its own: with tied embeddings
    # llama.cpp computes the logits with token_embd, which is then left as it is.
    has_output = any(t.name == "output.weight" for t in reader.tensors)
    hessians, tokens = calibrate(model, tokenizer, frame, pool, output=output and has_output, progress=report)
    calibrate_s = time.perf_counter() - t0

    tensors = {t.name: t for t in reader.tensors}
    tmap = tensor_names(reader)
    packed: dict[str, np.ndarray] = {}
    errors: list[tuple[float, float]] = []
    total = len(hessians)
    for k, module_name in enumerate(sorted(hessians), 1):
        name = tmap.get_name(module_name + ".weight", try_suffixes=(".weight",))
        t = tensors.get(name or "")
        if t is None:
            raise ConfigError(f"{module_name} has no tensor in {Path(base_gguf).name}",
                              hint="calibrate with the model the GGUF holds")
        rows, cols = int(t.shape[1]), int(t.shape[0])
        merged = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(rows, cols)
        if module_name in adapter.weights:
            merged += adapter.weights[module_name].delta()
        weight = torch.from_numpy(merged)
        h = hessians.pop(module_name).to(torch.float32)
        codes, scales = gptq_q4_0(weight, h)
        packed[t.name] = pack_q4_0(codes, scales)
        rtn_codes, rtn_scales = round_q4_0(weight)
        whole = _output_error(weight, torch.zeros_like(weight), h) or 1.0
        errors.append((_output_error(weight, torch.from_numpy(dequantize_q4_0(codes, scales)), h) / whole,
                       _output_error(weight, torch.from_numpy(dequantize_q4_0(rtn_codes, rtn_scales)), h) / whole))
        if k % 12 == 0 or k == total:
            report(f"gptq: weights {k}/{total}")
    del model, hessians
    write_q4_0(reader, out_path, packed, embeddings=has_output)
    return GptqReport(samples=len(pool), tokens=tokens, layers=len(packed), calibrate_s=round(calibrate_s, 1),
                      wall_s=round(time.perf_counter() - t0, 1),
                      error=float(np.mean([e for e, _ in errors])), rtn_error=float(np.mean([r for _, r in errors])))


def round_q4_0(weight: Any) -> tuple[np.ndarray, np.ndarray]:
    """Plain rounding to Q4_0 (llama.cpp's quantize without an importance matrix):
    ``(codes, scales)``."""
    rows, cols = weight.shape
    blocks = weight.reshape(rows * cols // BLOCK, BLOCK)
    d = q4_0_scale(blocks)
    q = q4_0_round(blocks, d.unsqueeze(1))
    return q.reshape(rows, cols).to(_torch().uint8).numpy(), d.reshape(rows, cols // BLOCK).numpy()


def _output_error(w: Any, q: Any, h: Any) -> float:
    """``tr((W - Q) H (W - Q)^T)``: the summed squared output change over the calibration tokens."""
    diff = (w - q).to(_torch().float32)
    return float(((diff @ h.to(diff.dtype)) * diff).sum(dtype=_torch().float64))


def write_q4_0(reader: Any, out_path: str | Path, packed: dict[str, np.ndarray], *, embeddings: bool = True) -> Path:
    """The base GGUF with the ``packed`` tensors (Q4_0 bytes by name) in place of its own,
    ``token_embd`` rounded to Q4_0 unless given, every other tensor and all metadata
    (tokenizer, chat template) copied; the file type says Q4_0."""
    from kapibara.finetune.gguf import _arch, copy_metadata

    gguf = require("gguf", "gguf", "train")
    q4_0 = gguf.GGMLQuantizationType.Q4_0
    out = Path(out_path).expanduser()
    with atomic_path(out, suffix=".gguf") as tmp:
        writer = gguf.GGUFWriter(str(tmp), _arch(reader), endianess=reader.endianess)
        writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q4_0))
        copy_metadata(reader, writer, skip=(gguf.Keys.General.FILE_TYPE,))
        data: dict[str, tuple[np.ndarray, Any]] = {}
        for t in reader.tensors:
            if t.name in packed:
                data[t.name] = (packed[t.name], q4_0)
            elif embeddings and t.name == "token_embd.weight" and t.tensor_type != q4_0:
                rows, cols = int(t.shape[1]), int(t.shape[0])
                dense = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(rows, cols)
                data[t.name] = (gguf.quants.quantize(dense, q4_0), q4_0)
            else:
                data[t.name] = (t.data, t.tensor_type)
            arr, kind = data[t.name]
            writer.add_tensor_info(t.name, arr.shape, arr.dtype, arr.nbytes, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for t in reader.tensors:
            writer.write_tensor_data(data[t.name][0], tensor_endianess=reader.endianess)
        writer.close()
    return out
