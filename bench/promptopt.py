"""kapibara's OPRO and APO on the prompt tasks the literature measures them on (LIAR, BBH),
with the bundled models: the 0.5B executes, the 1.5B teaches.

    nice -n 10 .venv/bin/python bench/promptopt.py [--runs liar:apo,navigate:opro] \
        [--train 100] [--test 100] [--budget 250]

Each run is ``kapibara.optimize.run.optimize`` (what ``kapibara optimize`` runs): the
strategy learns on part of the task's train split (a validation part held out of it), then
the winner and the starting prompt are scored on the first ``--test`` cases of the test
split, paired. Resumable: every scored case is logged in the run's ``scores.jsonl``.
Writes bench/results/promptopt/<task>-<strategy>/ (winner program, report, log) and
bench/results/promptopt.{md,json}: accuracy (and F1 on LIAR, as the APO paper reports),
Wilson intervals, McNemar p, the published gains for comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kapibara.evals.adapters import load_dataset
from kapibara.evals.results import machine_info
from kapibara.fileio import write_atomic
from kapibara.optimize.run import optimize
from kapibara.optimize.score import Scorer
from kapibara.optimize.tasks import label_of, start_program

RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = {
    "apo": "APO/ProTeGi (Pryzant et al. 2023, GPT-3.5 executor): up to +31% F1 over the initial prompt on LIAR-type tasks",
    "opro": "OPRO (Yang et al. 2023, PaLM 2-L / GPT-4 scorers): up to +8% GSM8K, up to +50% on BBH tasks over human prompts",
    "fewshot": "bootstrapped few-shot (DSPy-style): no single published anchor on these tasks",
}


def dataset(task: str, split: str) -> str:
    return f"liar:{split}" if task == "liar" else f"bbh:{task}:{split}"


def f1_yes(scorer: Scorer, program: Any, cases: list[Any]) -> float | None:
    """Binary F1 with "Yes" as the positive label (LIAR: the statement is a lie)."""
    labels = cases[0].meta.get("labels") or []
    if "Yes" not in labels:
        return None
    outcomes = scorer.outcomes(program, cases)
    pred = [label_of(o.text, labels) for o in outcomes]
    gold = [c.answer["target"] for c in cases]
    tp = sum(p == "Yes" and g == "Yes" for p, g in zip(pred, gold, strict=True))
    fp = sum(p == "Yes" and g != "Yes" for p, g in zip(pred, gold, strict=True))
    fn = sum(p != "Yes" and g == "Yes" for p, g in zip(pred, gold, strict=True))
    return round(100 * 2 * tp / (2 * tp + fp + fn), 1) if tp else 0.0


def answer_mix(scorer: Scorer, program: Any, cases: list[Any]) -> dict[str, int]:
    """How often each label was answered (a model that always says "No" shows here)."""
    labels = cases[0].meta.get("labels") or []
    out: dict[str, int] = {}
    for o in scorer.outcomes(program, cases):
        got = label_of(o.text, labels) or "(none)"
        out[got] = out.get(got, 0) + 1
    return out


def evaluations(folder: Path, test: list[Any]) -> int:
    """Case evaluations the strategy made on train/validation (all runs of this folder)."""
    ids = {c.id for c in test}
    rows = [json.loads(line) for line in (folder / "scores.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return sum(r["case_id"] not in ids for r in rows)


def all_answers(folder: Path, labels: list[str]) -> dict[str, Any]:
    """Every scored reply of the run, whatever the program: how many programs were tried
    and which labels came back (one label only: no instruction changed a prediction)."""
    rows = [json.loads(line) for line in (folder / "scores.jsonl").read_text(encoding="utf-8").splitlines() if line]
    seen: dict[str, int] = {}
    for r in rows:
        got = label_of(r["text"], labels) or "(none)"
        seen[got] = seen.get(got, 0) + 1
    return {"programs": len({r["program"] for r in rows}), "replies": len(rows), "labels": seen}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="liar:apo,navigate:opro", help="TASK:STRATEGY,...")
    ap.add_argument("--executor", default="qwen2.5-coder-0.5b")
    ap.add_argument("--teacher", default="qwen2.5-coder-1.5b")
    ap.add_argument("--train", type=int, default=100, help="training cases used (validation held out of them)")
    ap.add_argument("--test", type=int, default=100, help="test cases the winner and the start are compared on")
    ap.add_argument("--budget", type=int, default=250, help="most case evaluations on train/validation per run")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from kapibara.models.registry import load_configured

    executor = load_configured(args.executor)
    teacher = load_configured(args.teacher)
    out: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine_info(),
                           "executor": args.executor, "teacher": args.teacher, "runs": []}
    for run in args.runs.split(","):
        task, _, strategy = run.partition(":")
        train = load_dataset(dataset(task, "train"))[: args.train]
        test = load_dataset(dataset(task, "test"))[: args.test]
        folder = RESULTS / "promptopt" / f"{task}-{strategy}"
        print(f"== {task} {strategy}: {len(train)} train, {len(test)} test", file=sys.stderr, flush=True)
        report = optimize(strategy, start_program(task), train, test, executor, teacher=teacher, out=folder,
                          budget=args.budget, seed=args.seed, language="en",
                          echo=lambda line: print(line, file=sys.stderr, flush=True))
        from kapibara.optimize.program import Program

        winner = Program.load(folder / "program")
        scorer = Scorer(executor, log=folder / "scores.jsonl")  # every test case is cached: free
        out["runs"].append({
            "task": task, "strategy": strategy, "train": len(train), "test": len(test), "budget": args.budget,
            "start": report.start, "winner": report.winner, "p_value": report.p_value, "changed": report.changed,
            "spent": report.spent, "start_f1": f1_yes(scorer, start_program(task), test),
            "winner_f1": f1_yes(scorer, winner, test),
            "start_answers": answer_mix(scorer, start_program(task), test),
            "winner_answers": answer_mix(scorer, winner, test),
            "evaluations": evaluations(folder, test),
            "all_answers": all_answers(folder, list(test[0].meta.get("labels") or [])),
            "start_instruction": start_program(task).prompts["en"].role,
            "winner_instruction": "\n".join([winner.prompts["en"].role, *winner.prompts["en"].constraints]),
        })
    done = {(r["task"], r["strategy"]) for r in out["runs"]}
    if (RESULTS / "promptopt.json").is_file():  # runs made earlier (another --runs) are kept
        earlier = json.loads((RESULTS / "promptopt.json").read_text(encoding="utf-8"))
        out["runs"] = [r for r in earlier.get("runs", []) if (r["task"], r["strategy"]) not in done] + out["runs"]
    write_atomic(RESULTS / "promptopt.json", json.dumps(out, ensure_ascii=False, indent=1))
    write_atomic(RESULTS / "promptopt.md", render(out))
    print(render(out))


def render(out: dict[str, Any]) -> str:
    lines = [
        "# Prompt optimisation on LIAR and BBH (bench/promptopt.py)",
        "",
        f"{out['date']}; executor {out['executor']}, teacher {out['teacher']}; {out['machine'].get('processor', '')} "
        f"({out['machine'].get('cpus', '?')} CPUs). Evaluations: scored train/validation cases (the budget's unit).",
        "",
        "| task | strategy | start acc | winner acc | start F1 | winner F1 | answers (start -> winner) | McNemar p | n test | evaluations |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["runs"]:
        s, w = r["start"], r["winner"]

        def acc(d: dict[str, Any]) -> str:
            return f"{d['accuracy']:.1f}% ({d['ci'][0]:.0f}-{d['ci'][1]:.0f})"

        def mix(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(d.items()))

        def f1(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        lines.append(f"| {r['task']} | {r['strategy']} | {acc(s)} | {acc(w)} | {f1(r['start_f1'])} | {f1(r['winner_f1'])} "
                     f"| {mix(r['start_answers'])} -> {mix(r['winner_answers'])} | {r['p_value']:.3g} | {r['test']} | {r['evaluations']} |")
    lines += ["", "Every reply scored in each run, over all the instructions tried:", ""]
    for r in out["runs"]:
        a = r["all_answers"]
        labels = ", ".join(f"{k} {v}" for k, v in sorted(a["labels"].items()))
        lines.append(f"- {r['task']} / {r['strategy']}: {a['programs']} instructions, {a['replies']} replies: {labels}"
                     + (" - the executor gave the same label whatever the instruction, so no instruction can "
                        "change its accuracy" if len(a["labels"]) == 1 else ""))
    lines += ["", "Instructions (start -> winner):", ""]
    for r in out["runs"]:
        lines += [f"- **{r['task']} / {r['strategy']}**: \"{r['start_instruction']}\" -> "
                  f"\"{' / '.join(r['winner_instruction'].splitlines())}\""
                  + ("" if r["changed"] else " (kept the start: no candidate beat it on validation)")]
    lines += ["", "Published, for comparison (large models as executor and optimiser):", ""]
    lines += [f"- {PUBLISHED[s]}" for s in sorted({r['strategy'] for r in out['runs']})]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
