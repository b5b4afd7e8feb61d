"""The tuned 0.5B, measured: domain test split, general ability on BFCL, and each export.

    .venv/bin/python bench/finetune.py --run runs/lora --name grocery-0.5b [--bfcl 50]

Stages (each resumable: case results are cached in JSONL keyed by config / case):

1. **Export** the run's adapter (``kapibara.finetune.publish``): the GGUF LoRA adapter, the
   merged GGUF (GPTQ-Q4_0 on the run's training samples, the export's default), the peft
   folder for vLLM; registered as ``--name`` with the compact prompt profile and the tools
   it learned.
2. **Domain test split + missing-argument cases**, configurations interleaved case by case
   so machine load affects them alike:
   ``0.5b`` (the untuned default agent, as `kapibara run` ships it), ``tuned`` (base +
   GGUF adapter, compact prompt, the demo's router), ``tuned-norouter`` (the same without
   the router), ``tuned-merged`` (the merged GGUF), ``1.5b`` (untuned
   default agent), ``merged:NAME`` (another tuned model's merged GGUF: the same adapter
   merged at another quantisation, ``kapibara finetune export RUN --name NAME --merge
   --quant Q4_0``), ``tuned-copy`` (the GGUF adapter over the base's Q4_0 CPU copy).
3. **General ability**: BFCL ``multiple`` and ``irrelevance`` (first ``--bfcl`` cases each)
   for the untuned and the tuned 0.5B (BFCL's tools are not the tuned ones, so the tuned
   model gets the default prompt with their descriptions).
4. **The peft folder** (what vLLM serves) loaded with transformers + peft: its greedy
   decisions on the first ``--peft-cases`` test cases compared with the GGUF adapter's.

Writes bench/results/finetune.json and finetune.md with Wilson intervals, paired McNemar
tests and the issue's targets met / missed / not established.
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

from improve import rates, verdict  # noqa: E402
from tool_use import append_cache, cache_key, read_cache, to_result  # noqa: E402

import kapibara.demo  # noqa: E402,F401 - registers the "demo" tool set
from kapibara.agent import Agent  # noqa: E402
from kapibara.demo import demo_agent_options  # noqa: E402
from kapibara.evals.adapters import load_dataset  # noqa: E402
from kapibara.evals.cases import write_text  # noqa: E402
from kapibara.evals.compare import mcnemar_p  # noqa: E402
from kapibara.evals.results import CaseResult, machine_info  # noqa: E402
from kapibara.evals.runner import default_agent_factory, run_case  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "finetune.cache.jsonl"
DOMAIN = ["domain:test", "domain:missing_test"]
BFCL = ["bfcl:multiple", "bfcl:irrelevance"]
TARGETS = {"tool": 95.0, "call": 88.0, "no_call": 90.0}


def demo_factory(model: Any, toolset: Any, config: str, prompt: Any = None, **_registered: Any) -> Any:
    """The demo's default agent; a tuned model turns it compact by itself (its profile)."""
    return Agent(model, toolset, **demo_agent_options())


def unrouted_factory(model: Any, toolset: Any, config: str, prompt: Any = None, **_registered: Any) -> Any:
    """The demo's agent without its router (``tuned-norouter``: the tuned model alone)."""
    return Agent(model, toolset, **demo_agent_options(route=False))


FACTORIES: dict[str, Any] = {"tuned-norouter": unrouted_factory}
"""Configurations whose agent differs from the one ``run_set`` is given."""


def load_models(name: str, configs: list[str]) -> dict[str, Any]:
    from kapibara.models import tuned
    from kapibara.models.bundled import model_path
    from kapibara.models.llamacpp import LlamaCppModel
    from kapibara.models.registry import load_model

    record = tuned.get(name)
    meta = record.metadata

    def adapted(config: str, path: Any, lora: Any) -> LlamaCppModel:
        """``path`` (+ ``lora``) with the tuned record's prompt profile and learned tools."""
        m = LlamaCppModel(path, name=f"{name}:{config}", lora_path=lora, profile=str(meta.get("profile", "compact")))
        m.tuned_tools = tuple(meta.get("tools") or ())
        return m

    out: dict[str, Any] = {}
    for c in configs:
        if c == "0.5b":
            out[c] = load_model("llamacpp:qwen2.5-coder-0.5b")
        elif c == "1.5b":
            out[c] = load_model("llamacpp:qwen2.5-coder-1.5b")
        elif c.startswith("merged:"):
            # another registered tuned model's merged GGUF (the same adapter merged at another
            # quantisation, say), run on the whole split with the other configurations
            other = c.removeprefix("merged:")
            if tuned.get(other).merged_gguf is None:
                raise SystemExit(f"{other} has no merged GGUF: export it with --merge")
            out[c] = LlamaCppModel.from_name_or_path(other, name=c)
        elif c == "tuned-copy":
            # the GGUF adapter over the base's Q4_0 CPU copy (models.quantize): the copy's
            # speed with the adapter's weights, no merge
            from kapibara.models.quantize import CPU_QUANT, runtime_path

            out[c] = adapted(c, runtime_path(record.base, CPU_QUANT), record.adapter_gguf)
        elif c in ("tuned", "tuned-norouter", "tuned-merged"):
            if c == "tuned-norouter" and "tuned" in out:
                out[c] = out["tuned"]  # the same model; its agent has no router (FACTORIES)
                continue
            path = model_path(record.base) if c != "tuned-merged" else record.merged_gguf
            if path is None:
                continue
            out[c] = adapted(c, path, record.adapter_gguf if c != "tuned-merged" else None)
    return out


def warm_prefixes(models: dict[str, Any]) -> None:
    """Save every model's system-prompt state for both languages, as `kapibara run` does on
    first use: without it a model whose state a past run happened to save would be the
    only one spared a full prefill whenever the cases switch language."""
    from kapibara.toolsets import toolset_entry

    for model in models.values():
        if model is None:  # reported from the cache only
            continue
        agent = Agent(model, toolset_entry("demo").toolset(), **demo_agent_options())
        for lang in ("zh", "en"):
            agent.cache_prefix(lang)


def run_set(models: dict[str, Any], datasets: dict[str, list[Any]], cache: dict[str, Any],
            factory: Any, tag: str, cached_only: frozenset[str] = frozenset(),
            cache_path: Path = CACHE) -> dict[str, dict[str, list[CaseResult]]]:
    per: dict[str, dict[str, list[CaseResult]]] = {c: {n: [] for n in datasets} for c in models}
    for name, cases in datasets.items():
        for i, case in enumerate(cases, 1):
            for config, model in models.items():
                key = cache_key(tag, config, f"{name}#{case.id}")
                if key in cache:
                    res = to_result(cache[key])
                elif config in cached_only:
                    continue  # this configuration ran on part of the set (the report says on how many)
                else:
                    res = run_case(case, model, "native", agent_factory=FACTORIES.get(config, factory))
                    append_cache(cache_path, key, res)
                    cache[key] = json.loads(json.dumps({"key": key, **res.__dict__}, default=str))
                    print(f"{config} {name} {i}/{len(cases)} {case.id}: {'ok' if res.correct else res.rule} "
                          f"{res.decision_s:.1f}s", file=sys.stderr, flush=True)
                per[config][name].append(res)
    return per


def paired(a: list[CaseResult], b: list[CaseResult]) -> dict[str, Any]:
    """McNemar on the cases both ran: how often b is right where a is wrong, and back."""
    theirs = {r.id: r for r in b}
    pairs = [(x, theirs[x.id]) for x in a if x.id in theirs]
    wins = sum(y.correct and not x.correct for x, y in pairs)
    losses = sum(x.correct and not y.correct for x, y in pairs)
    return {"n": len(pairs), "b_only": wins, "a_only": losses, "p": round(mcnemar_p(losses, wins), 4)}


def peft_check(name: str, cases: list[Any], gguf_results: list[CaseResult]) -> dict[str, Any]:
    """The vLLM export (a peft folder) loaded with transformers: same first decision?"""
    import torch
    from peft import PeftModel

    from kapibara.finetune.base import load_hf_base
    from kapibara.finetune.frame import agent_frame
    from kapibara.finetune.samples import Sample
    from kapibara.models import tuned
    from kapibara.models.toolcalls import parse_tool_calls

    record = tuned.get(name)
    base, tok = load_hf_base(record.base)
    model = PeftModel.from_pretrained(base, str(record.peft_dir)).eval()
    frame = agent_frame(profile=str(record.metadata.get("profile", "compact")))
    same, rows = 0, []
    t0 = time.perf_counter()
    for case, res in zip(cases, gguf_results, strict=False):
        sample = Sample(id=case.id, messages=[*case.messages, {"role": "assistant", "content": "x"}])
        prompt, _ = frame.render(sample)
        ids = torch.tensor([tok.encode(prompt, add_special_tokens=False)])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=80, do_sample=False)
        text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        calls = [(c.name, c.arguments) for c in parse_tool_calls(text).calls]
        theirs = [(c["name"], c["arguments"]) for c in res.calls] if res.calls else []
        agree = [n for n, _ in calls] == [n for n, _ in theirs]
        same += agree
        rows.append({"case": case.id, "peft": calls, "gguf": theirs, "same_tools": agree})
    return {"cases": len(rows), "same_tools": same, "wall_s": round(time.perf_counter() - t0, 1), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="runs/lora", help="the training run folder (adapter/, train.json)")
    ap.add_argument("--name", default="grocery-0.5b")
    ap.add_argument("--configs", default="0.5b,tuned,tuned-merged,1.5b")
    ap.add_argument("--bfcl", type=int, default=50, help="BFCL cases per set (0 = skip)")
    ap.add_argument("--peft-cases", type=int, default=10)
    ap.add_argument("--limit", type=int, help="domain cases per set (smoke runs)")
    ap.add_argument("--merged-limit", type=int, default=24,
                    help="test cases the merged GGUF runs (it should decide as the adapter does; 0 = all)")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument("--cached-only", default="", help="configurations that only report cases already cached")
    ap.add_argument("--out", default=str(RESULTS / "finetune"), help="results path without extension")
    ap.add_argument("--cache", default=str(CACHE), help="case results cache (JSONL); another file measures afresh")
    args = ap.parse_args()
    from kapibara.finetune.publish import publish
    from kapibara.models import tuned

    run = Path(args.run)
    train = json.loads((run / "train.json").read_text()) if (run / "train.json").exists() else {}
    export: dict[str, Any] = {}
    if not args.skip_export or not tuned.exists(args.name):
        t0 = time.perf_counter()
        record = publish(run, args.name, merge=True, metadata={
            "profile": "compact", "tools": [t["function"]["name"] for t in _demo_specs()],
            "train": train.get("result", {}), "data": train.get("config", {}).get("data")},
            progress=lambda line: print(line, file=sys.stderr, flush=True))
        export = {"wall_s": round(time.perf_counter() - t0, 1),
                  "adapter_mb": round(record.adapter_gguf.stat().st_size / 1e6, 1) if record.adapter_gguf else None,
                  "merged_mb": round(record.merged_gguf.stat().st_size / 1e6, 1) if record.merged_gguf else None,
                  "merged_quant": record.merged_gguf.stem.removeprefix("merged-") if record.merged_gguf else None}
    configs = [c for c in args.configs.split(",") if c]
    only = frozenset(c for c in args.cached_only.split(",") if c)
    models = load_models(args.name, [c for c in configs if c not in only])
    warm_prefixes(models)
    models.update({c: None for c in configs if c in only})
    cache = read_cache(Path(args.cache))
    domain = {n: load_dataset(n)[: args.limit] if args.limit else load_dataset(n) for n in DOMAIN}
    with_merged = "tuned-merged" in models  # None when --cached-only: reported from the cache
    merged = models.pop("tuned-merged", None)
    per = run_set(models, domain, cache, demo_factory, args.name, only, Path(args.cache))
    if with_merged:
        few = {"domain:test": domain["domain:test"][: args.merged_limit or None]}
        per.update(run_set({"tuned-merged": merged}, few, cache, demo_factory, args.name, only, Path(args.cache)))
        per["tuned-merged"]["domain:missing_test"] = []
    # The tuned model the targets are read on: base + adapter when it ran, else the merged
    # GGUF registered as --name (what `--model llamacpp:NAME` serves).
    subject = "tuned" if "tuned" in per else f"merged:{args.name}"
    general: dict[str, Any] = {}
    if args.bfcl:
        try:
            bfcl = {n: load_dataset(n)[: args.bfcl] for n in BFCL}
        except Exception as exc:  # the shared data is absent on this machine: say so in the report
            general = {"skipped": str(exc)}
        else:
            gm = {c: models[c] for c in ("0.5b", subject) if c in models}
            gper = run_set(gm, bfcl, cache, default_agent_factory, args.name, only, Path(args.cache))
            general = {c: {n: rates(rs) for n, rs in sets.items()} for c, sets in gper.items()}
            if "0.5b" in gper and subject in gper:
                general["paired"] = {n: paired(gper["0.5b"][n], gper[subject][n]) for n in BFCL}
    out: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine_info(),
                           "train": train, "export": export, "cached_only": sorted(only),
                           "domain": {c: {n: rates(rs) for n, rs in sets.items()} for c, sets in per.items()},
                           "general": general}
    test = {c: sets["domain:test"] for c, sets in per.items()}
    out["subject"] = subject
    out["paired"] = {f"{a} vs {b}": paired(test[a], test[b])
                     for a, b in (("0.5b", subject), ("1.5b", subject), ("tuned-norouter", "tuned"),
                                  ("tuned", "tuned-merged"),
                                  *((subject, c) for c in test if (c.startswith("merged:") or c == "tuned-copy")
                                    and c != subject))
                     if a in test and b in test}
    if subject in test:
        t = out["domain"][subject]["domain:test"]
        out["targets"] = {k: {"target": v, "got": t[k]["pct"], "verdict": verdict(v, t[k]["k"], t[k]["n"])}
                          for k, v in TARGETS.items() if t[k]["n"]}
        p50 = {c: statistics.median(r.decision_s for r in rs) for c, rs in test.items() if rs}
        out["latency_ratio"] = {f"{subject} / {c}": round(p50[subject] / p50[c], 2)
                                for c in p50 if c != subject and p50[c]}
        if p50.get("tuned-merged") and len(test["tuned-merged"]) == len(test["tuned"]):
            # the merged GGUF is what `--model llamacpp:NAME` serves: its ratios on the whole split
            out["latency_ratio"].update({f"tuned-merged / {c}": round(p50["tuned-merged"] / p50[c], 2)
                                         for c in ("0.5b", "1.5b") if p50.get(c)})
        for m in (c for c in p50 if (c.startswith("merged:") or c == "tuned-copy") and c != subject):
            out["latency_ratio"].update({f"{m} / {c}": round(p50[m] / p50[c], 2) for c in ("0.5b", "1.5b", "tuned-merged")
                                         if p50.get(c) and len(test[c]) == len(test[m])})
    if args.peft_cases and "tuned" in per:
        out["peft"] = peft_check(args.name, domain["domain:test"][: args.peft_cases], test["tuned"][: args.peft_cases])
    RESULTS.mkdir(parents=True, exist_ok=True)
    dest = Path(args.out)
    write_text(dest.with_suffix(".json"), json.dumps(out, ensure_ascii=False, indent=1, default=str))
    write_text(dest.with_suffix(".md"), markdown(out))
    print(markdown(out))


def _demo_specs() -> list[dict[str, Any]]:
    from kapibara.toolsets import toolset_entry

    return toolset_entry("demo").specs()


def markdown(out: dict[str, Any]) -> str:
    def cell(x: dict[str, Any]) -> str:
        return "–" if not x["n"] else f"{x['pct']}% ({x['k']}/{x['n']}, {x['ci'][0]}-{x['ci'][1]})"

    tr = out.get("train", {}).get("result", {})
    cfg = out.get("train", {}).get("config", {})
    lines = ["# The tuned 0.5B, measured (`bench/finetune.py`)", "",
             f"Measured {out['date']} on {out['machine']['processor']} ({out['machine']['cpus']} CPUs).", ""]
    if tr:
        lines += [f"**Training**: {tr.get('samples')} samples, {tr.get('steps')} steps, {tr.get('epochs')} epoch(s), "
                  f"rank {cfg.get('rank')} / alpha {cfg.get('alpha')} on {', '.join(cfg.get('targets', []))}; "
                  f"{tr.get('wall_s')} s wall on {tr.get('device')}, {tr.get('tokens_per_s')} tokens/s "
                  f"({tr.get('tokens')} tokens, {tr.get('target_tokens')} of them trained on); loss "
                  f"{tr['losses'][0] if tr.get('losses') else '-'} → {tr['losses'][-1] if tr.get('losses') else '-'}.", ""]
    if out.get("export"):
        e = out["export"]
        lines += [f"**Export**: GGUF adapter {e['adapter_mb']} MB, merged {e.get('merged_quant', 'Q4_K_M')} {e['merged_mb']} MB, "
                  f"{e['wall_s']} s for adapter + peft folder + merge + quantise.", ""]
    if out.get("cached_only"):
        lines += [f"Rows of {', '.join(out['cached_only'])} are read from the case cache, not run again here "
                  "(`--cached-only`): an earlier run of the same cases, same agent and machine.", ""]
    lines += ["## Domain test split", "",
              "| config | set | right tool | right call | no-call | all | decision p50 s |", "|---|---|---|---|---|---|---|"]
    for c, sets in out["domain"].items():
        for n, r in sets.items():
            lines.append(f"| {c} | {n} | {cell(r['tool'])} | {cell(r['call'])} | {cell(r['no_call'])} | "
                         f"{cell(r['all'])} | {r['p50_s']} |")
    if out.get("targets"):
        lines += ["", f"| target ({out.get('subject', 'tuned')}, test) | got | verdict |", "|---|---|---|"]
        lines += [f"| {k} >= {t['target']}% | {t['got']}% | {t['verdict']} |" for k, t in out["targets"].items()]
    if out.get("latency_ratio"):
        lines += ["", "Decision p50 ratios: " + ", ".join(f"{k} = {v}" for k, v in out["latency_ratio"].items()) + "."]
    if out.get("paired"):
        lines += ["", "Paired McNemar on the test split (a vs b: cases only b gets right / only a gets right, p): "
                  + "; ".join(f"{k} (n={v['n']}): {v['b_only']} / {v['a_only']}, p = {v['p']}" for k, v in out["paired"].items()) + "."]
    g = out.get("general") or {}
    lines += ["", "## General ability (BFCL)", ""]
    if "skipped" in g:
        lines.append(f"Not run: {g['skipped']}")
    elif g:
        lines += ["| config | set | right call | no-call | p50 s |", "|---|---|---|---|---|"]
        for c in (c for c in g if c != "paired"):
            for n, r in g[c].items():
                lines.append(f"| {c} | {n} | {cell(r['call'])} | {cell(r['no_call'])} | {r['p50_s']} |")
        if g.get("paired"):
            lines += ["", f"Paired (untuned vs {out.get('subject', 'tuned')}): " + "; ".join(
                f"{k}: tuned-only {v['b_only']}, untuned-only {v['a_only']}, p = {v['p']}" for k, v in g["paired"].items()) + "."]
    if out.get("peft"):
        p = out["peft"]
        lines += ["", f"**peft folder (vLLM export)** loaded with transformers + peft: the same tools as the GGUF "
                  f"adapter in {p['same_tools']}/{p['cases']} test cases ({p['wall_s']} s)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
