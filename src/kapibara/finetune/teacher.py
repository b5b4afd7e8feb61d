"""Self-instruct: a teacher model writes new shopper requests for the demo domain.

Every request is generated from a known target: a catalog-filled template gives the call
(``recommend_products(category="咖啡", max_price=60)``) and an example sentence; the
teacher rewrites the sentence N ways and each rewrite inherits the call. A rewrite is kept
only when it names every value of the call (checked in the text, fuzzily for the typo
style), is in the asked language, and the call runs on the real tools and passes the
relevance checks. Requests that need no tool and requests that leave a required value out
are asked for by kind; a rewrite that names a catalog product, category or city is dropped
(it would need a tool). Then MinHash dedupe and test-split leakage removal, as for the
built set. Teacher answers are cached per prompt in a JSONL file, so a run resumes.

    from kapibara.finetune.teacher import generate
    samples, report = generate(load_model("llamacpp:qwen2.5-coder-1.5b"), n=150, cache="cache.jsonl")

Prompt texts: ``prompts/templates/finetune_teacher.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from kapibara.demo.source import load_source
from kapibara.errors import DataError
from kapibara.finetune.dataset import (
    SEED,
    Builder,
    BuildReport,
    _slot_names,
    ask_missing_reply,
    dedupe,
    fill,
    fill_args,
    load_templates,
    pick_reply,
    remove_leaks,
    split_user_messages,
)
from kapibara.finetune.samples import Sample, call_message, reply_message, sample_id
from kapibara.models.base import Model, ToolCall
from kapibara.optimize.base import ask_teacher
from kapibara.prompts import render_template
from kapibara.prompts.loader import detect_language

STYLES = ("plain", "colloquial", "typo", "polite", "short")
PER_PROMPT = 5
#: Shares of the prompts: rewrites of known calls, no-tool requests, missing values.
MIX = (("call", 0.7), ("no_tool", 0.15), ("missing", 0.15))
_ZH_DIGITS = "零一二三四五六七八九十"
_EN_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


@dataclass
class Task:
    """One teacher prompt and what its answers will be labelled with."""

    kind: str  # call | no_tool | missing
    lang: str
    category: str
    style: str
    prompt: str
    call: ToolCall | None = None
    must: list[str] = field(default_factory=list)
    reply_kind: str = ""
    tool: str = ""
    param: str = ""

    @property
    def key(self) -> str:
        return hashlib.sha1(self.prompt.encode()).hexdigest()[:16]


@dataclass
class GenerateReport:
    prompts: int = 0
    cached: int = 0
    lines: int = 0
    accepted: int = 0
    out_of_time: bool = False
    rejected: Counter[str] = field(default_factory=Counter)
    build: BuildReport = field(default_factory=BuildReport)

    def summary(self) -> str:
        b = self.build
        kept = sum(b.kept.values())
        return (f"{self.prompts} prompts ({self.cached} cached), {self.lines} lines written, {self.accepted} passed "
                f"the checks; after dedupe ({sum(b.exact_duplicates.values())} exact, "
                f"{sum(b.near_duplicates.values())} near) and test-split leakage ({sum(b.leaked.values())} removed, "
                f"{b.leaks_remaining} remaining): {kept} kept\n  rejected: "
                + ", ".join(f"{k} {v}" for k, v in self.rejected.most_common()))

    def to_dict(self) -> dict[str, Any]:
        return {"prompts": self.prompts, "cached": self.cached, "out_of_time": self.out_of_time, "lines": self.lines, "accepted": self.accepted,
                "rejected": dict(self.rejected), "build": self.build.to_dict()}


class TeacherCache:
    """Teacher answers by prompt key, appended as JSONL lines (a torn last line is ignored)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.rows: dict[str, str] = {}
        if self.path and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interrupted run
                if isinstance(row, dict) and "key" in row and "output" in row:
                    self.rows[row["key"]] = str(row["output"])

    def get(self, key: str) -> str | None:
        return self.rows.get(key)

    def put(self, key: str, prompt: str, output: str) -> None:
        self.rows[key] = output
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "prompt": prompt, "output": output}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


# -- planning ------------------------------------------------------------------------------
def _number_forms(value: float, lang: str) -> list[str]:
    n = int(value)
    forms = [str(n)] if n == value else [str(value)]
    if n == value and 0 < n <= 10:
        forms += [_ZH_DIGITS[n], "两" if n == 2 else _ZH_DIGITS[n]] if lang == "zh" else [_EN_NUMBERS[n]]
    return forms


def _must(call: ToolCall, example: str, lang: str) -> list[str]:
    """The values a rewrite has to name, as they are written in the example."""
    out = []
    for key, value in call.arguments.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                if key == "limit" and str(v) not in example and not any(f in example for f in _number_forms(v, lang)):
                    continue
                out.append(next((f for f in _number_forms(v, lang) if f in example), str(v)))
            elif isinstance(v, str) and v and v.lower() in example.lower():
                out.append(v)
    return out


class Planner:
    """Deterministic teacher tasks from the catalog templates (same seed, same prompts)."""

    def __init__(self, templates: dict[str, Any] | None = None, seed: int = SEED, per_prompt: int = PER_PROMPT) -> None:
        self.t = templates or load_templates()
        self.rng = random.Random(seed)
        self.builder = Builder(self.t, seed=seed)
        self.per_prompt = per_prompt

    def task(self) -> Task | None:
        r = self.rng.random()
        kind = "call" if r < MIX[0][1] else "no_tool" if r < MIX[0][1] + MIX[1][1] else "missing"
        return getattr(self, f"_{kind}")()

    def _call(self) -> Task | None:
        category = self.rng.choice(sorted(self.t["categories"]))
        tpl = self.rng.choice(self.t["categories"][category])
        slots = self.builder._slots.fill(tpl["lang"], need=_slot_names(tpl))
        if slots is None:
            return None
        example = fill(tpl["text"], slots)
        call = ToolCall(tpl["tool"], fill_args(tpl.get("args") or {}, slots))
        style = "typo" if tpl.get("style") == "typo" else self.rng.choice(STYLES)
        must = _must(call, example, tpl["lang"])
        prompt = render_template("finetune_teacher_call", tpl["lang"], n=self.per_prompt, example=example,
                                 must=must, style=style)
        return Task("call", tpl["lang"], category, style, prompt, call=call, must=must)

    def _no_tool(self) -> Task | None:
        group = self.rng.choice(self.t.get("no_call") or [])
        examples = self.rng.sample(group["texts"], min(3, len(group["texts"])))
        prompt = render_template("finetune_teacher_no_tool", group["lang"], n=self.per_prompt, kind=group["kind"],
                                 examples=examples)
        return Task("no_tool", group["lang"], "no_call", group["kind"], prompt, reply_kind=group["kind"])

    def _missing(self) -> Task | None:
        group = self.rng.choice(self.t.get("missing") or [])
        slots = self.builder._slots.fill(group["lang"], need=_slot_names(group["texts"]))
        if slots is None:
            return None
        examples = [fill(x, slots) for x in group["texts"]]
        what = (self.t.get("labels", {}).get(group["param"]) or {}).get(group["lang"], group["param"])
        prompt = render_template("finetune_teacher_missing", group["lang"], n=self.per_prompt, examples=examples,
                                 action=render_template("finetune_teacher_action", group["lang"], tool=group["tool"]),
                                 what=what)
        return Task("missing", group["lang"], "missing_arg", "missing", prompt, tool=group["tool"], param=group["param"])


# -- checking ------------------------------------------------------------------------------
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.、):）]|[（(]\d+[)）])\s*")


def parse_lines(text: str) -> list[str]:
    """The teacher's messages: one per line, numbering, bullets and quotes stripped."""
    out = []
    # Small teachers copy the prompt's "a / b / c" example layout; each part is a message.
    for raw in (part for row in text.splitlines() for part in row.split(" / ")):
        line = _BULLET.sub("", raw).strip().strip("\"'“”‘’「」`").strip()
        if line and line not in out:
            out.append(line)
    return out


def _loose(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text.lower())


class Checker:
    """Whether a teacher line fits its task; the reason it does not, otherwise."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        c = builder.catalog
        src = load_source()
        words = {p.name_zh for p in c.products} | {p.name_en.lower() for p in c.products}
        words |= {x.name_zh for x in c.cities} | {x.name_en.lower() for x in c.cities}
        for k in src.kinds:
            words |= {k.zh, *[s for s in k.synonyms if not s.isascii()]}
        for cat in src.categories:
            words |= {cat.zh, *[s for s in cat.synonyms if not s.isascii()]}
        words |= {r.name_zh for r in c.all_recipes()}
        self.domain_words = sorted((w for w in words if len(w) >= 2), key=len, reverse=True)

    def names_domain_value(self, text: str) -> str | None:
        low = text.lower()
        return next((w for w in self.domain_words if w in low), None)

    def check(self, task: Task, line: str) -> str | None:
        if not 2 <= len(line) <= (60 if task.lang == "zh" else 160):
            return "length"
        if detect_language(line) != task.lang:
            return "language"
        if task.kind in ("no_tool", "missing"):
            hit = self.names_domain_value(line)
            return f"{task.kind}: names a domain value" if hit else None
        text = _loose(line)
        for value in task.must:
            v = _loose(value)
            if v in text:
                continue
            # Names may be written loosely ("厄瓜多尔的白虾" for 厄瓜多尔白虾), with a typo when
            # asked for one; short values and numbers must be there as they are.
            floor = 75 if task.style == "typo" else 80
            if len(v) < 4 or v.isdigit() or fuzz.partial_ratio(v, text) < floor:
                return "call: a value left out"
        return None


def sample_for(task: Task, line: str, builder: Builder, source: str) -> Sample:
    user = {"role": "user", "content": line}
    if task.kind == "call" and task.call is not None:
        target = call_message([task.call])
    elif task.kind == "missing":
        target = reply_message(ask_missing_reply(task.tool, task.param, task.lang, builder.t.get("labels", {})))
    else:
        target = reply_message(pick_reply(task.reply_kind, task.lang, builder.t["replies"], builder.rng))
    messages = [user, target]
    return Sample(sample_id("teacher", messages), messages, builder.tools, f"{source}:{task.kind}:{task.style}",
                  task.category)


Progress = Callable[[int, int, int], None]
"""Called after each prompt: (prompts done, most prompts, samples accepted so far)."""


def generate(
    teacher: Model,
    n: int,
    *,
    name: str = "teacher",
    cache: str | Path | None = None,
    seed: int = SEED,
    per_prompt: int = PER_PROMPT,
    max_prompts: int | None = None,
    progress: Progress | None = None,
    temperature: float = 0.8,
    time_budget_s: float | None = None,
) -> tuple[list[Sample], GenerateReport]:
    """Ask ``teacher`` for requests until ``n`` pass the checks, ``max_prompts`` ran or
    ``time_budget_s`` is spent (a rerun with the same cache and seed carries on)."""
    if n < 1:
        raise DataError("n must be at least 1", hint="pass --n 100")
    planner = Planner(seed=seed, per_prompt=per_prompt)
    checker = Checker(planner.builder)
    store = TeacherCache(cache)
    report = GenerateReport()
    limit = max_prompts if max_prompts is not None else max(4, 3 * n // per_prompt + 4)
    accepted: list[Sample] = []
    seen: set[str] = set()
    source = f"teacher:{name}"
    start = time.monotonic()
    for i in range(limit):
        if len(accepted) >= n:
            break
        if time_budget_s is not None and time.monotonic() - start > time_budget_s:
            report.out_of_time = True
            break
        task = planner.task()
        if task is None:
            continue
        report.prompts += 1
        output = store.get(task.key)
        if output is None:
            output = ask_teacher(teacher, task.prompt, seed=seed * 100_000 + i, temperature=temperature,
                                 max_tokens=60 * per_prompt)
            store.put(task.key, task.prompt, output)
        else:
            report.cached += 1
        for line in parse_lines(output)[: per_prompt + 2]:
            report.lines += 1
            why = checker.check(task, line)
            if why is None and _loose(line) in seen:
                why = "repeated"
            if why is None:
                s = sample_for(task, line, planner.builder, source)
                verdict = planner.builder.verifier.verify(s) if s.target_calls else None
                if verdict is not None and not verdict.ok:
                    why = f"call fails on the tools: {verdict.reason.split(':')[0]}"
                else:
                    seen.add(_loose(line))
                    accepted.append(s)
                    report.accepted += 1
                    report.build.generated["teacher"] += 1
                    if s.target_calls:
                        report.build.verified["teacher"] += 1
            if why is not None:
                report.rejected[why] += 1
        if progress:
            progress(i + 1, limit, len(accepted))
    kept = remove_leaks(dedupe(accepted, report.build), report.build, split_user_messages())
    for s in kept:
        report.build.kept["teacher"] += 1
        report.build.categories[s.category] += 1
    return kept, report
