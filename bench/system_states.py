"""System turns kept in memory, measured: the domain test split decided in file order
(Chinese and English questions mixed, as users send them) by the default demo agent, with
``LlamaCppModel.remember_system`` on and off.

    .venv/bin/python bench/system_states.py [--model llamacpp:qwen2.5-coder-0.5b] [--passes 4]

Passes alternate off / on in one process on one loaded model (``--passes`` in all). Each
pass starts with no system turn remembered and none saved on disk (states saved by
``save_prefix`` would hide the effect: a fresh prefix-cache folder is used), so each pass
pays the same first prefills; what differs is whether a turn prefilled a second time is
kept. Reports decision p50 / p95 / total per mode and the prompt tokens prefilled.

Writes bench/results/system_states.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kapibara.demo  # noqa: F401 - registers the "demo" tool set
from kapibara.evals.adapters import load_dataset
from kapibara.evals.results import machine_info
from kapibara.evals.runner import case_agent
from kapibara.fileio import write_atomic
from kapibara.models.registry import load_model

RESULTS = Path(__file__).resolve().parent / "results"


def one_pass(model: Any, cases: list[Any], on: bool) -> list[dict[str, Any]]:
    model.remember_system = 4 if on else 0
    model._shared.system_seen = set()
    model._shared.system_states = OrderedDict()
    model.llama.reset()
    rows = []
    for case in cases:
        agent = case_agent(case, model, "native")
        t0 = time.perf_counter()
        d = agent.decide(case.messages)
        wall = time.perf_counter() - t0
        fresh = sum(int(r["usage"]["prompt_tokens"]) - int(r["usage"]["cached_prompt_tokens"])
                    for r in d.trace if r.get("type") == "model_call")
        rows.append({"id": case.id, "decision_s": round(wall, 3), "prefilled": fresh,
                     "calls": [{"name": c.name, "arguments": c.arguments} for c in d.calls], "text": d.text})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="llamacpp:qwen2.5-coder-0.5b")
    ap.add_argument("--dataset", default="domain:test")
    ap.add_argument("--passes", type=int, default=4)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as states:
        model = load_model(args.model)
        model.prefix_state_dir = Path(states)  # nothing saved by earlier runs is found
        cases = load_dataset(args.dataset)
        passes: list[dict[str, Any]] = []
        for i in range(args.passes):
            on = i % 2 == 1
            rows = one_pass(model, cases, on)
            passes.append({"on": on, "rows": rows})
            times = [r["decision_s"] for r in rows]
            print(f"pass {i + 1} ({'on' if on else 'off'}): total {sum(times):.1f} s, "
                  f"p50 {statistics.median(times):.3f} s", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {}
    for mode, on in (("on", True), ("off", False)):
        times = [r["decision_s"] for p in passes if p["on"] == on for r in p["rows"]]
        prefilled = [r["prefilled"] for p in passes if p["on"] == on for r in p["rows"]]
        n_passes = sum(p["on"] == on for p in passes)
        summary[mode] = {"decisions": len(times), "p50_s": round(statistics.median(times), 3),
                         "p95_s": round(statistics.quantiles(times, n=20)[18], 3),
                         "total_s_per_pass": round(sum(times) / n_passes, 1),
                         "prefilled_per_pass": round(sum(prefilled) / n_passes)}
    first = {p["on"]: p["rows"] for p in passes}
    same = sum(a["calls"] == b["calls"] and a["text"] == b["text"] for a, b in zip(first[True], first[False],
                                                                                      strict=True))
    created = datetime.now(UTC).isoformat(timespec="seconds")
    on, off = summary["on"], summary["off"]
    write_atomic(RESULTS / "system_states.json", json.dumps(
        {"created": created, "machine": machine_info(), "model": args.model, "dataset": args.dataset,
         "summary": summary, "same_decisions": same, "passes": passes}, ensure_ascii=False, indent=1))
    md = ["# System turns kept in memory vs prefilled again", "",
          f"Measured {created} on {machine_info().get('platform', '')} ({machine_info().get('cpus', '?')} CPUs); "
          f"model `{args.model}`; the {len(cases)} cases of `{args.dataset}` decided in file order by the default "
          f"demo agent, {args.passes} passes alternating `remember_system` off / on in one process, each pass "
          "from no remembered turn and no saved prefix state.", "",
          "| | remembered | prefilled again | ratio |", "|---|---|---|---|",
          f"| decision p50 s | {on['p50_s']} | {off['p50_s']} | {round(on['p50_s'] / off['p50_s'], 3)} |",
          f"| decision p95 s | {on['p95_s']} | {off['p95_s']} | {round(on['p95_s'] / off['p95_s'], 3)} |",
          f"| decision s per pass | {on['total_s_per_pass']} | {off['total_s_per_pass']} "
          f"| {round(on['total_s_per_pass'] / off['total_s_per_pass'], 3)} |",
          f"| prompt tokens prefilled per pass | {on['prefilled_per_pass']} | {off['prefilled_per_pass']} | |", "",
          f"Same decisions in the first pass of each mode: {same} of {len(cases)}.", ""]
    write_atomic(RESULTS / "system_states.md", "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
