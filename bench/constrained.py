"""Constrained decoding, measured: one speed-up of the llama.cpp backend switched on and
off, on the demo agent's own decisions.

    .venv/bin/python bench/constrained.py [--switch fast_grammar|write_prefix|stop_at_close|jump_forward|jump_grammar] \
        [--model llamacpp:qwen2.5-coder-0.5b] [--dataset domain:dev] [--limit 24]

``fast_grammar``: the greedy grammar fast path against llama.cpp's check of the whole
vocabulary at every token. ``write_prefix``: a routed call's fixed start
(``{"name": ..., "arguments": {"<first required>": "``) prefilled with the prompt against
decoded token by token (both with the fast path). ``stop_at_close``: decoding stopped
once the output is a whole JSON object against decoding one more step to read the end
token. ``jump_forward``: in the agent's free (unconstrained) calls, the text a tool call
must go on with (``kapibara.models.jump``) evaluated in one batch with the next token
against decoded token by token; for it the free calls are timed, not the constrained
ones, and each mode's decisions are also scored by the eval checker (BFCL sets too).
``jump_grammar``: the same under the grammar of a call schema (routed calls, the ladder's
constrained rungs), the constrained calls timed.

The default demo agent decides each case of the domain dev split (spread over every
category) twice in one process, once per mode, alternating which goes first. The decision
time and the time of the constrained model calls (from the trace) are compared as ratios,
and the decisions themselves: the fast path must decide exactly the same calls (greedy
decoding under the same grammar; a difference is a bug); a written prefix is tokenized
as text rather than chosen token by token, so a difference is possible and is reported.

Writes bench/results/constrained.json and .md (``write_prefix``: constrained_prefix.*,
``stop_at_close``: constrained_close.*, ``jump_forward``/``jump_grammar``: <switch>_<dataset>.*).
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
from kapibara.evals.cases import resolve_tools
from kapibara.evals.checker import check_calls
from kapibara.evals.results import machine_info
from kapibara.evals.runner import case_agent
from kapibara.fileio import write_atomic
from kapibara.models.registry import load_model

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import spread  # noqa: E402

CONSTRAINED_RUNGS = {"routed", "constrained_args", "constrained", "lookup"}
SWITCHES = {
    "fast_grammar": ("constrained", "Constrained decoding: greedy fast path vs full-vocabulary grammar check",
                     ("fast path", "full check")),
    "write_prefix": ("constrained_prefix", "Constrained decoding: a routed call's fixed start prefilled vs decoded",
                     ("prefilled", "decoded")),
    "stop_at_close": ("constrained_close", "Constrained decoding: stopped at the closing brace vs at the end token",
                      ("stopped at }", "end token")),
    "jump_forward": ("jump_forward", "Free decoding: a tool call's fixed text written ahead vs decoded",
                     ("written ahead", "decoded")),
    "jump_grammar": ("jump_grammar", "Constrained decoding: a call's fixed text written ahead under its grammar "
                     "vs decoded", ("written ahead", "decoded")),
}


def _field(usage: Any, name: str) -> float:
    """A ``Usage`` field, from the object or its dict form."""
    value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, 0.0)
    return float(value or 0.0)


def decide(agent: Any, case: Any, model: Any, free: bool = False) -> dict[str, Any]:
    """One decision from the saved system-prompt state; the time and tokens of its
    constrained model calls (``free``: of its unconstrained ones), and the checker's verdict."""
    # Each decision starts from the saved prefix state (the system prompt), as a new
    # question does: without this the second mode found the first one's whole prompt in
    # the KV cache and was timed without its prefill.
    llama = getattr(model, "llama", None)
    if llama is not None:
        llama.reset()
    t0 = time.perf_counter()
    d = agent.decide(case.messages)
    wall = time.perf_counter() - t0
    calls = [{"name": c.name, "arguments": c.arguments} for c in d.calls]
    counted_s, counted_tokens, forced = 0.0, 0, 0
    for rec in d.trace or []:
        if rec.get("type") == "model_call" and (rec.get("rung") in CONSTRAINED_RUNGS) != free:
            usage = rec.get("usage")
            counted_s += _field(usage, "total_s") - _field(usage, "ttft_s")
            counted_tokens += int(_field(usage, "completion_tokens"))
            forced += int(_field(usage, "forced_tokens"))
    verdict = check_calls(case.expected, list(d.calls), resolve_tools(case.tools))
    return {"calls": calls, "text": d.text, "decision_s": round(wall, 3), "correct": verdict.correct,
            "constrained_decode_s": round(counted_s, 3), "constrained_tokens": counted_tokens,
            "forced_tokens": forced}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--switch", choices=sorted(SWITCHES), default="fast_grammar")
    ap.add_argument("--model", default="llamacpp:qwen2.5-coder-0.5b")
    ap.add_argument("--dataset", default="domain:dev")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    stem, title, (on_label, off_label) = SWITCHES[args.switch]
    model = load_model(args.model)
    cases = spread(load_dataset(args.dataset), args.limit)
    rows: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        agent = case_agent(case, model, "native")
        modes = ("on", "off") if i % 2 == 0 else ("off", "on")
        row: dict[str, Any] = {"id": case.id, "category": case.category}
        for mode in modes:
            setattr(model, args.switch, mode == "on")
            row[mode] = decide(agent, case, model, free=args.switch == "jump_forward")
        row["same"] = row["on"]["calls"] == row["off"]["calls"] and row["on"]["text"] == row["off"]["text"]
        rows.append(row)
        print(f"[{i + 1}/{len(cases)}] {case.id}: on {row['on']['decision_s']} s, off {row['off']['decision_s']} s,"
              f" same={row['same']}", file=sys.stderr, flush=True)
    setattr(model, args.switch, True)

    def p50(mode: str, key: str, only: list[dict[str, Any]]) -> float:
        return round(statistics.median(r[mode][key] for r in only), 3) if only else 0.0

    constrained = [r for r in rows if r["off"]["constrained_tokens"] > 0]
    tokens = {m: sum(r[m]["constrained_tokens"] for r in constrained) for m in ("on", "off")}
    summary = {
        "switch": args.switch, "cases": len(rows), "same_decisions": sum(r["same"] for r in rows),
        "with_constrained_calls": len(constrained),
        "decision_p50_s": {"on": p50("on", "decision_s", rows), "off": p50("off", "decision_s", rows)},
        "constrained_p50_s": {"on": p50("on", "decision_s", constrained), "off": p50("off", "decision_s", constrained)},
        "constrained_decode_s": {m: round(sum(r[m]["constrained_decode_s"] for r in constrained), 3) for m in ("on", "off")},
        "constrained_tokens": tokens,
        "forced_tokens": {m: sum(r[m]["forced_tokens"] for r in constrained) for m in ("on", "off")},
        "correct": {m: sum(bool(r[m]["correct"]) for r in rows) for m in ("on", "off")},
    }
    dec = summary["constrained_decode_s"]
    summary["constrained_decode_ratio"] = round(dec["on"] / dec["off"], 3) if dec["off"] else None
    dp, cp = summary["decision_p50_s"], summary["constrained_p50_s"]
    summary["decision_p50_ratio"] = round(dp["on"] / dp["off"], 3) if dp["off"] else None
    summary["constrained_p50_ratio"] = round(cp["on"] / cp["off"], 3) if cp["off"] else None
    created = datetime.now(UTC).isoformat(timespec="seconds")
    if args.switch in ("jump_forward", "jump_grammar"):
        stem += "_" + args.dataset.replace(":", "_")
    out = Path(args.out) if args.out else RESULTS / stem
    write_atomic(out.with_suffix(".json"), json.dumps({"created": created, "machine": machine_info(), "model": args.model,
                                                       "dataset": args.dataset, "summary": summary, "rows": rows},
                                                      ensure_ascii=False, indent=1))
    tps = {m: round(tokens[m] / dec[m], 1) if dec[m] else 0.0 for m in ("on", "off")}
    kind = "free" if args.switch == "jump_forward" else "constrained"
    differ = [r["id"] for r in rows if not r["same"]]
    md = [f"# {title}", "",
          f"Measured {created} on {machine_info().get('platform', '')} ({machine_info().get('cpus', '?')} CPUs); "
          f"model `{args.model}`; {len(rows)} cases of `{args.dataset}` spread over the categories, each decided "
          f"by the {'default demo ' if str(args.dataset).startswith('domain') else ''}agent in both modes (`model.{args.switch}` True / False) in one process, "
          "alternating which goes first, each decision from the saved system-prompt state (the KV cache reset).", "",
          f"| | {on_label} | {off_label} | ratio |", "|---|---|---|---|",
          f"| decision p50 s (all {len(rows)} cases) | {dp['on']} | {dp['off']} | {summary['decision_p50_ratio']} |",
          f"| decision p50 s ({len(constrained)} cases with {kind} calls) | {cp['on']} | {cp['off']} "
          f"| {summary['constrained_p50_ratio']} |",
          f"| {kind} decode s | {dec['on']} | {dec['off']} | {summary['constrained_decode_ratio']} |",
          f"| {kind} tokens out | {tokens['on']} | {tokens['off']} | |",
          f"| of them written ahead (no decoding step) | {summary['forced_tokens']['on']} "
          f"| {summary['forced_tokens']['off']} | |",
          f"| {kind} tokens out per decode s | {tps['on']} | {tps['off']} | |",
          f"| right decisions (eval checker) | {summary['correct']['on']} | {summary['correct']['off']} | |", "",
          f"Same decisions in both modes: {summary['same_decisions']} of {len(rows)}"
          + (f" (differ: {', '.join(differ)})." if differ else "."), ""]
    write_atomic(out.with_suffix(".md"), "\n".join(md))
    print("\n".join(md))
    # the same grammar and greedy decoding must agree (the end token adds nothing)
    exact = args.switch in ("fast_grammar", "stop_at_close")
    return 0 if summary["same_decisions"] == len(rows) or not exact else 1


if __name__ == "__main__":
    sys.exit(main())
