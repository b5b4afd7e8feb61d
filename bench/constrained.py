"""Constrained decoding, measured: the greedy grammar fast path against llama.cpp's check
of the whole vocabulary at every token, on the demo agent's own decisions.

    .venv/bin/python bench/constrained.py [--model llamacpp:qwen2.5-coder-0.5b] [--limit 24]

The default demo agent decides each case of the domain dev split (spread over every
category) twice in one process, once per mode, alternating which goes first. Both modes
must decide the same calls (greedy decoding under the same grammar); the decision time
and the time of the constrained model calls (from the trace) are compared as ratios.

Writes bench/results/constrained.json and constrained.md.
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

from kapibara.evals.adapters import load_dataset
from kapibara.evals.results import machine_info
from kapibara.evals.runner import toolset_options, toolset_prompt
from kapibara.fileio import write_atomic
from kapibara.models.registry import load_model
from kapibara.toolsets import toolset_entry

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import spread  # noqa: E402

CONSTRAINED_RUNGS = {"routed", "constrained_args", "constrained", "lookup"}


def _field(usage: Any, name: str) -> float:
    """A ``Usage`` field, from the object or its dict form."""
    value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, 0.0)
    return float(value or 0.0)


def decide(agent: Any, case: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    d = agent.decide(case.messages)
    wall = time.perf_counter() - t0
    calls = [{"name": c.name, "arguments": c.arguments} for c in d.calls]
    constrained_s, constrained_tokens = 0.0, 0
    for rec in d.trace or []:
        if rec.get("type") == "model_call" and rec.get("rung") in CONSTRAINED_RUNGS:
            usage = rec.get("usage")
            constrained_s += _field(usage, "total_s") - _field(usage, "ttft_s")
            constrained_tokens += int(_field(usage, "completion_tokens"))
    return {"calls": calls, "text": d.text, "decision_s": round(wall, 3),
            "constrained_decode_s": round(constrained_s, 3), "constrained_tokens": constrained_tokens}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="llamacpp:qwen2.5-coder-0.5b")
    ap.add_argument("--dataset", default="domain:dev")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--out", default=str(RESULTS / "constrained"))
    args = ap.parse_args(argv)
    from kapibara.agent import Agent

    model = load_model(args.model)
    cases = spread(load_dataset(args.dataset), args.limit)
    rows: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        options = toolset_options(case.tools)
        prompt = options.pop("prompt", None) or toolset_prompt(case.tools)
        agent = Agent(model, toolset_entry(str(case.tools)).toolset(), prompt=prompt, **options)
        modes = ("fast", "full") if i % 2 == 0 else ("full", "fast")
        row: dict[str, Any] = {"id": case.id, "category": case.category}
        for mode in modes:
            model.fast_grammar = mode == "fast"
            row[mode] = decide(agent, case)
        row["same"] = row["fast"]["calls"] == row["full"]["calls"] and row["fast"]["text"] == row["full"]["text"]
        rows.append(row)
        print(f"[{i + 1}/{len(cases)}] {case.id}: fast {row['fast']['decision_s']} s, full {row['full']['decision_s']} s,"
              f" same={row['same']}", file=sys.stderr, flush=True)
    model.fast_grammar = True

    def p50(mode: str, key: str, only: list[dict[str, Any]]) -> float:
        return round(statistics.median(r[mode][key] for r in only), 3) if only else 0.0

    constrained = [r for r in rows if r["full"]["constrained_tokens"] > 0]
    tokens = sum(r["full"]["constrained_tokens"] for r in constrained)
    summary = {
        "cases": len(rows), "same_decisions": sum(r["same"] for r in rows), "with_constrained_calls": len(constrained),
        "decision_p50_s": {"fast": p50("fast", "decision_s", rows), "full": p50("full", "decision_s", rows)},
        "constrained_decode_s": {m: round(sum(r[m]["constrained_decode_s"] for r in constrained), 3) for m in ("fast", "full")},
        "constrained_tokens": tokens,
    }
    dec = summary["constrained_decode_s"]
    summary["constrained_decode_ratio"] = round(dec["fast"] / dec["full"], 3) if dec["full"] else None
    dp = summary["decision_p50_s"]
    summary["decision_p50_ratio"] = round(dp["fast"] / dp["full"], 3) if dp["full"] else None
    created = datetime.now(UTC).isoformat(timespec="seconds")
    out = Path(args.out)
    write_atomic(out.with_suffix(".json"), json.dumps({"created": created, "machine": machine_info(), "model": args.model,
                                                       "dataset": args.dataset, "summary": summary, "rows": rows},
                                                      ensure_ascii=False, indent=1))
    tps = {m: round(tokens / dec[m], 1) if dec[m] else 0.0 for m in ("fast", "full")}
    md = ["# Constrained decoding: greedy fast path vs full-vocabulary grammar check", "",
          f"Measured {created} on {machine_info().get('platform', '')} ({machine_info().get('cpus', '?')} CPUs); "
          f"model `{args.model}`; {len(rows)} cases of `{args.dataset}` spread over the categories, each decided "
          "by the default demo agent in both modes in one process, alternating which goes first.", "",
          "| | fast path | full check | ratio |", "|---|---|---|---|",
          f"| decision p50 s (all {len(rows)} cases) | {dp['fast']} | {dp['full']} | {summary['decision_p50_ratio']} |",
          f"| constrained decode s ({len(constrained)} cases, {tokens} tokens) | {dec['fast']} | {dec['full']} "
          f"| {summary['constrained_decode_ratio']} |",
          f"| constrained decode tokens/s | {tps['fast']} | {tps['full']} | |", "",
          f"Same decisions in both modes: {summary['same_decisions']} of {len(rows)} (greedy decoding under the same "
          "grammar must agree; a difference is a bug).", ""]
    write_atomic(out.with_suffix(".md"), "\n".join(md))
    print("\n".join(md))
    return 0 if summary["same_decisions"] == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
