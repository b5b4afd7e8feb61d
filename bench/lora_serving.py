"""Serving a LoRA fine-tune with llama.cpp: adapter file vs merged model vs the base.

    flock /tmp/kapibara_cpu.lock .venv/bin/python bench/lora_serving.py [--adapter DIR] [--threads 2]

Without ``--adapter`` a rank-8 LoRA on all seven projections of the bundled 0.5B is made
with transformers+peft (B random, std 0.02: peft starts B at zero), which is what a
trained adapter costs to serve (the cost depends on the shapes, not the values). Then:

- export the GGUF adapter (size), merge + re-quantise to Q4_K_M and Q8_0 (time, size);
- agreement with HF+peft (only when the adapter was made here): llama.cpp's logits,
  teacher-forced on HF's greedy continuation, top-1 agreement and mean |logit difference|,
  for the base, the base + adapter, and both merged models;
- decode tokens/s of 64 greedy tokens, 3 rounds, base / + adapter / merged, alternated
  in one process (the base is the baseline measured in the same run).

Writes bench/results/lora_serving.json and bench/results/lora_serving.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kapibara.fileio import write_atomic
from kapibara.finetune import gguf as fg
from kapibara.models.base import Sampling
from kapibara.models.bundled import model_path
from kapibara.models.llamacpp import LlamaCppModel

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
AGREE_PROMPT = "用一句话介绍一下北京。"
SPEED_PROMPT = "请写一段约三百字的文字，介绍杭州西湖的历史和景点。"


def make_adapter(base: Path, out: Path, threads: int, n_new: int) -> dict[str, Any]:
    """A random LoRA on the HF model transformers loads from the GGUF; HF's greedy tokens
    and logits with it, for the agreement check."""
    import peft
    import torch
    import transformers

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(base.parent), gguf_file=base.name, dtype=torch.float32)
    load_s = time.perf_counter() - t0
    model = peft.get_peft_model(hf, peft.LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, lora_dropout=0.0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    model.save_pretrained(str(out))
    probe = LlamaCppModel(base, n_ctx=512, threads=threads, shared=False)
    prompt = probe.tokenize(probe.render([{"role": "user", "content": AGREE_PROMPT}]))
    with torch.no_grad():
        ids = torch.tensor([prompt])
        seq = model.generate(ids, max_new_tokens=n_new, do_sample=False, attention_mask=torch.ones_like(ids))
        tokens = seq[0].tolist()
        logits = model(torch.tensor([tokens])).logits[0, len(prompt) - 1 : -1].numpy()
    return {"tokens": tokens, "start": len(prompt) - 1, "hf": logits, "hf_load_s": load_s}


def llama_logits(model: LlamaCppModel, tokens: list[int], start: int) -> np.ndarray:
    ll = model.llama
    ll.reset()
    ll.eval(tokens[: start + 1])
    n = ll.n_vocab()
    rows = [np.ctypeslib.as_array(ll._ctx.get_logits(), shape=(n,)).copy()]
    for tok in tokens[start + 1 : -1]:
        ll.eval([tok])
        rows.append(np.ctypeslib.as_array(ll._ctx.get_logits(), shape=(n,)).copy())
    return np.stack(rows)


def decode_tps(model: LlamaCppModel, n: int) -> tuple[float, int]:
    model.llama.reset()
    done = model.chat([{"role": "user", "content": SPEED_PROMPT}], max_tokens=n, sampling=Sampling(temperature=0.0))
    return done.usage.decode_tps, done.usage.completion_tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapter", type=Path, help="a peft adapter folder (default: a random one made here)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--positions", type=int, default=32, help="greedy tokens compared with HF+peft")
    args = ap.parse_args()
    base = model_path("qwen2.5-coder-0.5b")
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "threads": args.threads,
                              "base": base.name, "base_mb": round(base.stat().st_size / 1e6, 1)}
    with tempfile.TemporaryDirectory(prefix="kapibara-lora-") as td:
        tmp = Path(td)
        ref = None
        adapter = args.adapter
        if adapter is None:
            adapter = tmp / "adapter"
            ref = make_adapter(base, adapter, args.threads, args.positions)
            result["hf_load_s"] = round(ref["hf_load_s"], 1)
            result["adapter_source"] = "random LoRA r=8 alpha=16 on q,k,v,o,gate,up,down (B ~ N(0, 0.02))"
        else:
            result["adapter_source"] = str(adapter)
        t0 = time.perf_counter()
        ad_path = fg.export_gguf_adapter(adapter, base, tmp / "adapter.gguf")
        result["adapter_export_s"] = round(time.perf_counter() - t0, 2)
        result["adapter_mb"] = round(ad_path.stat().st_size / 1e6, 2)
        merged: dict[str, Path] = {}
        for quant in ("Q4_K_M", "Q8_0"):
            t0 = time.perf_counter()
            merged[quant] = fg.merge_and_quantize(adapter, base, tmp / f"merged-{quant}.gguf", quant=quant,
                                                  threads=args.threads, progress=print)
            result[f"merge_{quant}_s"] = round(time.perf_counter() - t0, 1)
            result[f"merged_{quant}_mb"] = round(merged[quant].stat().st_size / 1e6, 1)
        models = {
            "base": LlamaCppModel(base, n_ctx=512, threads=args.threads, shared=False),
            "base + adapter": LlamaCppModel(base, lora_path=ad_path, n_ctx=512, threads=args.threads, shared=False),
            "merged Q4_K_M": LlamaCppModel(merged["Q4_K_M"], n_ctx=512, threads=args.threads, shared=False),
            "merged Q8_0": LlamaCppModel(merged["Q8_0"], n_ctx=512, threads=args.threads, shared=False),
        }
        if ref is not None:
            agree = {}
            for label, m in models.items():
                got = llama_logits(m, ref["tokens"], ref["start"])
                agree[label] = {"top1": round(float((got.argmax(1) == ref["hf"].argmax(1)).mean()), 3),
                                "mean_abs_dlogit": round(float(np.abs(got - ref["hf"]).mean()), 3),
                                "positions": int(len(got))}
            result["agreement_with_hf_peft"] = agree
        speed: dict[str, list[float]] = {k: [] for k in models}
        decode_tps(models["base"], 8)  # warm-up: pages the weights in
        for _ in range(args.rounds):
            for label, m in models.items():
                tps, n = decode_tps(m, args.tokens)
                speed[label].append(round(tps, 2))
        result["decode_tps"] = {k: {"median": statistics.median(v), "runs": v} for k, v in speed.items()}
        result["decode_tokens"] = args.tokens
    base_tps = result["decode_tps"]["base"]["median"]
    lines = [
        "# LoRA serving on llama.cpp (bundled 0.5B, Q4_K_M base)",
        "",
        f"{result['when']}, {args.threads} threads; adapter: {result['adapter_source']}.",
        "",
        f"- GGUF adapter: {result['adapter_mb']} MB, exported in {result['adapter_export_s']} s",
        f"- merge + re-quantise Q4_K_M: {result['merge_Q4_K_M_s']} s -> {result['merged_Q4_K_M_mb']} MB "
        f"(base file {result['base_mb']} MB); Q8_0: {result['merge_Q8_0_s']} s -> {result['merged_Q8_0_mb']} MB",
        "",
        f"| model | decode tok/s (median of {args.rounds} x {args.tokens} tokens) | vs base |"
        + (" top-1 vs HF+peft | mean abs logit diff |" if ref is not None else ""),
        "|---|---|---|" + ("---|---|" if ref is not None else ""),
    ]
    for label, s in result["decode_tps"].items():
        row = f"| {label} | {s['median']:.1f} ({', '.join(f'{x:.1f}' for x in s['runs'])}) | {s['median'] / base_tps:.2f}x |"
        if ref is not None:
            a = result["agreement_with_hf_peft"][label]
            row += f" {a['top1']:.2f} ({a['positions']} positions) | {a['mean_abs_dlogit']:.3f} |"
        lines.append(row)
    if ref is not None:
        lines += ["", "Agreement: llama.cpp's logits teacher-forced on HF+peft's greedy continuation of "
                  f"'{AGREE_PROMPT}' (HF loads the GGUF dequantised; HF load {result['hf_load_s']} s)."]
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_atomic(RESULTS / "lora_serving.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_atomic(RESULTS / "lora_serving.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
