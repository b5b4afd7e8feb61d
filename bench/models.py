"""Benchmark the bundled models on this machine (a script, not a test).

    nice -n 10 .venv/bin/python bench/models.py [--threads 2] [--models qwen2.5-coder-0.5b,...] [--pull]

For each bundled model present: load time, prefill and decode tokens/s, and time to first
token (TTFT) of a ~700-token tool prompt (system prompt + 6 tool schemas + a question):

  (a) cold            the prompt prefilled from an empty KV cache (weights already paged in)
  (b) in-process      a second question after the first: the system+tools prefix is in the KV cache
  (c) new process     a fresh process whose first call loads the prefix state saved by
                      ``LlamaCppModel.save_prefix``; beside it (a') a fresh process without it

Target: (c) <= 10% of (a) for the 0.5B.

``--compare-build NATIVE.whl`` measures instead what the portable llama.cpp build costs:
prefill and decode tokens/s of the installed, portable build (AVX2 baseline, no AMX,
``src/kapibara/models/llamacpp_build.txt``) against a ``-march=native`` build without AMX
(``NATIVE=1 scripts/install_llama_cpp.sh DIR`` makes one), each in fresh processes,
alternated over several rounds; the table goes into models.md beside the rest. The physical bound on decode speed is
memory bandwidth / model bytes (each token reads every weight once); bandwidth is
measured here with a numpy copy of a large array, in the same run.

Writes bench/results/models.json and bench/results/models.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

SYSTEM = (
    "你是“鲜到家”生鲜超市的购物助手。你只能通过调用工具来查询商品、库存、价格、购物车和订单，"
    "不要编造商品信息。用户的问题需要工具时，输出一个工具调用；不需要工具时，直接用中文简短回答。"
    "价格单位是人民币元。"
)


def _fn(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


TOOLS = [
    _fn("search_products", "按关键词搜索商品，返回名称、规格、价格和商品编号",
        {"query": {"type": "string", "description": "搜索词，如“苹果”“低脂牛奶”"},
         "category": {"type": "string", "enum": ["水果", "蔬菜", "肉禽", "乳品", "粮油", "零食", "饮料"],
                      "description": "可选的商品分类"},
         "max_price": {"type": "number", "description": "最高单价（元）"}}, ["query"]),
    _fn("get_product", "按商品编号查询一个商品的详细信息：产地、规格、保质期、营养成分",
        {"product_id": {"type": "string", "description": "商品编号，如 P1024"}}, ["product_id"]),
    _fn("check_stock", "查询商品在某个门店的库存数量",
        {"product_id": {"type": "string", "description": "商品编号"},
         "store": {"type": "string", "description": "门店名称，缺省为用户默认门店"}}, ["product_id"]),
    _fn("add_to_cart", "把商品加入购物车",
        {"product_id": {"type": "string", "description": "商品编号"},
         "quantity": {"type": "integer", "description": "数量，默认 1", "minimum": 1}}, ["product_id"]),
    _fn("view_cart", "查看购物车里的商品、数量和总价", {}, []),
    _fn("get_order_status", "查询订单的配送状态和预计送达时间",
        {"order_id": {"type": "string", "description": "订单号，如 D20240611001"}}, ["order_id"]),
]
QUESTIONS = ["帮我找一下便宜的苹果，10块钱以内的", "订单 D20240611001 到哪了？", "把两盒低脂牛奶加到购物车"]


def _messages(question: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def memory_bandwidth_gbs(mb: int = 256, repeats: int = 5) -> float:
    """Best-of-N numpy copy of a large array; a copy reads and writes each byte once."""
    src = np.ones(mb * (1 << 20) // 8, dtype=np.float64)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def child(path: str, threads: int, prefix_dir: str) -> None:
    """Run in a fresh process: load, then time the first call of the tool prompt."""
    from kapibara.models.llamacpp import LlamaCppModel

    t0 = time.perf_counter()
    model = LlamaCppModel(path, threads=threads, prefix_state_dir=prefix_dir)
    load_s = time.perf_counter() - t0
    done = model.chat(_messages(QUESTIONS[1]), tools=TOOLS, max_tokens=1)
    print(json.dumps({
        "load_s": load_s,
        "ttft_s": done.usage.ttft_s,
        "prompt_tokens": done.usage.prompt_tokens,
        "cached_prompt_tokens": done.usage.cached_prompt_tokens,
        "loaded_state": str(model.last_loaded_prefix) if model.last_loaded_prefix else None,
    }))


BUILD_PROMPT = [{"role": "user", "content": "请详细介绍一下如何挑选新鲜的水果和蔬菜，分点说明，越详细越好。"}]


def build_child(path: str, threads: int) -> None:
    """In a fresh process (PYTHONPATH picks the build): prefill and decode tokens/s."""
    import llama_cpp

    from kapibara.models.llamacpp import LlamaCppModel

    model = LlamaCppModel(path, threads=threads, shared=False, prefix_state_dir=tempfile.mkdtemp())
    model.chat([{"role": "user", "content": "hi"}], max_tokens=1)  # pages the weights in
    prefill, decode = [], []
    for i in range(3):
        cold = LlamaCppModel(path, threads=threads, shared=False, prefix_state_dir=tempfile.mkdtemp())
        done = cold.chat(_messages(QUESTIONS[i % len(QUESTIONS)]), tools=TOOLS, max_tokens=1)
        prefill.append(done.usage.prefill_tps)
        long = model.chat(BUILD_PROMPT, max_tokens=128)
        decode.append(long.usage.decode_tps)
    print(json.dumps({
        "system_info": llama_cpp.llama_print_system_info().decode(),
        "llama_cpp_file": llama_cpp.__file__,
        "prefill_tps": statistics.median(prefill),
        "decode_tps": statistics.median(decode),
    }))


def compare_builds(native_wheel: Path, path: Path, threads: int, rounds: int) -> dict[str, Any]:
    """Portable (installed) vs native wheel, alternated in fresh processes."""
    import zipfile

    import llama_cpp

    native_dir = Path(tempfile.mkdtemp(prefix="kapibara-native-"))
    with zipfile.ZipFile(native_wheel) as zf:
        zf.extractall(native_dir)
    builds = {"portable": None, "native": native_dir}
    runs: dict[str, list[dict[str, Any]]] = {"portable": [], "native": []}
    for _ in range(rounds):
        for name, where in builds.items():
            env = dict(os.environ)
            if where is not None:
                env["PYTHONPATH"] = f"{where}{os.pathsep}{env.get('PYTHONPATH', '')}"
            out = subprocess.run([sys.executable, __file__, "--build-child", str(path), "--threads", str(threads)],
                                 capture_output=True, text=True, check=True, env=env)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name}: prefill {row['prefill_tps']:.0f} tok/s, decode {row['decode_tps']:.1f} tok/s",
                  file=sys.stderr)
            runs[name].append(row)
    assert runs["native"][0]["llama_cpp_file"].startswith(str(native_dir)), "the native build was not the one loaded"
    out: dict[str, Any] = {"rounds": rounds, "llama_cpp_python": llama_cpp.__version__}
    for name, rows in runs.items():
        out[name] = {
            "system_info": rows[0]["system_info"],
            "prefill_tps": statistics.median(r["prefill_tps"] for r in rows),
            "decode_tps": statistics.median(r["decode_tps"] for r in rows),
            "prefill_all": [round(r["prefill_tps"], 1) for r in rows],
            "decode_all": [round(r["decode_tps"], 2) for r in rows],
        }
    out["prefill_ratio"] = out["portable"]["prefill_tps"] / out["native"]["prefill_tps"]
    out["decode_ratio"] = out["portable"]["decode_tps"] / out["native"]["decode_tps"]
    return out


def _run_child(path: Path, threads: int, prefix_dir: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--threads", str(threads), "--prefix-dir", str(prefix_dir)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_model(name: str, path: Path, threads: int, bandwidth: float, repeats: int) -> dict[str, Any]:
    """All figures for one model file."""
    from kapibara.models.llamacpp import LlamaCppModel

    with tempfile.TemporaryDirectory(prefix="kapibara-bench-") as td:
        saved_dir, empty_dir = Path(td) / "saved", Path(td) / "empty"
        t0 = time.perf_counter()
        model = LlamaCppModel(path, threads=threads, shared=False, prefix_state_dir=empty_dir)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.chat([{"role": "user", "content": "hi"}], max_tokens=1)  # pages the weights in
        first_call_s = time.perf_counter() - t0

        cold, warm = [], []
        for i in range(repeats):
            model.llama.reset()  # empty KV cache: nothing to reuse
            a = model.chat(_messages(QUESTIONS[i % 2]), tools=TOOLS, max_tokens=1)
            b = model.chat(_messages(QUESTIONS[(i + 1) % 2]), tools=TOOLS, max_tokens=1)
            cold.append(a.usage)
            warm.append(b.usage)
        prompt_tokens = cold[0].prompt_tokens
        decode = model.chat(_messages(QUESTIONS[2]), tools=TOOLS, max_tokens=64)

        # The system+tools prefix is already in this model's KV cache: saving costs no prefill.
        model.prefix_state_dir = saved_dir
        t0 = time.perf_counter()
        state_path = model.save_prefix([{"role": "system", "content": SYSTEM}], TOOLS)
        save_s = time.perf_counter() - t0
        state_bytes = state_path.stat().st_size
        fresh_saved = [_run_child(path, threads, saved_dir) for _ in range(repeats)]
        fresh_cold = [_run_child(path, threads, empty_dir) for _ in range(max(1, repeats - 1))]

    med = statistics.median
    ttft_a = med(u.ttft_s for u in cold)
    ttft_c = med(r["ttft_s"] for r in fresh_saved)
    model_bytes = path.stat().st_size
    return {
        "model": name,
        "file_bytes": model_bytes,
        "threads": threads,
        "load_s": round(load_s, 3),
        "first_call_s": round(first_call_s, 3),
        "prompt_tokens": prompt_tokens,
        "prefill_tps": round(med(u.prefill_tps for u in cold), 1),
        "decode_tps": round(decode.usage.decode_tps, 2),
        "decode_tokens": decode.usage.completion_tokens,
        "decode_bound_tps": round(bandwidth * 1e9 / model_bytes, 2),
        "ttft_cold_s": round(ttft_a, 3),
        "ttft_in_process_s": round(med(u.ttft_s for u in warm), 3),
        "cached_in_process": warm[0].cached_prompt_tokens,
        "ttft_new_process_saved_s": round(ttft_c, 3),
        "cached_new_process": fresh_saved[0]["cached_prompt_tokens"],
        "ttft_new_process_cold_s": round(med(r["ttft_s"] for r in fresh_cold), 3),
        "prefix_state_bytes": state_bytes,
        "save_prefix_s": round(save_s, 3),
        "c_over_a": round(ttft_c / ttft_a, 3),
        "raw": {
            "cold_ttft_s": [round(u.ttft_s, 3) for u in cold],
            "in_process_ttft_s": [round(u.ttft_s, 3) for u in warm],
            "new_process_saved": fresh_saved,
            "new_process_cold": fresh_cold,
        },
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: platform.processor() is what we have
    import llama_cpp

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "load_avg_start": os.getloadavg()[0],
    }


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Bundled models on this machine",
        "",
        f"Measured {result['date']} by `bench/models.py` on {m['cpu']}, {m['cores']} cores, "
        f"llama-cpp-python {m['llama_cpp_python']}; load average {m['load_avg_start']:.1f} at start, "
        f"{m['load_avg_end']:.1f} at end (the machine is shared, so figures are noisy). "
        f"Memory bandwidth (best of 5 single-threaded numpy copies of 256 MiB, bytes read + written): "
        f"{result['bandwidth_gbs']:.1f} GB/s; the decode bound is that bandwidth / model file bytes.",
        "",
        "TTFT is for a tool prompt (system prompt + 6 tool schemas + question) of the token count shown; "
        "(a) cold = empty KV cache, weights paged in; (b) same process, system+tools prefix cached; "
        "(c) new process loading the saved prefix state; (a') new process without it.",
        "",
        "| model | threads | load s | prompt tok | prefill tok/s | decode tok/s | decode bound tok/s | "
        "TTFT (a) cold | TTFT (b) in-process | TTFT (c) new proc + saved | TTFT (a') new proc cold | (c)/(a) | target (c) <= 10% (a) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["models"]:
        target = "-"
        if r["model"] == "qwen2.5-coder-0.5b":
            target = "met" if r["c_over_a"] <= 0.10 else f"missed by {(r['c_over_a'] - 0.10) * 100:.1f} points"
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['load_s']:.2f} | {r['prompt_tokens']} | {r['prefill_tps']:.0f} | "
            f"{r['decode_tps']:.1f} | {r['decode_bound_tps']:.1f} | {r['ttft_cold_s']:.2f} s | "
            f"{r['ttft_in_process_s']:.2f} s | {r['ttft_new_process_saved_s']:.2f} s | "
            f"{r['ttft_new_process_cold_s']:.2f} s | {r['c_over_a'] * 100:.1f}% | {target} |"
        )
    b = result.get("builds")
    if b:
        lines += [
            "",
            f"## What the portable llama.cpp build costs ({b['date']}, 0.5B, {b['rounds']} alternated rounds of fresh processes)",
            "",
            "| build | compiled for | prefill tok/s (median) | decode tok/s (median) | all rounds prefill / decode |",
            "|---|---|---|---|---|",
        ]
        for name in ("portable", "native"):
            r = b[name]
            feats = " ".join(f.split(" = ")[0].strip() for f in r["system_info"].split("|")[1:] if f.strip().endswith("= 1"))
            lines.append(f"| {name} | {feats} | {r['prefill_tps']:.0f} | {r['decode_tps']:.1f} | "
                         f"{r['prefill_all']} / {r['decode_all']} |")
        lines += ["", f"Portable / native: prefill {b['prefill_ratio'] * 100:.0f}%, decode {b['decode_ratio'] * 100:.0f}% "
                  f"({b['cpu']}; {b['note']})."]
    lines += ["", "Gap to targets and bounds:", ""]
    for r in result["models"]:
        lines.append(
            f"- {r['model']}: decode {r['decode_tps']:.1f} tok/s is "
            f"{r['decode_tps'] / r['decode_bound_tps'] * 100:.0f}% of the bandwidth bound "
            f"{r['decode_bound_tps']:.1f} tok/s; the saved prefix state ({r['prefix_state_bytes'] / 1e6:.1f} MB, "
            f"{r['cached_new_process']} of {r['prompt_tokens']} prompt tokens) makes a new process's first "
            f"TTFT {r['c_over_a'] * 100:.1f}% of the cold TTFT (in-process reuse: "
            f"{r['ttft_in_process_s'] / r['ttft_cold_s'] * 100:.1f}%); first call after load (weights paged in) "
            f"took {r['first_call_s']:.2f} s."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--models", default="", help="comma-separated names (default: every bundled model present)")
    ap.add_argument("--pull", action="store_true", help="pull missing bundled models first")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--render", action="store_true", help="only rewrite models.md from models.json")
    ap.add_argument("--child")
    ap.add_argument("--prefix-dir")
    ap.add_argument("--build-child")
    ap.add_argument("--compare-build", type=Path, help="a -march=native wheel to measure the portable build against")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.threads, args.prefix_dir)
        return
    if args.build_child:
        build_child(args.build_child, args.threads)
        return
    if args.compare_build:
        from kapibara.models.bundled import model_path

        builds = compare_builds(args.compare_build, model_path("qwen2.5-coder-0.5b"), args.threads, args.rounds)
        builds["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        builds["cpu"] = machine()["cpu"]
        flags = Path("/proc/cpuinfo").read_text().split()
        builds["note"] = ("this CPU has no AVX-512 or AMX, so -march=native adds only what AVX2 machines share"
                          if "avx512f" not in flags else "this CPU has AVX-512: -march=native used it")
        path = RESULTS / "models.json"
        result = json.loads(path.read_text(encoding="utf-8"))
        result["builds"] = builds
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (RESULTS / "models.md").write_text(markdown(result), encoding="utf-8")
        print(markdown(result))
        return

    if args.render:
        result = json.loads((RESULTS / "models.json").read_text(encoding="utf-8"))
        (RESULTS / "models.md").write_text(markdown(result), encoding="utf-8")
        return

    from kapibara.models.bundled import list_models, model_path, pull

    wanted = [n for n in args.models.split(",") if n]
    info = machine()
    bandwidth = memory_bandwidth_gbs()
    print(f"memory bandwidth {bandwidth:.1f} GB/s", file=sys.stderr)
    rows = []
    for model, present, _ in list_models():
        if wanted and model.name not in wanted:
            continue
        if not present and args.pull:
            pull(model.name)
            present = True
        if not present:
            print(f"skip {model.name}: not pulled", file=sys.stderr)
            continue
        print(f"benchmarking {model.name} ...", file=sys.stderr)
        row = bench_model(model.name, model_path(model.name), args.threads, bandwidth, args.repeats)
        print(json.dumps({k: v for k, v in row.items() if k != "raw"}), file=sys.stderr)
        rows.append(row)
    info["load_avg_end"] = os.getloadavg()[0]
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "bandwidth_gbs": round(bandwidth, 2),
        "models": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "models.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / "models.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
