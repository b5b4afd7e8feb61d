"""The domain training set: the dev split, the example bank, catalog-grounded templates
and (optionally) teacher-written requests, every call target run against the real tools.

    from kapibara.finetune.dataset import build_training_set

    samples, report = build_with_report(teacher=load_samples("teacher.jsonl"))
    print(report.summary())

The order of sources is their priority when near-duplicates are dropped: dev cases, then
the example bank, then teacher data, then templates. Nothing whose user message matches
(exactly or as a MinHash near-duplicate) a user message of the eval **test** split stays.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kapibara.demo import demo_toolset, get_catalog
from kapibara.demo.catalog import Catalog, Product
from kapibara.demo.source import load_source, scenarios
from kapibara.errors import DataError
from kapibara.evals.cases import Case, load_cases, resolve_tools
from kapibara.finetune.samples import Sample, call_message, calls_of, reply_message, sample_id
from kapibara.finetune.verify import CallVerifier, tool_message
from kapibara.models.base import Message, ToolCall, ToolSpec
from kapibara.prompts import render_template
from kapibara.prompts.loader import detect_language
from kapibara.rag.dedup import MinHasher, near_duplicates
from kapibara.tools import ToolContext

SEED = 13
#: Near-duplicates inside the training set (Jaccard of character 3-gram MinHash).
DEDUPE_THRESHOLD = 0.85
#: Near-duplicates of a test-split user message: stricter (lower) than the dedupe, so a
#: paraphrase of a test question with a name swapped is dropped too.
LEAK_THRESHOLD = 0.7
LEAK_THRESHOLD_2GRAM = 0.55
#: Samples per template category (before dedupe and leakage removal).
PER_CATEGORY = 110


def _domain_dir() -> Path:
    return Path(str(resources.files("kapibara.evals") / "data" / "domain"))


def default_dev_files() -> list[Path]:
    return [_domain_dir() / "dev.jsonl", _domain_dir() / "missing_dev.jsonl"]


def default_test_files() -> list[Path]:
    return [_domain_dir() / "test.jsonl", _domain_dir() / "missing_test.jsonl"]


def default_bank_file() -> Path:
    return Path(str(resources.files("kapibara.demo") / "data" / "examples.jsonl"))


def templates_path() -> Path:
    return Path(str(resources.files("kapibara.finetune") / "data" / "templates.yaml"))


def shipped_teacher_path() -> Path:
    """The committed teacher-written samples (``kapibara data generate``)."""
    return Path(str(resources.files("kapibara.finetune") / "data" / "teacher.jsonl"))


def load_templates(path: str | Path | None = None) -> dict[str, Any]:
    p = Path(path) if path else templates_path()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{p}: cannot read templates: {exc}") from None
    if not isinstance(data, dict) or "categories" not in data:
        raise DataError(f"{p}: expected a mapping with 'categories'", hint="see finetune/data/templates.yaml")
    return data


@dataclass
class BuildReport:
    """What the build kept and dropped, per source (counts of samples)."""

    generated: Counter[str] = field(default_factory=Counter)
    verified: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    fixed: Counter[str] = field(default_factory=Counter)
    exact_duplicates: Counter[str] = field(default_factory=Counter)
    near_duplicates: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    invalid_reasons: Counter[str] = field(default_factory=Counter)
    leaks_remaining: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}

    def summary(self) -> str:
        total = sum(self.kept.values())
        lines = [f"kept {total} samples; leaked (removed) {sum(self.leaked.values())}, "
                 f"remaining overlap with the test split {self.leaks_remaining}"]
        for src in sorted(self.generated):
            lines.append(f"  {src}: generated {self.generated[src]}, calls verified {self.verified[src]}, "
                         f"invalid dropped {self.invalid[src]}, fixed {self.fixed[src]}, "
                         f"duplicates {self.exact_duplicates[src]}+{self.near_duplicates[src]} near, "
                         f"leaked {self.leaked[src]}, kept {self.kept[src]}")
        lines.append("  categories: " + ", ".join(f"{k} {v}" for k, v in sorted(self.categories.items())))
        return "\n".join(lines)


def source_kind(source: str) -> str:
    """``template:recipes`` -> ``template``: what the report groups by."""
    return source.split(":", 1)[0]


# -- the dev split and the bank ------------------------------------------------------------
def _user_text(messages: list[Message]) -> str:
    return " ".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")


_OMIT = object()


def _candidate_calls(case: Case, user: str) -> Iterator[list[ToolCall]]:
    """Concrete call sets for a case, best first: each argument's first acceptable value
    (for an English request, the first one the user wrote, if any; an optional argument
    whose first value is ``""`` left out, as the example bank does), then the others in
    order; used to fix a target whose first choice fails on the real tools."""
    latin = detect_language(user) == "en"
    for option in case.expected:
        per_call: list[list[ToolCall]] = []
        for item in option:
            ((name, params),) = item.items()
            choices: dict[str, list[Any]] = {}
            for k, values in params.items():
                real = [v for v in values if v not in ("", None)]
                if latin:
                    said = [v for v in real if isinstance(v, str) and v.lower() in user.lower()]
                    real = said + [v for v in real if v not in said]
                # Optional, and the case lists leaving it out first: leave it out first.
                choices[k] = [_OMIT, *real] if values and values[0] in ("", None) else real
            variants = []
            depth = max((len(v) for v in choices.values()), default=1) or 1
            for i in range(depth):
                args = {k: v[min(i, len(v) - 1)] for k, v in choices.items() if v}
                args = {k: v for k, v in args.items() if v is not _OMIT}
                variants.append(ToolCall(name, args))
            per_call.append(variants)
        depth = max((len(v) for v in per_call), default=0)
        for i in range(depth):
            yield [v[min(i, len(v) - 1)] for v in per_call]


def ask_missing_reply(tool: str, param: str, language: str, labels: dict[str, Any]) -> str:
    """The question the agent asks for a value the user left out (``agent_ask_missing``)."""
    what = (labels.get(param) or {}).get(language) or param
    return render_template("agent_ask_missing", language, what=what)


def pick_reply(kind: str, language: str, replies: dict[str, Any], rng: random.Random) -> str:
    options = (replies.get(kind) or {}).get(language)
    if not options:
        raise DataError(f"templates: no {language} reply for kind {kind!r}", hint="add it under replies:")
    return str(rng.choice(options))


def dev_reply(case_id: str, language: str, templates: dict[str, Any] | None = None) -> str | None:
    """The reply trained for a no-call dev case (``dev_replies`` / ``dev_missing`` in the
    templates), or None when the templates give none."""
    t = templates or load_templates()
    if case_id in (t.get("dev_missing") or {}):
        tool, param = t["dev_missing"][case_id]
        return ask_missing_reply(tool, param, language, t.get("labels", {}))
    kind = (t.get("dev_replies") or {}).get(case_id)
    if kind is None:
        return None
    kind = str(kind)
    return str(t["replies"][kind][language][0]) if kind in t.get("replies", {}) else kind


class Builder:
    """Builds samples from each source; verification and bookkeeping go in ``report``."""

    def __init__(self, templates: dict[str, Any], *, seed: int = SEED, catalog: Catalog | None = None,
                 report: BuildReport | None = None) -> None:
        self.t = templates
        self.rng = random.Random(seed)
        self.catalog = catalog or get_catalog()
        self.toolset = demo_toolset()
        self.tools: list[ToolSpec] = resolve_tools(self.toolset.specs())
        self.verifier = CallVerifier(self.toolset)
        self.report = report or BuildReport()
        self._slots = _SlotFiller(self.catalog, templates, self.rng)

    # ---- bookkeeping
    def accept(self, sample: Sample) -> bool:
        """Run the target's calls; count and keep it when they pass."""
        kind = source_kind(sample.source)
        self.report.generated[kind] += 1
        if not sample.target_calls:
            return True
        verdict = self.verifier.verify(sample)
        if verdict.ok:
            self.report.verified[kind] += 1
            return True
        self.report.invalid[kind] += 1
        self.report.invalid_reasons[f"{kind}: {verdict.reason.split(':')[0]}"] += 1
        return False

    def sample(self, prefix: str, messages: list[Message], source: str, category: str) -> Sample:
        return Sample(sample_id(prefix, messages), messages, self.tools, source, category)

    # ---- (a) dev cases
    def from_cases(self, paths: Iterable[Path]) -> list[Sample]:
        out = []
        replies = self.t.get("replies", {})
        dev_replies = self.t.get("dev_replies", {})
        dev_missing = self.t.get("dev_missing", {})
        for path in paths:
            for case in load_cases(path):
                context = [m for m in case.messages if m.get("role") in ("user", "assistant", "tool")]
                lang = detect_language(_user_text(context[-1:]))
                source = f"dev:{case.id}"
                if not case.expected:
                    if case.id in dev_missing:
                        tool, param = dev_missing[case.id]
                        text = ask_missing_reply(tool, param, lang, self.t.get("labels", {}))
                    elif case.id in dev_replies:
                        kind = str(dev_replies[case.id])
                        text = pick_reply(kind, lang, replies, self.rng) if kind in replies else kind
                    else:
                        self.report.generated["dev"] += 1
                        self.report.invalid["dev"] += 1
                        self.report.invalid_reasons["dev: no reply for a no-call case"] += 1
                        continue
                    check = case.answer or {}
                    if any(n not in text for n in check.get("contains") or []) or (
                            check.get("regex") and not re.search(check["regex"], text)):
                        raise DataError(f"templates: the reply for {case.id} fails its answer check {check}")
                    s = self.sample("dev", [*context, reply_message(text)], source, case.category)
                    self.accept(s)
                    out.append(s)
                    continue
                first = True
                for calls in _candidate_calls(case, _user_text(context[-1:])):
                    s = self.sample("dev", [*context, call_message(calls, prefix=f"call_{case.id}")], source,
                                    case.category)
                    if first:
                        self.report.generated["dev"] += 1
                    verdict = self.verifier.verify(s)
                    if verdict.ok:
                        self.report.verified["dev"] += 1
                        if not first:
                            self.report.fixed["dev"] += 1
                        out.append(s)
                        break
                    first = False
                else:
                    self.report.invalid["dev"] += 1
                    self.report.invalid_reasons["dev: no acceptable value runs"] += 1
        return out

    # ---- (b) the example bank
    def from_bank(self, path: Path) -> list[Sample]:
        from kapibara.optimize.bank import examples_from_file

        out = []
        for ex in examples_from_file(path):
            context = [m for m in ex.messages if m.get("role") in ("user", "assistant", "tool")]
            if ex.calls:
                target = call_message(ex.calls, prefix="call_bank")
            elif ex.answer:
                target = reply_message(ex.answer)
            else:
                self.report.generated["bank"] += 1
                self.report.invalid["bank"] += 1
                self.report.invalid_reasons["bank: no calls and no answer"] += 1
                continue
            category = ex.source.split("#")[-1].rsplit("-", 1)[0] if "#" in ex.source else "bank"
            s = self.sample("bank", [*context, target], f"bank:{ex.source}", category)
            if self.accept(s):
                out.append(s)
        return out

    # ---- (c) templates
    def from_templates(self, per_category: int = PER_CATEGORY) -> list[Sample]:
        out: list[Sample] = []
        for category, templates in self.t["categories"].items():
            out += self._fill(category, templates, per_category)
        out += self._follow_ups(per_category)
        out += self._no_call()
        out += self._missing()
        # Last, so the samples drawn before are the same with or without this section.
        out += self._follow_ups(per_category // 2, self.t.get("from_results") or [])
        return out

    def _fill(self, category: str, templates: list[dict[str, Any]], quota: int) -> list[Sample]:
        out: list[Sample] = []
        seen: set[str] = set()
        attempts = 0
        while len(out) < quota and attempts < quota * 6:
            tpl = templates[attempts % len(templates)]
            attempts += 1
            slots = self._slots.fill(tpl["lang"], need=_slot_names(tpl))
            if slots is None:
                continue
            text = fill(tpl["text"], slots)
            if text in seen:
                continue
            seen.add(text)
            call = ToolCall(tpl["tool"], fill_args(tpl.get("args") or {}, slots))
            s = self.sample("tpl", [{"role": "user", "content": text}, call_message([call])],
                            f"template:{category}:{tpl.get('style', 'plain')}", category)
            if self.accept(s):
                out.append(s)
        return out

    def _follow_ups(self, quota: int, convs: list[dict[str, Any]] | None = None) -> list[Sample]:
        """Two-turn conversations (``follow_up``, or ``convs``): the second turn's call, its
        canned ``reply``, or its ``answer`` filled from the first turn's result."""
        out: list[Sample] = []
        seen: set[str] = set()
        style = "follow_up" if convs is None else "from_results"
        convs = self.t.get("follow_up") or [] if convs is None else convs
        pairs = [(c, t) for c in convs for t in c["then"]]
        attempts = 0
        while len(out) < quota and attempts < quota * 6 and pairs:
            conv, then = pairs[attempts % len(pairs)]
            attempts += 1
            first = conv["first"]
            lang = first["lang"]
            slots = self._slots.fill(lang, need=(_slot_names(first) | _slot_names(then)) - RESULT_SLOTS)
            if slots is None:
                continue
            call1 = ToolCall(first["tool"], fill_args(first.get("args") or {}, slots), "call_0")
            bad, output, value = self.verifier.run(call1, ToolContext())
            self.report.generated["template"] += 1
            if bad:
                self.report.invalid["template"] += 1
                self.report.invalid_reasons[f"template: {bad.split(':')[0]}"] += 1
                continue
            if isinstance(value, dict) and value.get("items"):
                slots["first_item"] = value["items"][0]["name"]
                slots.update(result_slots(value["items"]))
            self.report.generated["template"] -= 1  # counted again when the whole sample is accepted
            if "{first_item}" in str(then) + first.get("reply", "") and "first_item" not in slots:
                continue
            if (_slot_names(then) | _slot_names(first.get("reply", ""))) - set(slots):
                continue  # the result lacks what the answer states (a tie for cheapest, one item)
            context: list[Message] = [
                {"role": "user", "content": fill(first["text"], slots)},
                call_message([call1]),
                tool_message("call_0", call1.name, output),
                reply_message(fill(first["reply"], slots)),
                {"role": "user", "content": fill(then["text"], slots)},
            ]
            key = _user_text(context)
            if key in seen:
                continue
            seen.add(key)
            if "reply" in then:
                target = reply_message(pick_reply(then["reply"], lang, self.t["replies"], self.rng))
                category = "no_call"
            elif "answer" in then:
                target = reply_message(fill(then["answer"], slots))
                category = "no_call"
            else:
                call = ToolCall(then["tool"], fill_args(then.get("args") or {}, slots), "call_1")
                target = call_message([call])
                category = "follow_up"
            s = self.sample("tpl", [*context, target], f"template:{category}:{style}", category)
            if self.accept(s):
                out.append(s)
        return out

    def _no_call(self) -> list[Sample]:
        out = []
        for group in self.t.get("no_call") or []:
            for text in group["texts"]:
                reply = pick_reply(group["kind"], group["lang"], self.t["replies"], self.rng)
                s = self.sample("tpl", [{"role": "user", "content": text}, reply_message(reply)],
                                f"template:no_call:{group['kind']}", "no_call")
                self.accept(s)
                out.append(s)
        return out

    def _missing(self) -> list[Sample]:
        out = []
        labels = self.t.get("labels", {})
        for group in self.t.get("missing") or []:
            for text in group["texts"]:
                for _ in range(3):  # a few fillings of the slot-bearing texts
                    slots = self._slots.fill(group["lang"], need=_slot_names({"text": text}))
                    if slots is None:
                        continue
                    reply = ask_missing_reply(group["tool"], group["param"], group["lang"], labels)
                    s = self.sample("tpl", [{"role": "user", "content": fill(text, slots)}, reply_message(reply)],
                                    f"template:missing_arg:{group['tool']}", "missing_arg")
                    self.accept(s)
                    out.append(s)
        return out


# -- slots ---------------------------------------------------------------------------------
_SLOT = re.compile(r"\{(\w+)\}")
_ZH_NUM = {1: "一", 2: "两", 3: "三", 4: "四", 5: "五"}


RESULT_SLOTS = frozenset(f"{k}{suffix}" for k in (
    "items_text", "cheap_item", "cheap_price", "dear_item", "dear_price", "top_item", "second_item",
    "second_price") for suffix in ("", "_en")) | {"top_rating", "count"}
"""Slots filled from the first turn's result (``from_results`` templates)."""


def result_slots(items: list[dict[str, Any]]) -> dict[str, Any]:
    """What an answer from a recommendation's ``items`` may state: each item with its price,
    the cheapest, dearest and best-rated one (only when one item alone is), the second one
    and the count; ``_en`` forms name the English names and say "yuan"."""
    def price(item: dict[str, Any]) -> float | None:
        m = re.match(r"\s*(\d+(?:\.\d+)?)", str(item.get("price", "")))
        return float(m.group(1)) if m else None

    def en(text: Any) -> str:
        return re.sub(r"^(\d+(?:\.\d+)?)元$", r"\1 yuan", str(text))

    named = [i for i in items if i.get("name") and price(i) is not None]
    if len(named) < 2:
        return {}
    out: dict[str, Any] = {
        "count": len(named),
        "items_text": "、".join(f"{i['name']}（{i['price']}）" for i in named),
        "items_text_en": ", ".join(f"{i.get('name_en') or i['name']} ({en(i['price'])})" for i in named),
        "second_item": named[1]["name"], "second_item_en": named[1].get("name_en") or named[1]["name"],
        "second_price": named[1]["price"], "second_price_en": en(named[1]["price"]),
    }
    for key, pick in (("cheap", min), ("dear", max)):
        best = pick(price(i) or 0.0 for i in named)
        those = [i for i in named if price(i) == best]
        if len(those) == 1:
            out.update({f"{key}_item": those[0]["name"], f"{key}_item_en": those[0].get("name_en") or those[0]["name"],
                        f"{key}_price": those[0]["price"], f"{key}_price_en": en(those[0]["price"])})
    rated = [i for i in named if isinstance(i.get("rating"), int | float)]
    if rated:
        top = max(i["rating"] for i in rated)
        those = [i for i in rated if i["rating"] == top]
        if len(those) == 1:
            out.update(top_item=those[0]["name"], top_item_en=those[0].get("name_en") or those[0]["name"],
                       top_rating=top)
    return out


def _slot_names(obj: Any) -> set[str]:
    return set(_SLOT.findall(str(obj)))


def fill(text: str, slots: dict[str, Any]) -> str:
    """``text`` with every ``{slot}`` replaced; an unknown slot is a template bug."""
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in slots:
            raise DataError(f"templates: unknown slot {{{m.group(1)}}} in {text!r}")
        return str(slots[m.group(1)])
    return _SLOT.sub(one, text)


def fill_args(args: dict[str, Any], slots: dict[str, Any]) -> dict[str, Any]:
    """Template arguments filled; a value that is exactly one slot keeps the slot's type."""
    out: dict[str, Any] = {}
    for k, v in args.items():
        if isinstance(v, str):
            whole = _SLOT.fullmatch(v)
            out[k] = slots[whole.group(1)] if whole and whole.group(1) in slots else fill(v, slots)
        elif isinstance(v, list):
            out[k] = [fill(x, slots) if isinstance(x, str) else x for x in v]
        else:
            out[k] = v
    return out


def typo(name: str, zh_typos: dict[str, str], rng: random.Random) -> str | None:
    """One deterministic misspelling: a known Chinese swap, or two adjacent letters swapped."""
    for right, wrong in zh_typos.items():
        if right in name:
            return name.replace(right, wrong, 1)
    letters = [i for i in range(len(name) - 1) if name[i].isalpha() and name[i + 1].isalpha()
               and name[i].isascii() and name[i + 1].isascii() and name[i] != name[i + 1]]
    if not letters:
        return None
    i = rng.choice(letters)
    return name[:i] + name[i + 1] + name[i] + name[i + 2:]


class _SlotFiller:
    """Random slot values drawn from the real catalog."""

    def __init__(self, catalog: Catalog, templates: dict[str, Any], rng: random.Random) -> None:
        self.c = catalog
        self.rng = rng
        self.props: dict[str, list[str]] = templates.get("properties", {})
        self.zh_typos: dict[str, str] = templates.get("zh_typos", {})
        self.days = [tuple(d) for d in templates.get("days", [["今天", "today"]])]
        self.products = [p for p in catalog.products if not p.is_variant and p.stock > 5]
        src = load_source()
        # (zh word, en word, ids of the categories it covers, kind or None)
        self.categories: list[tuple[str, str, set[str], str | None]] = []
        for k in src.kinds:
            self.categories.append((k.zh, k.en, {k.category}, k.zh))
        for cat in src.categories:
            zh = next((s for s in cat.synonyms if not s.isascii()), cat.zh)
            self.categories.append((zh, cat.en.lower(), {cat.id}, None))
        self.scenarios = list(scenarios())
        self.cities = list(catalog.cities)
        self.recipes = catalog.all_recipes()

    def _pool(self, cat: tuple[str, str, set[str], str | None]) -> list[Product]:
        _, _, ids, kind = cat
        return [p for p in self.products if p.category_id in ids and (kind is None or p.kind == kind)]

    def _scenario_fits(self, spec: Any, pool: list[Product]) -> bool:
        if spec.price:
            return True
        if spec.attribute:
            return any(_has_path(p.attributes, spec.attribute) for p in pool)
        return any(set(spec.tags) & set(p.tags) for p in pool)

    def fill(self, lang: str, need: set[str]) -> dict[str, Any] | None:
        r = self.rng
        s: dict[str, Any] = {}
        p = r.choice(self.products)
        s.update(product=p.name_zh, product_en=p.name_en, unit=p.unit, price_text=f"{p.price:g}元/{p.unit}")
        if "prop" in need or "prop_en" in need:
            keys = ["price", "stock", "rating"] + [k for k in p.attributes if k in self.props]
            key = r.choice(keys[3:] or keys)
            s["prop"], s["prop_en"] = self.props[key]
        if "product_typo" in need or "product_en_typo" in need:
            s["product_typo"] = typo(p.name_zh, self.zh_typos, r)
            s["product_en_typo"] = typo(p.name_en, {}, r)
            if s["product_typo"] is None or s["product_en_typo"] is None:
                return None
        q = r.choice(self.products)
        s.update(product2=q.name_zh, unit2=q.unit)
        if need & {"category", "category_en", "scenario", "scenario_en", "price"}:
            cat = r.choice(self.categories)
            pool = self._pool(cat)
            if not pool:
                return None
            s["category"], s["category_en"] = cat[0], cat[1]
            fits = [sc for sc in self.scenarios if self._scenario_fits(sc, pool)]
            sc = r.choice(fits)
            zh_words = [w for w in sc.words if not w.isascii()]
            en_words = [w for w in sc.words if w.isascii()]
            s["scenario"], s["scenario_en"] = r.choice(zh_words[:4]), r.choice(en_words[:3])
            prices = sorted(x.price for x in pool)
            s["price"] = _nice_price(r.choice(prices[: max(1, len(prices) * 2 // 3)]) * r.uniform(1.05, 1.6))
        city, city2 = r.sample(self.cities, 2)
        s.update(city=city.name_zh, city_en=city.name_en, city2=city2.name_zh, city2_en=city2.name_en)
        days = [d for d in self.days if lang == "zh" or d[1]]
        day = r.choice(days)
        s["day"], s["day_en"] = day[0], day[1] or ""
        rec = r.choice(self.recipes)
        s.update(dish=rec.name_zh, dish_en=rec.name_en, ingredient=r.choice(rec.ingredients).name)
        n = r.randint(1, 5)
        qty = r.randint(2, 5)
        s.update(n=n, n_zh=_ZH_NUM[n], qty=qty, qty_zh=_ZH_NUM[qty])
        return s


def _has_path(attrs: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = attrs
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _nice_price(x: float) -> int:
    """A budget a person would say: 38 -> 40, 2730 -> 2800."""
    step = 1 if x < 20 else 5 if x < 100 else 50 if x < 1000 else 100
    return int(-(-x // step) * step)


# -- dedupe and leakage --------------------------------------------------------------------
def _norm(text: str) -> str:
    return re.sub(r"[^\w]", "", text.lower())


def dedupe(samples: list[Sample], report: BuildReport, threshold: float = DEDUPE_THRESHOLD) -> list[Sample]:
    """Drop exact (normalised text) then MinHash near-duplicates of an earlier sample's user turns."""
    seen: set[str] = set()
    exact: list[Sample] = []
    for s in samples:
        key = _norm(_user_text(s.messages))
        if key in seen:
            report.exact_duplicates[source_kind(s.source)] += 1
            continue
        seen.add(key)
        exact.append(s)
    dups = set(near_duplicates([_user_text(s.messages) for s in exact], threshold=threshold))
    for i in dups:
        report.near_duplicates[source_kind(exact[i].source)] += 1
    return [s for i, s in enumerate(exact) if i not in dups]


def split_user_messages(paths: Iterable[Path] | None = None) -> list[str]:
    """Every user message of the eval test split."""
    out = []
    for path in paths or default_test_files():
        for case in load_cases(path):
            out += [str(m.get("content") or "") for m in case.messages if m.get("role") == "user"]
    return sorted(set(out))


def leaks(samples: list[Sample], test_texts: list[str]) -> list[int]:
    """Indices of samples whose latest user message is a test user message (normalised) or
    a MinHash near-duplicate of one: character 3-grams at ``LEAK_THRESHOLD``, or 2-grams at
    ``LEAK_THRESHOLD_2GRAM`` with 256 permutations (3-grams miss short Chinese paraphrases:
    "上海明天会下雨吗" / "上海明天下雨吗" share 0.33 of their 3-grams, 0.62 of their 2-grams;
    64 permutations estimated the latter at 0.53).

    Earlier turns are context, not what is learned: a follow-up that starts from the same
    first question as a test case but asks something else is not a copy of that case.
    """
    if not test_texts:
        return []
    exact = {_norm(t) for t in test_texts}
    checks = []
    for hasher, threshold in ((MinHasher(ngram=3), LEAK_THRESHOLD), (MinHasher(ngram=2, num_perm=256), LEAK_THRESHOLD_2GRAM)):
        checks.append((hasher, threshold, np.stack([hasher.signature(t) for t in test_texts])))
    out = []
    for i, s in enumerate(samples):
        text = s.last_user
        if _norm(text) in exact or any(
                float(np.max(np.mean(sigs == hasher.signature(text), axis=1))) >= threshold
                for hasher, threshold, sigs in checks):
            out.append(i)
    return out


def remove_leaks(samples: list[Sample], report: BuildReport, test_texts: list[str]) -> list[Sample]:
    bad = set(leaks(samples, test_texts))
    for i in bad:
        report.leaked[source_kind(samples[i].source)] += 1
    kept = [s for i, s in enumerate(samples) if i not in bad]
    report.leaks_remaining = len(leaks(kept, test_texts))
    if report.leaks_remaining:
        raise DataError(f"{report.leaks_remaining} samples still overlap the test split after removal")
    return kept


def _cap(samples: list[Sample], limit: int | None, rng: random.Random) -> list[Sample]:
    """At most ``limit`` samples, round-robin over categories so the balance survives."""
    if limit is None or limit >= len(samples):
        return samples
    by_cat: dict[str, list[Sample]] = {}
    for s in samples:
        by_cat.setdefault(s.category, []).append(s)
    for group in by_cat.values():
        rng.shuffle(group)
    out: list[Sample] = []
    while len(out) < limit:
        for cat in sorted(by_cat):
            if by_cat[cat] and len(out) < limit:
                out.append(by_cat[cat].pop())
    return out


def build_with_report(
    *,
    dev: Iterable[Path] | None = None,
    bank: Path | None = None,
    teacher: list[Sample] | None = None,
    test: Iterable[Path] | None = None,
    templates: dict[str, Any] | None = None,
    per_category: int = PER_CATEGORY,
    limit: int | None = None,
    seed: int = SEED,
) -> tuple[list[Sample], BuildReport]:
    """The training set and what the build counted. ``teacher`` samples are re-verified."""
    report = BuildReport()
    b = Builder(templates or load_templates(), seed=seed, report=report)
    pool = b.from_cases(list(dev) if dev is not None else default_dev_files())
    pool += b.from_bank(bank or default_bank_file())
    for s in teacher or []:
        s.tools = b.tools
        if b.accept(s):
            pool.append(s)
    pool += b.from_templates(per_category)
    kept = remove_leaks(dedupe(pool, report), report, split_user_messages(test))
    kept = _cap(kept, limit, random.Random(seed))
    kept.sort(key=lambda s: (s.category, s.id))
    for s in kept:
        report.kept[source_kind(s.source)] += 1
        report.categories[s.category] += 1
    return kept, report


def build_training_set(**kwargs: Any) -> list[Sample]:
    """The domain training set (see ``build_with_report`` for the arguments)."""
    return build_with_report(**kwargs)[0]


__all__ = ["BuildReport", "build_training_set", "build_with_report", "calls_of", "dedupe", "leaks"]
