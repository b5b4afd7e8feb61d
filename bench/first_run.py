"""The first answer of a new process, measured: ``kapibara run`` on five demo questions,
the answer prompt as it was (``plain``) against the cached layout (``cached``).

    flock /tmp/kapibara_cpu.lock .venv/bin/python bench/first_run.py [--rounds 3]

Every run is a fresh ``kapibara run --json`` process (model already pulled, prefix states
already on disk: one unmeasured warm-up run per language and mode writes them). Rounds
alternate which mode goes first, so load drifts affect both alike. The stages come from
the run's trace (``run_start`` .. ``run_end`` timestamps, the decision's and the answer
call's own timings) and the wall clock around the process: ``startup`` is launch to
``run_start`` (imports, model load, router, prefix check), ``exit`` is ``run_end`` to the
process's end. The answer is checked against the tool results: facts no tool returned
(the demo's grounding), the listed products it names, and figures attached to the wrong
product (a number next to one product's name that only another product has).

Writes bench/results/first_run.json and first_run.md. The issue's target: the headphones
question under 15 s wall on the 0.5B.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kapibara.demo.grounding import demo_grounding
from kapibara.evals.results import machine_info
from kapibara.fileio import write_atomic
from kapibara.memory import open_store
from kapibara.prompts.loader import detect_language

RESULTS = Path(__file__).resolve().parent / "results"
KAPIBARA = Path(sys.executable).with_name("kapibara")
QUESTIONS = [
    "Can you suggest some headphones for running?",
    "我想买一款拍照好的手机，有推荐吗？",
    "How big is the screen of the HUAWEI Mate 60 Pro?",
    "北京明天天气怎么样？",
    "推荐耳机",
]
MODES = ("plain", "cached", "direct")
#: what each mode sets: the answer layout, and whether tools answer with their own rendering
MODE_ENV = {"plain": {"KAPIBARA_ANSWER_PROMPT": "plain", "KAPIBARA_DIRECT_ANSWERS": "false"},
            "cached": {"KAPIBARA_ANSWER_PROMPT": "cached", "KAPIBARA_DIRECT_ANSWERS": "false"},
            "direct": {"KAPIBARA_ANSWER_PROMPT": "plain", "KAPIBARA_DIRECT_ANSWERS": "true"}}
TARGET_S = 15.0
STAGES = ("startup_s", "decision_s", "tools_s", "answer_prefill_s", "answer_decode_s", "exit_s", "wall_s")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SCALE = re.compile(r"/\s*(?:5|10|100)\b")
_LIST_MARK = re.compile(r"^\s*\d+[.、)]\s*", re.M)


def run_once(question: str, mode: str, db: Path, model: str) -> dict[str, Any]:
    """One ``kapibara run`` process; its stages, answer and answer checks."""
    env = {**os.environ, "KAPIBARA_SESSION_DB": str(db), "KAPIBARA_MODEL": model, **MODE_ENV[mode]}
    launch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run([str(KAPIBARA), "run", "--json", question], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    wall = time.perf_counter() - t0
    end = launch + wall
    if proc.returncode != 0:
        raise SystemExit(f"kapibara run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    store = open_store(str(db))
    try:
        records = store.traces(out["session_id"])
    finally:
        store.close()
    start = next(r for r in records if r["type"] == "run_start")
    finish = next(r for r in records if r["type"] == "run_end")
    answer_calls = [r for r in records if r["type"] == "model_call" and r.get("rung") == "answer_from_observations"]
    usage = answer_calls[-1]["usage"] if answer_calls else {}
    outputs = [str(r.get("output") or "") for r in records if r["type"] == "tool_call"]
    row: dict[str, Any] = {
        "question": question, "mode": mode, "answer": out["answer"],
        "tool_calls": out["tool_calls"],
        "startup_s": start["ts"] - launch,
        "decision_s": sum(r["decision_s"] for r in records if r["type"] == "decision"),
        "tools_s": sum(r.get("duration_s") or 0.0 for r in records if r["type"] == "tool_call"),
        "answer_prefill_s": usage.get("ttft_s", 0.0),
        "answer_decode_s": usage.get("total_s", 0.0) - usage.get("ttft_s", 0.0),
        "answer_prompt_tokens": usage.get("prompt_tokens", 0),
        "answer_cached_tokens": usage.get("cached_prompt_tokens", 0),
        "answer_tokens": usage.get("completion_tokens", 0),
        "exit_s": end - finish["ts"],
        "wall_s": wall,
    }
    row.update(check_answer(question, out["answer"], outputs))
    return row


def check_answer(question: str, answer: str, outputs: list[str]) -> dict[str, Any]:
    """What the answer gets right or wrong against the tool results it was given."""
    evidence = "\n".join([question, *outputs])
    items: list[dict[str, Any]] = []
    for text in outputs:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and isinstance(value.get("items"), list):
            items += [i for i in value["items"] if isinstance(i, dict)]
    names = [[n for n in (i.get("name"), i.get("name_en")) if n] for i in items]
    named = [ns[0] for ns in names if any(n.lower() in answer.lower() for n in ns)]
    return {"unsupported": demo_grounding().unsupported(answer, evidence), "items": len(items),
            "named": named, "misattributed": misattributed(answer, items)}


def misattributed(answer: str, items: list[dict[str, Any]]) -> list[str]:
    """Figures stated next to one product that only another product of the results has.

    The answer is read line by line (sentence by sentence within a line); a segment that
    names exactly one product is checked: each of its numbers must occur in that product's
    own fields when it occurs in another product's.
    """
    texts = [json.dumps(i, ensure_ascii=False) for i in items]
    labels = [[str(n).lower() for n in (i.get("name"), i.get("name_en")) if n] for i in items]
    wrong: list[str] = []
    for line in _LIST_MARK.sub("", answer).splitlines():
        for segment in re.split(r"(?<=[。！？!?])\s*|(?<=\.)\s+", line):
            low = segment.lower()
            hit = [k for k, ls in enumerate(labels) if any(label in low for label in ls)]
            if len(hit) != 1:
                continue
            own = texts[hit[0]]
            for label in labels[hit[0]]:
                low = low.replace(label, " ")  # digits inside the product's own name
            low = _SCALE.sub(" ", low)  # "rated 4.8/5": the 5 is the scale, not a figure
            for number in _NUMBER.findall(low):
                elsewhere = any(number in t for k, t in enumerate(texts) if k != hit[0])
                if number not in own and elsewhere and number not in wrong:
                    wrong.append(f"{number} ({labels[hit[0]][-1]})")
    return wrong


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for question in QUESTIONS:
        for mode in MODES:
            mine = [r for r in rows if r["question"] == question and r["mode"] == mode]
            if not mine:
                continue
            stages = {s: statistics.median(r[s] for r in mine) for s in STAGES}
            out.setdefault(question, {})[mode] = {
                "runs": len(mine), "p50": stages, "walls": [round(r["wall_s"], 2) for r in mine],
                "answer_tokens_p50": statistics.median(r["answer_tokens"] for r in mine),
                "answer_prompt_tokens": mine[0]["answer_prompt_tokens"],
                "answer_cached_tokens_p50": statistics.median(r["answer_cached_tokens"] for r in mine),
                "unsupported": sum(bool(r["unsupported"]) for r in mine),
                "misattributed": sum(bool(r["misattributed"]) for r in mine),
                "named_p50": statistics.median(len(r["named"]) for r in mine),
                "items": mine[0]["items"],
            }
    return out


def write_report(rows: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    summary = summarise(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "summary": summary, "runs": rows}
    write_atomic(RESULTS / "first_run.json", json.dumps(payload, ensure_ascii=False, indent=1) + "\n")
    lines = [
        "# First answer of a new process (`kapibara run`)",
        "",
        f"{meta['date']} · model `{meta['model']}` · {meta['rounds']} rounds, modes alternating · "
        f"load average before/after: {meta['load_before']} / {meta['load_after']}",
        "",
        "`plain`: the answer prompt as before (question, then the tool results as JSON, one uncached user "
        "message). `cached`: the answering instructions in the system message, whose state is saved on disk "
        "(only the results and the question are prefilled), the results as one line per item. "
        "`direct` (the default since it was measured): a tool that renders its own result "
        "(`Tool.direct_answer`; the demo's `recommend_products`) answers the turn, other answers as `plain`. "
        "`plain` and `cached` run with direct answers off. p50 seconds per stage; wall is the whole process.",
        "",
        *([meta["note"], ""] if meta.get("note") else []),
        "| question | mode | startup | decision | tools | answer prefill | answer decode | exit | **wall p50** "
        "| walls | answer prompt / cached / out tokens | unsupported | misattributed | products named |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for question, modes in summary.items():
        for mode, s in modes.items():
            p = s["p50"]
            lines.append(
                f"| {question} | {mode} | {p['startup_s']:.1f} | {p['decision_s']:.1f} | {p['tools_s']:.2f} | "
                f"{p['answer_prefill_s']:.1f} | {p['answer_decode_s']:.1f} | {p['exit_s']:.1f} | "
                f"**{p['wall_s']:.1f}** | {', '.join(str(w) for w in s['walls'])} | "
                f"{s['answer_prompt_tokens']} / {s['answer_cached_tokens_p50']:.0f} / {s['answer_tokens_p50']:.0f} | "
                f"{s['unsupported']}/{s['runs']} | {s['misattributed']}/{s['runs']} | "
                f"{s['named_p50']:.0f}/{s['items']} |")
    head = summary.get(QUESTIONS[0], {})
    best = next((m for m in ("direct", "cached") if m in head), None)
    if best is not None:
        wall = head[best]["p50"]["wall_s"]
        verdict = "met" if wall < TARGET_S else "not met"
        before = head.get("plain", {}).get("p50", {}).get("wall_s")
        lines += ["", f"Target (headphones question under {TARGET_S:.0f} s wall): **{verdict}**, "
                      f"{best} p50 {wall:.1f} s (plain: {before:.1f} s)." if before is not None else ""]
    lines += ["", "## Answers (last round)", ""]
    last = {(r["question"], r["mode"]): r for r in rows}
    for (question, mode), r in last.items():
        answer = " ".join(r["answer"].split())
        lines.append(f"- **{question}** · {mode} · unsupported {r['unsupported']} · misattributed "
                     f"{r['misattributed']} · {answer}")
    write_atomic(RESULTS / "first_run.md", "\n".join(lines) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="llamacpp:qwen2.5-coder-0.5b")
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="the first N questions only")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    args = parser.parse_args()
    modes = tuple(m for m in args.modes.split(",") if m)
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    questions = QUESTIONS[: args.questions]
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "model": args.model, "rounds": args.rounds,
            "questions": questions, "modes": modes, "machine": machine_info(), "load_before": round(os.getloadavg()[0], 2)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kapibara-first-run-") as tmp:
        db = Path(tmp) / "sessions.db"
        # One unmeasured run per language and mode writes the prefix states (decision and
        # answer) that a pulled model's first run writes.
        for question in {detect_language(q): q for q in reversed(questions)}.values():
            for mode in modes:
                run_once(question, mode, db, args.model)
        for n in range(args.rounds):
            for question in questions:
                for mode in (modes if n % 2 == 0 else modes[::-1]):
                    row = run_once(question, mode, db, args.model)
                    row["round"] = n + 1
                    rows.append(row)
                    print(f"round {n + 1} {mode:6s} {row['wall_s']:5.1f}s  {question}", flush=True)
    meta["load_after"] = round(os.getloadavg()[0], 2)
    summary = write_report(rows, meta)
    for question, modes in summary.items():
        print(question, {m: round(s["p50"]["wall_s"], 1) for m, s in modes.items()})


if __name__ == "__main__":
    main()
