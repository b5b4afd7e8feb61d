"""Prompt-lookup drafting (``kapibara.models.lookup``), measured: the llama.cpp backend's
``prompt_lookup`` switched on and off on the demo agent's whole turns, in one process.

    .venv/bin/python bench/prompt_lookup.py [--model llamacpp:grocery-0.5b] [--dataset domain:test] [--limit 72]

Each case runs twice, once per mode, alternating which goes first: its first decision
(``agent.decide``, as the eval scores it) and its whole turn (``agent.run``: the calls
executed against the demo's tools, then the answer written from their results), each from
the saved system-prompt state (the KV cache reset). Drafting only touches replies (never a
call, never under a grammar), so decisions that end in a call are the control: the same
steps either way.

Reported per mode: decision and turn p50 and total, the decode seconds of the turn's model
calls (total - time to the first token), the tokens drafted and kept, and whether the two
modes wrote the same decisions and answers (greedy decoding; a batch's logits can differ
from a single step's in the last bits, so a difference is possible and is listed).

Writes bench/results/prompt_lookup_<model>_<dataset>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kapibara.evals.adapters import load_dataset
from kapibara.evals.results import machine_info
from kapibara.evals.runner import case_agent, run_episode
from kapibara.fileio import write_atomic
from kapibara.models.registry import load_model

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import spread  # noqa: E402

MODES = ("on", "off")
ACTION_ID = re.compile(r"act_[0-9a-f]{12}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _usage_sum(trace: list[dict[str, Any]]) -> dict[str, float]:
    """Decode seconds and token counts over a trace's model calls."""
    out = {"decode_s": 0.0, "tokens": 0.0, "drafted": 0.0, "accepted": 0.0, "calls": 0.0}
    for rec in trace or []:
        if rec.get("type") != "model_call":
            continue
        u = rec.get("usage") or {}
        out["decode_s"] += float(u.get("total_s") or 0.0) - float(u.get("ttft_s") or 0.0)
        out["tokens"] += int(u.get("completion_tokens") or 0)
        out["drafted"] += int(u.get("drafted_tokens") or 0)
        out["accepted"] += int(u.get("accepted_tokens") or 0)
        out["calls"] += 1
    return out


def _same_answer(a: str, b: str) -> bool:
    """The same answer, up to the id a held action gets (random per run)."""
    return ACTION_ID.sub("act_", a) == ACTION_ID.sub("act_", b)


def measure(agent: Any, case: Any, model: Any) -> dict[str, Any]:
    """One case in the current mode: its first decision, then its whole turn."""
    model.llama.reset()
    t0 = time.perf_counter()
    d = agent.decide(case.messages)
    decision_s = time.perf_counter() - t0
    model.llama.reset()
    t0 = time.perf_counter()
    run = run_episode(agent, case)
    turn_s = time.perf_counter() - t0
    return {"decision_s": round(decision_s, 3), "decision": [[c.name, c.arguments] for c in d.calls],
            "decision_text": d.text, "turn_s": round(turn_s, 3), "answer": run.answer,
            "turn_calls": [[c.name, c.arguments] for c in run.tool_calls], **_usage_sum(run.trace)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="llamacpp:grocery-0.5b")
    ap.add_argument("--dataset", default="domain:test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    model = load_model(args.model)
    if not hasattr(model, "prompt_lookup"):
        print(f"{args.model} has no prompt_lookup switch (a llama.cpp model is needed)", file=sys.stderr)
        return 2
    cases = spread(load_dataset(args.dataset), args.limit)
    # Untimed, once per script: the first turn in a language prefills its system prompt
    # (seconds on 2 cores) and would be charged to whichever mode met it first.
    seen: set[bool] = set()
    for case in cases:
        script = bool(CJK.search(str(case.messages[-1].get("content") or "")))
        if script not in seen:
            seen.add(script)
            measure(case_agent(case, model, "native", episodes=True), case, model)
    default = model.prompt_lookup
    rows: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        agent = case_agent(case, model, "native", episodes=True)
        row: dict[str, Any] = {"id": case.id, "category": case.category}
        for mode in (MODES if i % 2 == 0 else MODES[::-1]):
            model.prompt_lookup = mode == "on"
            row[mode] = measure(agent, case, model)
        on, off = row["on"], row["off"]
        row["same_decision"] = on["decision"] == off["decision"] and on["decision_text"] == off["decision_text"]
        row["same_turn"] = _same_answer(on["answer"], off["answer"]) and on["turn_calls"] == off["turn_calls"]
        rows.append(row)
        print(f"[{i + 1}/{len(cases)}] {case.id}: turn on {on['turn_s']} s, off {off['turn_s']} s, "
              f"kept {int(on['accepted'])}/{int(on['drafted'])} drafted, same={row['same_turn']}",
              file=sys.stderr, flush=True)
    model.prompt_lookup = default

    def stat(mode: str, key: str, fn: Any = statistics.median) -> float:
        return round(fn(r[mode][key] for r in rows), 3) if rows else 0.0

    summary: dict[str, Any] = {"cases": len(rows)}
    for key in ("decision_s", "turn_s"):
        summary[key] = {m: {"p50": stat(m, key), "total": stat(m, key, sum)} for m in MODES}
    for key in ("decode_s", "tokens", "drafted", "accepted"):
        summary[key] = {m: stat(m, key, sum) for m in MODES}
    summary["turn_ratio_median"] = round(statistics.median(
        r["on"]["turn_s"] / r["off"]["turn_s"] for r in rows if r["off"]["turn_s"] > 0), 3) if rows else None
    summary["same_decisions"] = sum(r["same_decision"] for r in rows)
    summary["same_turns"] = sum(r["same_turn"] for r in rows)

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    ds, ts, dec = summary["decision_s"], summary["turn_s"], summary["decode_s"]
    summary["ratios"] = {"decision_p50": ratio(ds["on"]["p50"], ds["off"]["p50"]),
                         "turn_p50": ratio(ts["on"]["p50"], ts["off"]["p50"]),
                         "turn_total": ratio(ts["on"]["total"], ts["off"]["total"]),
                         "decode_s": ratio(dec["on"], dec["off"])}
    created = datetime.now(UTC).isoformat(timespec="seconds")
    stem = f"prompt_lookup_{args.model.split(':')[-1]}_{args.dataset.replace(':', '_')}"
    out = Path(args.out) if args.out else RESULTS / stem
    write_atomic(out.parent / f"{out.name}.json", json.dumps(
        {"created": created, "machine": machine_info(), "model": args.model, "dataset": args.dataset,
         "draft_tokens": getattr(model, "draft_tokens", None), "summary": summary, "rows": rows},
        ensure_ascii=False, indent=1))
    r = summary["ratios"]
    kept = summary["accepted"]["on"]
    drafted = summary["drafted"]["on"]
    differ = [row["id"] for row in rows if not row["same_turn"]]
    md = ["# Prompt-lookup drafting on and off (`bench/prompt_lookup.py`)", "",
          f"Measured {created} on {machine_info().get('platform', '')} ({machine_info().get('cpus', '?')} CPUs); "
          f"model `{args.model}`, {len(rows)} cases of `{args.dataset}`, each run in both modes "
          f"(`model.prompt_lookup` True / False, drafts of up to {getattr(model, 'draft_tokens', '?')} tokens) "
          "in one process, alternating which goes first, each from the saved system-prompt state.", "",
          "| | drafting | decoding every token | ratio |", "|---|---|---|---|",
          f"| first decision p50 s | {ds['on']['p50']} | {ds['off']['p50']} | {r['decision_p50']} |",
          f"| whole turn p50 s | {ts['on']['p50']} | {ts['off']['p50']} | {r['turn_p50']} |",
          f"| whole turns, total s | {ts['on']['total']} | {ts['off']['total']} | {r['turn_total']} |",
          f"| whole turn, case by case (median of the ratios) | | | {summary['turn_ratio_median']} |",
          f"| turns' decode s (after each call's first token) | {round(dec['on'], 2)} | {round(dec['off'], 2)} "
          f"| {r['decode_s']} |",
          f"| tokens written in the turns | {int(summary['tokens']['on'])} | {int(summary['tokens']['off'])} | |",
          f"| tokens drafted / kept | {int(drafted)} / {int(kept)}"
          f" ({round(100 * kept / drafted) if drafted else 0}%) | – | |", "",
          f"Same first decisions: {summary['same_decisions']} of {len(rows)}; same turns (calls and answer): "
          f"{summary['same_turns']} of {len(rows)}" + (f" (differ: {', '.join(differ)})." if differ else "."), ""]
    write_atomic(out.parent / f"{out.name}.md", "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
