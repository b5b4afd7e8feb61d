"""The whole improvement loop in one resumable run: ``kapibara improve``.

    eval (dev: the bad cases) → data (training set, bad cases weighted up) → LoRA →
    export (GGUF adapter, merged GGUF, peft folder; registered by name) → eval (test,
    before and after) → one report

Every stage writes its output into the run folder and is marked done in ``state.json``;
running the same command again skips what is done (a killed training resumes from its
last checkpoint). The report ``improve.md`` compares the untuned and the tuned model per
category on the test split, with decision latency, training time and the data counts.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kapibara.errors import ConfigError
from kapibara.fileio import write_atomic

STAGES = ("baseline", "data", "train", "export", "evaluate", "report")
Say = Callable[[str], None]


@dataclass
class ImproveOptions:
    run: str = "runs/improve"
    name: str = "grocery-0.5b"
    base: str = "qwen2.5-coder-0.5b"
    limit: int | None = None          # cases per eval set (a quick look); None = all
    max_samples: int = 420
    epochs: float = 1.0
    bad_case_weight: int = 2          # a dev case the base model got wrong is trained on this many times
    merge: bool = True
    device: str = "auto"

    def key(self) -> dict[str, Any]:
        return asdict(self)


class Improve:
    """One run folder; ``run()`` does the stages not done yet."""

    def __init__(self, options: ImproveOptions, say: Say | None = None,
                 train_progress: Callable[[int, int, float, float], None] | None = None,
                 eval_progress: Callable[[str, int, int], None] | None = None) -> None:
        self.o = options
        self.dir = Path(options.run)
        self.say = say or (lambda _m: None)
        self.train_progress = train_progress
        self.eval_progress = eval_progress
        self.state_path = self.dir / "state.json"

    # -- state ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        if self.state_path.is_file():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("options") != self.o.key():
                raise ConfigError(f"{self.dir} holds a run with other options",
                                  hint="use the same options to resume, or another --run folder")
            return state
        return {"options": self.o.key(), "done": {}}

    def _mark(self, state: dict[str, Any], stage: str, info: dict[str, Any]) -> None:
        state["done"][stage] = info
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self.state_path, json.dumps(state, ensure_ascii=False, indent=1))

    def run(self) -> dict[str, Any]:
        state = self.state()
        for stage in STAGES:
            if stage in state["done"]:
                self.say(f"{stage}: done already")
                continue
            self.say(f"{stage} …")
            t0 = time.perf_counter()
            info = getattr(self, f"_{stage}")(state)
            info["wall_s"] = round(time.perf_counter() - t0, 1)
            self._mark(state, stage, info)
        return state

    # -- stages ----------------------------------------------------------------------------

    def _eval(self, dataset: str, spec: str, tag: str) -> Any:
        import kapibara.demo  # noqa: F401 - registers the "demo" tool set
        from kapibara.evals.adapters import load_dataset
        from kapibara.evals.runner import run_eval
        from kapibara.models.registry import load_configured

        cases = load_dataset(dataset)
        model = load_configured(spec)
        report = self.eval_progress

        def progress(done: int, total: int) -> None:
            if report is not None:
                report(tag, done, total)

        run = run_eval(cases, model, limit=self.o.limit, dataset=dataset, progress=progress)
        run.save(self.dir / f"{tag}.json")
        return run

    def _baseline(self, state: dict[str, Any]) -> dict[str, Any]:
        dev = self._eval("domain:dev", f"llamacpp:{self.o.base}", "before-dev")
        test = self._eval("domain:test", f"llamacpp:{self.o.base}", "before-test")
        bad = [r.id for r in dev.results if not r.correct]
        return {"bad_dev_cases": bad, "dev_cases": len(dev.results), "test_cases": len(test.results)}

    def _data(self, state: dict[str, Any]) -> dict[str, Any]:
        from kapibara.finetune.dataset import build_with_report, source_kind
        from kapibara.finetune.lora import TrainConfig
        from kapibara.finetune.samples import pick_samples, save_samples

        samples, report = build_with_report()
        bad = set(state["done"]["baseline"]["bad_dev_cases"])
        rng = random.Random(0)
        weighted = [s for s in samples if source_kind(s.source) == "dev" and s.source.split(":", 1)[1] in bad]
        picked = pick_samples(samples, self.o.max_samples, rng, TrainConfig.reply_share)
        ids = {s.id for s in picked}
        # the cases the base model got wrong are always in, and weighted up
        extra = [s for s in weighted if s.id not in ids] + weighted * (self.o.bad_case_weight - 1)
        data = picked + extra
        rng.shuffle(data)
        save_samples(self.dir / "data.jsonl", data)
        return {"samples": len(data), "built": len(samples), "bad_case_samples": len(weighted),
                "report": report.to_dict()}

    def _train(self, state: dict[str, Any]) -> dict[str, Any]:
        from kapibara.finetune.lora import TrainConfig, train

        samples = state["done"]["data"]["samples"]
        config = TrainConfig(data=str(self.dir / "data.jsonl"), out=str(self.dir / "lora"), base=self.o.base,
                             epochs=self.o.epochs, max_samples=samples, device=self.o.device)
        result = train(config, resume=True, progress=self.train_progress, log=self.say)
        return result.to_dict()

    def _export(self, state: dict[str, Any]) -> dict[str, Any]:
        from kapibara.finetune.lora import run_metadata
        from kapibara.finetune.publish import publish

        record = publish(self.dir / "lora", self.o.name, base=self.o.base, merge=self.o.merge,
                         metadata=run_metadata(self.dir / "lora"), progress=self.say)
        return {"name": record.name, "adapter_gguf": str(record.adapter_gguf),
                "merged_gguf": str(record.merged_gguf) if record.merged_gguf else None}

    def _evaluate(self, state: dict[str, Any]) -> dict[str, Any]:
        run = self._eval("domain:test", f"llamacpp:{self.o.name}", "after-test")
        return {"test_cases": len(run.results)}

    def _report(self, state: dict[str, Any]) -> dict[str, Any]:
        from kapibara.evals.results import EvalRun

        before = EvalRun.load(self.dir / "before-test.json")
        after = EvalRun.load(self.dir / "after-test.json")
        text = report_markdown(before, after, state)
        write_atomic(self.dir / "improve.md", text)
        return {"report": str(self.dir / "improve.md")}


def report_markdown(before: Any, after: Any, state: dict[str, Any]) -> str:
    """Before/after per category on the test split, latency, training time, data counts."""
    from kapibara.evals.compare import mcnemar_p
    from kapibara.evals.results import summarize

    b, a = summarize(before), summarize(after)

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{x:.1f}%"

    done = state["done"]
    lines = [f"# kapibara improve: {state['options']['base']} → {state['options']['name']}", "",
             "Domain **test** split; the tuned model gets its compact prompt (role line and tool signatures).", "",
             "| category | n | right call before | after | right tool before | after | decision p50 s before | after |",
             "|---|---|---|---|---|---|---|---|"]
    for cat in sorted(set(b) | set(a), key=lambda c: (c == "all", c)):
        x, y = b.get(cat, {}), a.get(cat, {})
        lines.append(f"| {cat} | {y.get('n', x.get('n', 0))} | {pct(x.get('accuracy'))} | {pct(y.get('accuracy'))} | "
                     f"{pct(x.get('tool_acc'))} | {pct(y.get('tool_acc'))} | {x.get('p50_s', '–')} | {y.get('p50_s', '–')} |")
    pairs = {r.id: r.correct for r in before.results}
    wins = sum(r.correct and not pairs.get(r.id, False) for r in after.results)
    losses = sum(not r.correct and pairs.get(r.id, False) for r in after.results)
    train = done.get("train", {})
    data = done.get("data", {})
    lines += ["", f"Paired McNemar (after vs before): {wins} cases fixed, {losses} broken, "
              f"p = {mcnemar_p(losses, wins):.3g}.", "",
              f"Data: {data.get('samples')} training samples ({data.get('built')} built, "
              f"{data.get('bad_case_samples')} from dev cases the base model got wrong, weighted up); "
              f"bad dev cases: {len(done.get('baseline', {}).get('bad_dev_cases', []))} of "
              f"{done.get('baseline', {}).get('dev_cases')}.",
              f"Training: {train.get('steps')} steps, {train.get('wall_s')} s on {train.get('device')}, "
              f"{train.get('tokens_per_s')} tokens/s.",
              "Stage times (s): " + ", ".join(f"{k} {v.get('wall_s')}" for k, v in done.items()) + "."]
    return "\n".join(lines) + "\n"
