"""Offering the nearest tool alone (``DescriptionRouter(lead=...)``), measured on BFCL
``multiple``: the default agent against the same agent with that router, each case both
ways in one process.

    KAPIBARA_DATA_DIR=../shared/data .venv/bin/python bench/narrow_tools.py \
        [--model llamacpp:qwen2.5-coder-0.5b] [--dataset bfcl:multiple] [--limit 100] [--lead 0.05]
    KAPIBARA_DATA_DIR=../shared/data .venv/bin/python bench/narrow_tools.py --coverage \
        [--dataset bfcl:multiple,bfcl:parallel_multiple]

BFCL brings its own functions with each question, so no saved prefix state holds them:
the whole prompt (system text, tool schemas, question) is prefilled every decision, and
that prefill is most of the decision on 2 cores. With the router, the nearest tool by
USE similarity of ``name: description`` to the question is the only one offered when it
leads the next by ``--lead``; otherwise every tool is. Each decision starts from an empty
KV cache (the two modes share most of their prompt, and the second would find it cached).

``--coverage`` decides nothing: for every case of each dataset with two or more tools it
says whether the router would offer one tool alone, and whether that leaves out a tool
the expected calls need (on ``parallel_multiple`` a question needs several).

Writes bench/results/narrow_tools_<model>_<dataset>.json and .md
(``--coverage``: narrow_tools_coverage.json and .md).
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

from kapibara.agent.router import DescriptionRouter
from kapibara.evals.adapters import load_dataset
from kapibara.evals.cases import resolve_tools
from kapibara.evals.checker import check_calls
from kapibara.evals.results import machine_info
from kapibara.evals.runner import case_agent, default_agent_factory
from kapibara.fileio import write_atomic
from kapibara.models.registry import load_model
from kapibara.rag.embedders import load_embedder

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("all", "lead")


def decide(agent: Any, case: Any, model: Any) -> dict[str, Any]:
    """One decision from an empty KV cache: time, verdict, tools offered, tokens prefilled."""
    model.llama.reset()
    t0 = time.perf_counter()
    d = agent.decide(case.messages)
    wall = time.perf_counter() - t0
    verdict = check_calls(case.expected, list(d.calls), resolve_tools(case.tools))
    calls = [r for r in d.trace or [] if r.get("type") == "model_call"]
    prefilled = sum(int(r["usage"]["prompt_tokens"]) - int(r["usage"]["cached_prompt_tokens"]) for r in calls)
    offered = [t["function"]["name"] for t in (calls[0].get("tools") or [])] if calls else []
    return {"decision_s": round(wall, 3), "correct": bool(verdict.correct), "calls": [c.name for c in d.calls],
            "offered": offered, "prefilled": prefilled, "model_calls": len(calls)}


def needed_sets(expected: Any) -> list[set[str]]:
    """The function names each alternative of a case's expected calls needs."""
    if not isinstance(expected, list) or not expected:
        return []
    alternatives = expected if isinstance(expected[0], list) else [expected]
    return [{name for call in alt if isinstance(call, dict) for name in call} for alt in alternatives]


def coverage(datasets: list[str], lead: float, limit: int | None) -> int:
    """How often the router offers one tool alone, and how often that one is not enough."""
    router = DescriptionRouter(load_embedder("use"), lead=lead)
    out: dict[str, dict[str, Any]] = {}
    for name in datasets:
        cases = load_dataset(name)[:limit]
        several = alone = short = 0
        left_out: list[str] = []
        for case in cases:
            specs = resolve_tools(case.tools)
            names = [t["function"]["name"] for t in specs]
            if len(names) < 2:
                continue
            router.describe({t["function"]["name"]: f"{t['function']['name']}: {t['function'].get('description', '')}"
                             for t in specs})
            several += 1
            offered = set(router.route(case.messages, names).tools)
            if len(offered) == 1:
                alone += 1
                needs = needed_sets(case.expected)
                if needs and not any(n <= offered for n in needs):
                    short += 1
                    left_out.append(case.id)
        out[name] = {"cases": len(cases), "with_two_or_more_tools": several, "one_offered": alone,
                     "needed_tool_left_out": short, "left_out": left_out}
        print(f"{name}: {several} cases with 2+ tools, one offered in {alone}, a needed tool left out in {short}",
              file=sys.stderr, flush=True)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    write_atomic(RESULTS / "narrow_tools_coverage.json", json.dumps(
        {"created": created, "lead": lead, "datasets": out}, ensure_ascii=False, indent=1))
    md = ["# Which tools the nearest-tool narrowing leaves out (`bench/narrow_tools.py --coverage`)", "",
          f"Measured {created}; `DescriptionRouter(lead={lead})` with the bundled USE embedder, no model. "
          "A case counts when it offers two or more tools; *left out*: one tool offered, and no "
          "alternative of the expected calls is made of it alone.", "",
          "| dataset | cases with 2+ tools | one tool offered | a needed tool left out |", "|---|---|---|---|"]
    md += [f"| {k} | {v['with_two_or_more_tools']} | {v['one_offered']} | {v['needed_tool_left_out']} |"
           for k, v in out.items()]
    write_atomic(RESULTS / "narrow_tools_coverage.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="llamacpp:qwen2.5-coder-0.5b")
    ap.add_argument("--dataset", default="bfcl:multiple")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--lead", type=float, default=0.05)
    ap.add_argument("--coverage", action="store_true", help="no model: which tools narrowing leaves out")
    args = ap.parse_args(argv)
    if args.coverage:
        names = args.dataset.split(",") if "," in args.dataset else [args.dataset, "bfcl:parallel_multiple"]
        return coverage(list(dict.fromkeys(names)), args.lead, None)  # parallel_multiple once
    model = load_model(args.model)
    embedder = load_embedder("use")

    def with_router(model: Any, toolset: Any, config: str, prompt: Any = None, **options: Any) -> Any:
        return default_agent_factory(model, toolset, config, prompt,
                                     router=DescriptionRouter(embedder, lead=args.lead), **options)

    cases = load_dataset(args.dataset)[: args.limit]
    rows: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        row: dict[str, Any] = {"id": case.id}
        for mode in (MODES if i % 2 == 0 else MODES[::-1]):
            agent = case_agent(case, model, "native", with_router) if mode == "lead" else case_agent(case, model, "native")
            row[mode] = decide(agent, case, model)
        rows.append(row)
        print(f"[{i + 1}/{len(cases)}] {case.id}: all {row['all']['decision_s']} s {row['all']['correct']}, "
              f"lead {row['lead']['decision_s']} s {row['lead']['correct']} ({len(row['lead']['offered'])} offered)",
              file=sys.stderr, flush=True)

    def p50(mode: str, key: str) -> float:
        return round(statistics.median(r[mode][key] for r in rows), 3)

    alone = [r for r in rows if len(r["lead"]["offered"]) == 1 < len(r["all"]["offered"])]
    summary = {
        "cases": len(rows), "lead": args.lead,
        "right": {m: sum(r[m]["correct"] for r in rows) for m in MODES},
        "only_lead": [r["id"] for r in rows if r["lead"]["correct"] and not r["all"]["correct"]],
        "only_all": [r["id"] for r in rows if r["all"]["correct"] and not r["lead"]["correct"]],
        "decision_p50_s": {m: p50(m, "decision_s") for m in MODES},
        "prefilled_p50": {m: p50(m, "prefilled") for m in MODES},
        "ratio_median": round(statistics.median(r["lead"]["decision_s"] / r["all"]["decision_s"] for r in rows), 3),
        "alone": len(alone),
    }
    created = datetime.now(UTC).isoformat(timespec="seconds")
    stem = RESULTS / f"narrow_tools_{args.model.split(':')[-1]}_{args.dataset.replace(':', '_')}"
    write_atomic(stem.parent / f"{stem.name}.json", json.dumps(
        {"created": created, "machine": machine_info(), "model": args.model, "dataset": args.dataset,
         "summary": summary, "rows": rows}, ensure_ascii=False, indent=1))
    s = summary
    b = len(s["only_lead"]) + len(s["only_all"])
    md = ["# The nearest tool offered alone (`bench/narrow_tools.py`)", "",
          f"Measured {created} on {machine_info().get('platform', '')} ({machine_info().get('cpus', '?')} CPUs); "
          f"model `{args.model}`, the first {len(rows)} cases of `{args.dataset}`, each decided by the default agent "
          f"and by the same agent with `DescriptionRouter(lead={args.lead})` in one process, alternating which goes "
          "first, each from an empty KV cache.", "",
          "| | every tool offered (default) | the nearest alone when it leads | |", "|---|---|---|---|",
          f"| right calls | {s['right']['all']} | {s['right']['lead']} | {len(s['only_lead'])} gained / "
          f"{len(s['only_all'])} lost{' (' + str(b) + ' discordant)' if b else ''} |",
          f"| decision p50 s | {s['decision_p50_s']['all']} | {s['decision_p50_s']['lead']} | case by case "
          f"(median ratio) {s['ratio_median']}x |",
          f"| prompt tokens prefilled, p50 | {s['prefilled_p50']['all']} | {s['prefilled_p50']['lead']} | |", "",
          f"One tool offered in {s['alone']} of {len(rows)} cases. Gained: {', '.join(s['only_lead']) or 'none'}; "
          f"lost: {', '.join(s['only_all']) or 'none'}.", ""]
    write_atomic(stem.parent / f"{stem.name}.md", "\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
