"""What one llama.cpp step costs against a batch of steps, on this machine: the arithmetic
behind two latency questions the tuned-model and peers benchmarks left open.

    flock /tmp/kapibara_cpu.lock .venv/bin/python bench/decode_costs.py [--models 0.5b-copy,0.5b,grocery-0.5b,1.5b] [--rounds 7]

For each model file, after a 600-token prefix is in the KV cache (as a saved system turn
is), it times one ``llama_decode`` of ``k`` new tokens, k = 1, 2, 4, 8, 16, 32, twice:
with logits for the last position only (prefilling a user turn) and for every position
(verifying ``k - 1`` drafted tokens, as speculative or prompt-lookup decoding must).
Rounds are interleaved across ``k`` and the median is kept.

Two things follow from the table, and the report says them:

- **Drafting's break-even**: verifying ``d`` drafted tokens costs ``cost(d + 1, all) /
  cost(1)`` single steps and yields ``accepted + 1`` tokens, so it pays only when more
  than ``cost(d + 1, all) / cost(1) - 1`` of the ``d`` drafts are accepted on average.
- **The prefill floor**: ``cost(k, last)`` is the time to the first token of a turn whose
  ``k`` tokens are not in the cache (a demo user turn: ~30), a floor under any decision
  however few tokens it then decodes.

Writes ``decode_costs.md`` and ``decode_costs.json`` in ``bench/results``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kapibara.errors import KapibaraError
from kapibara.evals.cases import write_text
from kapibara.evals.results import machine_info

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1, 2, 4, 8, 16, 32)
PREFIX_TOKENS = 600
TEXT = "你好，我想买点东西。请推荐几款适合早餐的牛奶，价格在五十元以内。The quick brown fox jumps over the lazy dog. " * 40


def model_file(name: str) -> Path:
    """A bundled name (``0.5b``, ``0.5b-copy``, ``1.5b``) or a registered tuned model's merged GGUF."""
    from kapibara.models.bundled import model_path
    from kapibara.models.quantize import CPU_QUANT, runtime_path

    bundled = {"0.5b": "qwen2.5-coder-0.5b", "1.5b": "qwen2.5-coder-1.5b"}
    if name in bundled:
        return model_path(bundled[name])
    if name == "0.5b-copy":
        return runtime_path("qwen2.5-coder-0.5b", CPU_QUANT)
    from kapibara.models import tuned

    merged = tuned.get(name).merged_gguf
    if merged is None:
        raise SystemExit(f"{name} has no merged GGUF (kapibara finetune export --merge)")
    return Path(merged)


def measure(path: Path, rounds: int) -> dict[str, dict[int, float]]:
    """Median seconds of one decode of k tokens after the prefix: logits for the last
    position only, and for all of them."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=2, n_threads_batch=2, verbose=False)
    prefix = llm.tokenize(TEXT.encode())[:PREFIX_TOKENS]
    fresh = llm.tokenize(TEXT[::-1].encode())[: max(SIZES)]
    llm.reset()
    llm.eval(prefix)
    seen: dict[str, dict[int, list[float]]] = {"last": {k: [] for k in SIZES}, "all": {k: [] for k in SIZES}}
    for _ in range(rounds):
        for k in SIZES:
            for mode in ("last", "all"):
                llm.n_tokens = len(prefix)
                llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
                batch = llm._batch
                batch.set_batch(batch=fresh[:k], n_past=llm.n_tokens, logits_all=mode == "all")
                t = time.perf_counter()
                llm._ctx.decode(batch)
                seen[mode][k].append(time.perf_counter() - t)
    llm.close()
    return {mode: {k: statistics.median(v) for k, v in per.items()} for mode, per in seen.items()}


def report(results: dict[str, dict[str, dict[int, float]]], files: dict[str, str], rounds: int) -> str:
    lines = [
        "# One llama.cpp step against a batch of steps (`bench/decode_costs.py`)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine_info()['processor']} "
        f"({machine_info()['cpus']} CPUs), 2 threads, after a {PREFIX_TOKENS}-token prefix in the KV "
        f"cache; median of {rounds} interleaved rounds. Cost of one decode of k new tokens, in "
        "single steps (the k = 1 time); `last`: logits for the last position only (prefilling a "
        "turn), `all`: for every position (verifying k - 1 drafted tokens).",
        "",
        "| model | file | 1 step ms | " + " | ".join(f"k={k} last / all" for k in SIZES[1:]) + " |",
        "|---|---|---|" + "---|" * (len(SIZES) - 1),
    ]
    for name, r in results.items():
        one = r["last"][1]
        cells = " | ".join(f"{r['last'][k] / one:.1f} / {r['all'][k] / one:.1f}" for k in SIZES[1:])
        lines.append(f"| {name} | `{files[name]}` | {one * 1000:.1f} | {cells} |")
    lines += ["", "Drafting's break-even: the share of d drafted tokens that must be accepted on average "
              "for one verifying batch of d + 1 to beat d + 1 single steps, (cost(d + 1, all) - 1) / d.", "",
              "| model | d=1 | d=3 | d=7 | d=15 |", "|---|---|---|---|---|"]
    for name, r in results.items():
        cells = " | ".join(f"{min(1.0, (r['all'][d + 1] / r['last'][1] - 1) / d):.0%}" for d in (1, 3, 7, 15))
        lines.append(f"| {name} | {cells} |")
    lines += ["", "Time to the first token of a turn whose k tokens are not cached (`last`), in ms:", "",
              "| model | " + " | ".join(f"k={k}" for k in SIZES) + " |", "|---|" + "---|" * len(SIZES)]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r['last'][k] * 1000:.0f}" for k in SIZES) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="0.5b-copy,0.5b,grocery-0.5b,1.5b",
                    help="comma-separated: 0.5b, 0.5b-copy, 1.5b, or a tuned model's name")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    results: dict[str, Any] = {}
    files: dict[str, str] = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        try:
            path = model_file(name)
        except (KapibaraError, FileNotFoundError) as exc:
            print(f"{name}: skipped ({exc})", file=sys.stderr)
            continue
        if not path.exists():
            print(f"{name}: skipped ({path} not found)", file=sys.stderr)
            continue
        print(f"{name}: {path.name}", file=sys.stderr)
        results[name], files[name] = measure(path, args.rounds), path.name
    if not results:
        raise SystemExit("no model file found: run `kapibara models pull` first")
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_text(RESULTS / "decode_costs.json", json.dumps(
        {"machine": machine_info(), "rounds": args.rounds, "prefix_tokens": PREFIX_TOKENS, "files": files,
         "seconds": {n: {m: {str(k): v for k, v in per.items()} for m, per in r.items()} for n, r in results.items()}},
        indent=1))
    text = report(results, files, args.rounds)
    write_text(RESULTS / "decode_costs.md", text)
    print(text)


if __name__ == "__main__":
    main()
