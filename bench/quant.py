"""A bundled model run from its Q4_0 CPU copy against the file as shipped (Q4_K_M).

    flock /tmp/kapibara_cpu.lock .venv/bin/python bench/quant.py [--models 0.5b,1.5b] \\
        [--sets domain,multiple,irrelevance] [--limit domain=72,multiple=50,irrelevance=50] [--report-only]

Both files are loaded in one process and each case runs through kapibara's default demo
agent on one, then the other (the order alternating case by case), scored exactly as the
peers benchmark scores its kapibara row (``peers.run_kapibara``). So the decision latency
of the two is compared within one run, case for case, and their accuracy is paired.
Before the cases, llama.cpp's own prefill and decode speed of each file is measured on
one fixed text (interleaved, median of rounds).

Every case result is appended to ``bench/results/quant.cache.jsonl`` (model|variant|set|id);
a run cut short resumes. Writes ``quant.md`` and ``quant.json`` in ``bench/results``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import MODELS, cases_for, limits, run_kapibara  # noqa: E402
from tool_use import read_cache  # noqa: E402

from kapibara.evals.cases import write_text  # noqa: E402
from kapibara.evals.compare import mcnemar_p, wilson_ci  # noqa: E402
from kapibara.evals.results import machine_info, percentile  # noqa: E402
from kapibara.models.quantize import CPU_QUANT, SHIPPED_QUANT  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {v.lower(): f"@{v.lower()}" for v in (SHIPPED_QUANT, CPU_QUANT)}
"""Variant -> the suffix of the bundled name that selects its file."""
MAX_TOKENS = 256
SPEED_TEXT = "The quick brown fox jumps over the lazy dog. " * 60


def append(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")


def raw_speed(models: dict[str, Any], rounds: int = 4, prefill: int = 400, decode: int = 48) -> dict[str, dict[str, float]]:
    """llama.cpp's prefill and decode tokens/s of each loaded file, interleaved rounds."""
    seen: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in models}
    for _ in range(rounds):
        for variant, model in models.items():
            llama = model.llama
            toks = llama.tokenize(SPEED_TEXT.encode())[:prefill]
            llama.reset()
            t = time.perf_counter()
            llama.eval(toks)
            seen[variant][0].append(len(toks) / (time.perf_counter() - t))
            t = time.perf_counter()
            for tok in toks[:decode]:
                llama.eval([tok])
            seen[variant][1].append(decode / (time.perf_counter() - t))
            llama.reset()
    return {v: {"prefill_tps": round(statistics.median(p), 1), "decode_tps": round(statistics.median(d), 1)}
            for v, (p, d) in seen.items()}


def run(args: argparse.Namespace) -> int:
    from kapibara.models.registry import load_model

    cache_path = Path(args.cache)
    cache = read_cache(cache_path)
    sets = [s for s in args.sets.split(",") if s]
    cases = cases_for(sets, limits(args.limit, sets))
    speeds: dict[str, Any] = {}
    speed_path = cache_path.with_suffix(".speed.json")
    if speed_path.is_file():
        speeds = json.loads(speed_path.read_text(encoding="utf-8"))
    for short in [] if args.report_only else args.models.split(","):
        todo = [(s, c) for s in sets for c in cases[s]
                if any(f"{short}|{v}|{s}|{c.id}" not in cache for v in VARIANTS)]
        print(f"{short}: {len(todo)} cases to run on {len(VARIANTS)} files", flush=True)
        if not todo and short in speeds:
            continue
        models = {v: load_model(f"llamacpp:{MODELS[short]}{suffix}", n_ctx=8192) for v, suffix in VARIANTS.items()}
        if short not in speeds:
            speeds[short] = raw_speed(models)
            speed_path.write_text(json.dumps(speeds, indent=1), encoding="utf-8")
            print(f"  raw speed: {speeds[short]}", flush=True)
        t0 = time.perf_counter()
        for i, (s, case) in enumerate(todo, 1):
            order = list(VARIANTS) if i % 2 else list(reversed(VARIANTS))
            for v in order:
                key = f"{short}|{v}|{s}|{case.id}"
                if key in cache:
                    continue
                res = {"key": key, "model": short, "variant": v, "set": s, **run_kapibara(case, models[v])}
                append(cache_path, res)
                cache[key] = res
            if i % 10 == 0 or i == len(todo):
                print(f"  {i}/{len(todo)}  {time.perf_counter() - t0:.0f}s", flush=True)
    report(args.models.split(","), sets, cases, cache, speeds, Path(args.out))
    return 0


def report(models: list[str], sets: list[str], cases: dict[str, list[Any]], cache: dict[str, dict[str, Any]],
           speeds: dict[str, Any], out: Path) -> None:
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    base, fast = SHIPPED_QUANT.lower(), CPU_QUANT.lower()
    for short in models:
        for s in sets:
            ids = [c.id for c in cases[s] if all(f"{short}|{v}|{s}|{c.id}" in cache for v in VARIANTS)]
            if not ids:
                continue
            got = {v: [cache[f"{short}|{v}|{s}|{i}"] for i in ids] for v in VARIANTS}
            for v, res in got.items():
                k = sum(bool(r["correct"]) for r in res)
                lo, hi = wilson_ci(k, len(res))
                times = [float(r["decision_s"]) for r in res]
                rows.append({"model": short, "set": s, "variant": v, "n": len(res), "correct": k,
                             "accuracy": round(100 * k / len(res), 1), "ci": [round(lo, 1), round(hi, 1)],
                             "p50_s": round(statistics.median(times), 3), "p95_s": round(percentile(times, 95), 3),
                             "prompt_tokens": round(statistics.mean(int(r.get("prompt_tokens") or 0) for r in res)),
                             "completion_tokens": round(statistics.mean(int(r.get("completion_tokens") or 0) for r in res))})
            only_fast = sum(bool(b["correct"]) and not a["correct"] for a, b in zip(got[base], got[fast], strict=True))
            only_base = sum(bool(a["correct"]) and not b["correct"] for a, b in zip(got[base], got[fast], strict=True))
            same = sum(a["calls"] == b["calls"] and (bool(a["calls"]) or a.get("text") == b.get("text"))
                       for a, b in zip(got[base], got[fast], strict=True))
            ratios = [float(b["decision_s"]) / float(a["decision_s"]) for a, b in zip(got[base], got[fast], strict=True)
                      if float(a["decision_s"]) > 0]
            pairs.append({"model": short, "set": s, "n": len(ids), "only_fast": only_fast, "only_shipped": only_base,
                          "mcnemar_p": round(mcnemar_p(only_fast, only_base), 3), "same_output": same,
                          "time_ratio_median": round(statistics.median(ratios), 3) if ratios else None})
    lines = [
        f"# Bundled models run from their {CPU_QUANT} CPU copy, against the file as shipped ({SHIPPED_QUANT})",
        "",
        f"Measured {datetime.now(UTC).isoformat(timespec='seconds')} on {machine_info()['platform']} "
        f"({machine_info()['cpus']} CPUs), by `bench/quant.py`: both files loaded in one process, each case run "
        "on one and then the other (order alternating), through kapibara's default demo agent, scored as the "
        "peers benchmark scores its kapibara row. Greedy decoding, max_tokens 256.",
        "",
        "## llama.cpp's own speed (400-token prefill, 48 decoded tokens; median of 4 interleaved rounds)",
        "",
        "| model | file | prefill tok/s | decode tok/s |",
        "|---|---|---|---|",
    ]
    for short in models:
        for v, sp in (speeds.get(short) or {}).items():
            lines.append(f"| {short} | {v} | {sp['prefill_tps']} | {sp['decode_tps']} |")
    lines += ["", "## The agent on each file", "",
              "| model | set | file | n | accuracy [95% CI] | decision p50 s | p95 s | prompt tok | completion tok |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['set']} | {r['variant']} | {r['n']} | {r['accuracy']} "
                     f"[{r['ci'][0]}–{r['ci'][1]}] | {r['p50_s']} | {r['p95_s']} | {r['prompt_tokens']} | "
                     f"{r['completion_tokens']} |")
    lines += ["", f"## Paired ({CPU_QUANT} copy against {SHIPPED_QUANT}, same cases)", "",
              f"| model | set | n | right only on {CPU_QUANT} | right only on {SHIPPED_QUANT} | McNemar p | "
              f"same output | median per-case time ratio {CPU_QUANT}/{SHIPPED_QUANT} |",
              "|---|---|---|---|---|---|---|---|"]
    for p in pairs:
        lines.append(f"| {p['model']} | {p['set']} | {p['n']} | {p['only_fast']} | {p['only_shipped']} | "
                     f"{p['mcnemar_p']} | {p['same_output']}/{p['n']} | {p['time_ratio_median']} |")
    write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    write_text(out.with_suffix(".json"), json.dumps({"speeds": speeds, "rows": rows, "pairs": pairs}, indent=1) + "\n")
    print("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="0.5b")
    ap.add_argument("--sets", default="domain,multiple,irrelevance")
    ap.add_argument("--limit", default="domain=72,multiple=50,irrelevance=50")
    ap.add_argument("--cache", default=str(RESULTS / "quant.cache.jsonl"))
    ap.add_argument("--out", default=str(RESULTS / "quant"))
    ap.add_argument("--report-only", action="store_true")
    return run(ap.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
