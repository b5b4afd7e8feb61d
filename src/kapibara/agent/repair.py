"""The repair ladder's pieces for small models' malformed output.

The rungs, in the order ``agent.decide`` climbs them (each recorded when it fires;
``lookup``, the last, is the grounding rung described in ``decide.py``):

``lenient_parse``  JSON5, trailing commas, code fences, bare JSON, the call in prose
                   (done by the parsers in ``models/toolcalls.py`` and ``parsing.py``; they
                   flag it ``lenient``)
``fuzzy_name``     a misspelled tool or parameter name matched to a registered one, a
                   tool name written inside prose on the Action line, or, when the line
                   names several tools, the one whose parameters fit the arguments
                   (``fuzzy_fix``), only when the match is unambiguous
``drop_ungrounded`` an optional numeric argument whose value appears nowhere in the user's
                   words (a budget the model invented) is dropped (``drop_ungrounded``)
``vocabulary``     a free-text parameter with a ``Tool.vocabulary`` keeps only the terms the
                   tool understands and the user said (``snap_vocabulary``)
``counts``         a count the user said ("推荐5款") fills the one integer parameter the call
                   left out or at its default (``fill_counts``)
``bounds``         a price ceiling the user said ("五十块钱以内", "under 20 yuan") fills the one
                   price-ceiling parameter the call left out or got wrong (``fill_bounds``)
``fan_out``        things the user named together ("车厘子和三文鱼有优惠吗") get a call each
                   where the model called for one of them (``fan_out``)
``referent``       a thing the user referred to ("第一个加购物车"; "来两斤" after one product)
                   named from the turns before, where the call named another or none
                   the conversation gave (``resolve_referents``)
``reask``          one re-ask quoting the parse or validation error (``validate_calls``
                   finds it; the message comes from the ``reask_error`` template)
``constrained``    regeneration with a JSON schema or GBNF grammar that admits only the
                   registered tools and their parameters, or an answer (``tool_constraint``)

Each function here is pure and testable alone; the loop decides when to call them.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, TypeGuard, TypeVar

from rapidfuzz import fuzz, process

from kapibara.agent.codes import abbreviates
from kapibara.agent.parsing import loads_lenient, parse_tool_calls
from kapibara.models.base import Constraint, ToolCall
from kapibara.tools.schema import standard_schema

RUNGS = ("routed", "lenient_parse", "doubt", "fuzzy_name", "drop_ungrounded", "vocabulary", "entities", "counts", "bounds", "fan_out", "referent", "reask", "constrained", "lookup", "ask")
FUZZY_THRESHOLD = 80.0
"""Minimum rapidfuzz ratio (0-100) for a name to be corrected."""
FUZZY_MARGIN = 8.0
"""The best match must beat the runner-up by this much, else the name is ambiguous."""


def _schema(tools: Any, name: str) -> dict[str, Any]:
    """The parameters schema of the tool called ``name``; {} for an unknown tool."""
    tool = tools.get(name)
    return (tool.parameters or {}) if tool is not None else {}


def _tool_params(tools: Any, name: str) -> list[str]:
    tool = tools.get(name)
    if tool is None:
        return []
    names = getattr(tool, "param_names", None)
    if names is not None:
        return list(names)
    return list((tool.parameters or {}).get("properties", {}))


def best_match(word: str, choices: list[str]) -> str | None:
    """The one choice close enough to ``word``; None when none is or two are."""
    if not word or not choices:
        return None
    scored = process.extract(word, choices, scorer=fuzz.ratio, limit=2)
    if not scored or scored[0][1] < FUZZY_THRESHOLD:
        return None
    if len(scored) > 1 and scored[0][1] - scored[1][1] < FUZZY_MARGIN:
        return None
    return str(scored[0][0])


def named_in(text: str, choices: list[str]) -> str | None:
    """The one choice written inside ``text`` (e.g. ``"调用 get_weather API"``); None if 0 or 2+.

    A name that is part of a longer matching name counts once (``view_cart`` inside
    ``view_cart_items`` is not a second match).
    """
    found = [c for c in choices if c and c in text]
    found = [c for c in found if not any(c != o and c in o for o in found)]
    return found[0] if len(found) == 1 else None


def named_by_arguments(text: str, arguments: dict[str, Any], tools: Any) -> str | None:
    """Among several tools named in ``text``, the one whose parameters fit ``arguments``.

    Small models copy the format line ("Action: one of [a, b, c]") and still give the
    right arguments; the argument names then say which tool was meant. None unless
    exactly one named tool accepts every argument and gets all its required ones.
    """
    mentioned = [n for n in tools.names if n in text]
    if len(mentioned) < 2:
        return None
    keys = set(arguments)
    props = arguments.get("properties")
    if isinstance(props, dict) and keys <= _SCHEMA_KEYS:  # schema echo: its values count
        keys = set(props)
    if not keys:
        return None
    fits = []
    for name in mentioned:
        schema = tools.get(name).parameters or {}
        params = set(schema.get("properties", {}))
        if keys <= params and set(schema.get("required", [])) <= keys:
            fits.append(name)
    return fits[0] if len(fits) == 1 else None


def fuzzy_fix(calls: list[ToolCall], tools: Any) -> tuple[list[ToolCall], list[str]]:
    """Correct misspelled tool and parameter names. Returns (calls, what was changed)."""
    names = list(tools.names)
    fixed: list[ToolCall] = []
    changes: list[str] = []
    for call in calls:
        name = call.name
        if tools.get(name) is None:
            match = (
                best_match(name, names)
                or named_in(name, names)
                or named_by_arguments(name, call.arguments, tools)
            )
            if match:
                changes.append(f"tool {name!r} -> {match!r}")
                name = match
        params = _tool_params(tools, name)
        args: dict[str, Any] = {}
        for key, value in call.arguments.items():
            if params and key not in params:
                free = [p for p in params if p not in call.arguments]
                match = best_match(key, free)
                if match and match not in args:
                    changes.append(f"{name}: parameter {key!r} -> {match!r}")
                    key = match
            args[key] = value
        fixed.append(ToolCall(name=name, arguments=args, id=call.id))
    return fixed, changes


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_SUFFIX = {"k": 1000, "K": 1000, "千": 1000, "w": 10_000, "W": 10_000, "万": 10_000}
_NUM_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kKwW千万](?![a-zA-Z])(?:(\d)(?!\d))?)?")
_CN_RE = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_EN_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_EN_SCALE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(thousand|million|billion|trillion)\b", re.IGNORECASE)
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*%")


def _cn_number(text: str) -> float:
    """Value of a Chinese numeral such as 一千二百 (1200) or 十二 (12); a last digit right
    after 百/千/万 counts in the next place down, as said: 一千五 1500, 一万二 12000."""
    if len(text) >= 2 and text[-1] in _CN_DIGITS and text[-2] in "百千万":
        head = _cn_number(text[:-1])
        return head + _CN_DIGITS[text[-1]] * {"百": 10, "千": 100, "万": 1000}[text[-2]]
    total, section, digit = 0, 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch == "万":
            total += (section + digit) * 10_000
            section, digit = 0, 0
        else:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
    return float(total + section + digit)


def numbers_in(text: str) -> set[float]:
    """Every number written in ``text``: digits (with k/千/万 suffixes, thousands separated
    by commas: "$200,000"; "100 million" is also 100000000, "5%" also 0.05: what a call
    writes for them) and Chinese numerals."""
    found: set[float] = set()
    text = _THOUSANDS.sub("", text)
    for m in _EN_SCALE_RE.finditer(text):
        found.add(float(m.group(1)) * _EN_SCALE[m.group(2).lower()])
    for m in _PERCENT_RE.finditer(text):
        found.add(float(m.group(1)) / 100)
    for m in _NUM_RE.finditer(text):
        value = float(m.group(1))
        found.add(value)
        if m.group(2):
            scale = _SUFFIX[m.group(2)[0]]
            found.add(value * scale + (int(m.group(3)) * scale / 10 if m.group(3) else 0))  # 2k5: 2500
    for m in _CN_RE.finditer(text):
        found.add(_cn_number(m.group(0)))
    return found


def drop_ungrounded(calls: list[ToolCall], tools: Any, user_text: str) -> tuple[list[ToolCall], list[str]]:
    """Drop optional numeric arguments that the user never said (and that are not the
    parameter's default). Small models invent budgets and counts; an invented
    ``max_price`` silently filters out every right answer. An optional free-text value
    whose numbers are all unsaid is invented too (``mission="Mission 1"`` for "with
    different missions"); values of an ``enum``, or of a parameter with a vocabulary or
    known names (the rungs after this one map those), are left. Returns (calls, what was
    dropped).
    """
    said = numbers_in(user_text)
    worded = said | worded_numbers(user_text)
    out: list[ToolCall] = []
    dropped: list[str] = []
    for call in calls:
        schema = _schema(tools, call.name)
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        tool = tools.get(call.name)
        mapped = {*(getattr(tool, "vocabulary", None) or {}), *(getattr(tool, "entities", None) or {})}
        args = dict(call.arguments)
        for key, value in call.arguments.items():
            if key in required or key not in props or isinstance(value, bool):
                continue
            if isinstance(value, str) and key not in mapped and "enum" not in props[key] \
                    and value != props[key].get("default"):
                numbers = numbers_in(value)
                if numbers and not numbers & worded:
                    del args[key]
                    dropped.append(f"{call.name}: {key}={value!r} has no number the user said")
                continue
            if not isinstance(value, int | float) or value == props[key].get("default"):
                continue
            if float(value) not in said:
                del args[key]
                dropped.append(f"{call.name}: {key}={value} is not in the user's words")
        out.append(ToolCall(name=call.name, arguments=args, id=call.id))
    return out, dropped


MAX_COUNT = 99
"""The largest count ``fill_counts`` sets where the parameter declares no ``maximum``."""
_CLASSIFIERS = "款个样台箱瓶份袋斤盒包件只部杯罐支条种道位听提桶套双把本张片颗粒串"
_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
               "nine": 9, "ten": 10, "a couple of": 2, "a dozen": 12}
_CN_COUNT_RE = re.compile(rf"(?<![\d.第])(\d+|[一二两三四五六七八九十]+)\s*[{_CLASSIFIERS}](?!人|月|小时|星期|礼拜|钟)")
_EN_COUNT_RE = re.compile(r"(?<![\d.])\b(\d+|" + "|".join(_EN_NUMBERS) + r")\b(?!\s*(?:yuan|rmb|dollars?|usd|元|块|k\b|%))",
                          re.IGNORECASE)


_ENDS_CLAUSE = re.compile(r"\s*(?:$|[，。！？,.!?；;、]|就|吧|即可|好了)")


def counts_in(text: str) -> list[int]:
    """The counts ``text`` says, in order: a number before a Chinese classifier ("5款", "两箱";
    "一款" only where it ends the clause, else it is an article), or in Latin text a number that is not an amount of money ("two bottles",
    "show me 2"; "20 yuan" is not a count)."""
    found: list[tuple[int, int]] = []
    for m in _CN_COUNT_RE.finditer(text):
        raw = m.group(1)
        n = int(raw) if raw.isdigit() else int(_cn_number(raw))
        if n == 1 and not _ENDS_CLAUSE.match(text, m.end()):
            continue  # "买一款拍照好的手机" is "a phone"; "推荐一款就行" is one
        found.append((m.start(), n))
    if _LATIN.search(text):
        for m in _EN_COUNT_RE.finditer(text):
            raw = m.group(1).lower()
            n = int(raw) if raw.isdigit() else _EN_NUMBERS[raw]
            if _CJK.search(text[m.end():m.end() + 1]) or (n == 1 and not _ENDS_CLAUSE.match(text, m.end())):
                continue  # "5款" is read above; "one phone" is "a phone"
            found.append((m.start(), n))
    return [n for _, n in sorted(found)]


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fill_counts(calls: list[ToolCall], tools: Any, user_text: str) -> tuple[list[ToolCall], list[str]]:
    """Set the one integer parameter a call left out or at its default to the one count the
    user said that the call does not already use ("给我推荐5款零食" with ``limit`` 3 becomes
    5): small models keep the default count. Nothing changes when the user said no count or
    several, when the tool has several such parameters, when the model chose a value, or
    when the count is outside the parameter's range (``MAX_COUNT`` without a ``maximum``).
    Returns (calls, what changed)."""
    said = counts_in(user_text)
    out: list[ToolCall] = []
    notes: list[str] = []
    for call in calls:
        props = _schema(tools, call.name).get("properties", {})
        args = dict(call.arguments)
        open_ = [k for k, p in props.items() if p.get("type") == "integer"
                 and (k not in args or ("default" in p and args[k] == p["default"]))]
        used = {float(v) for v in args.values() if _is_number(v)}
        strings = " ".join(v for v in args.values() if isinstance(v, str))
        left = [n for n in dict.fromkeys(said) if float(n) not in used and not re.search(rf"(?<!\d){n}(?!\d)", strings)]
        if len(open_) == 1 and len(left) == 1:
            key, count = open_[0], left[0]
            p = props[key]
            if count != args.get(key) and p.get("minimum", 1) <= count <= p.get("maximum", MAX_COUNT):
                notes.append(f"{call.name}: {key}={args.get(key)!r} -> {count} (said)")
                args[key] = count
        out.append(ToolCall(name=call.name, arguments=args, id=call.id))
    return out, notes


_AMOUNT = r"(\d+(?:\.\d+)?(?:\s*[kKwW千万](?![a-zA-Z])\d?)?|[零〇一二两三四五六七八九十百千万]+)(?![\d.零〇一二两三四五六七八九十百千万])"
_CURRENCY = r"\s*(?:元|块钱|块|rmb|RMB|yuan|dollars?|bucks|usd|USD|euros?|CNY)"
_PRICE_END = rf"(?:{_CURRENCY}|(?!\s*(?:[个款样台箱瓶份袋斤盒包件只部杯罐支条种道位天周月年小时分秒公里米岁度%]|[a-zA-Z])))"
_BOUND_RES = (
    # 不超过40元, 别超2k5, 预算2000块, 最多50
    re.compile(r"(?:不要?超过?|别超过?|最多|最高|预算(?:在|是|为)?|控制在|低于|少于|不高于)\s*" + _AMOUNT + _PRICE_END),
    # 五十块钱以内, 单价20以内, 100元以下, 1000块左右
    re.compile(_AMOUNT + r"(?:\s*(?:元|块钱|块|rmb|RMB))?\s*(?:以内|以下|之内|之下|内|左右|上下|封顶)"),
    # under 20 yuan, at most $300, budget of 500
    re.compile(r"\b(?:under|below|less than|cheaper than|within|up to|at most|no more than|not more than|max(?:imum)?"
               r"|budget(?: of| is)?)\s*[$¥€£]?\s*" + _AMOUNT + _PRICE_END, re.IGNORECASE),
)
_MONEY_WORDS = re.compile(r"price|cost|budget|fee|fare|amount|spend|价|预算|费|钱", re.IGNORECASE)
_CEILING_WORDS = re.compile(r"max|upper|budget|ceiling|at most|highest|上限|最高|最多|不超过|预算", re.IGNORECASE)


def _amount(text: str) -> float:
    """The value of one ``_AMOUNT`` match: ``2k5`` 2500, ``1.5万`` 15000, ``一千五`` 1500."""
    found = numbers_in(text.replace(" ", ""))
    return max(found) if found else 0.0


def bounds_in(text: str) -> list[float]:
    """The price ceilings ``text`` states, in order and without repeats: a number after
    不超过/预算/under/at most..., or before 以内/以下/左右 ("五十块钱以内" 50, "别超2k5" 2500,
    "under 20 yuan" 20). A number with another unit ("三天以内", "最多3款", "within 3 days")
    is not a price."""
    found: list[tuple[int, float]] = []
    for pattern in _BOUND_RES:
        for m in pattern.finditer(text):
            value = _amount(m.group(1))
            if value > 0:
                found.append((m.start(1), value))
    return list(dict.fromkeys(v for _, v in sorted(found)))


def _ceiling_params(tools: Any, name: str) -> list[str]:
    """The numeric parameters of tool ``name`` that are a price ceiling: the name or the
    description speaks of money and of an upper limit (``max_price``, ``budget``)."""
    out = []
    for key, prop in _schema(tools, name).get("properties", {}).items():
        if prop.get("type") not in ("number", "integer"):
            continue
        words = f"{key} {prop.get('description', '')}"
        if _MONEY_WORDS.search(words) and _CEILING_WORDS.search(words):
            out.append(key)
    return out


def fill_bounds(calls: list[ToolCall], tools: Any, user_text: str, latest: str = "") -> tuple[list[ToolCall], list[str]]:
    """Set a call's one price-ceiling parameter (``max_price``, ``budget``) to the one
    ceiling the user stated ("五十块钱以内", "under 20 yuan") when the call left it out or
    holds another number: small models drop a budget among several constraints, or put
    the count there ("推荐两款100元以下的牛奶" -> ``max_price: 2``). The user's ``latest``
    message wins when it states a ceiling ("还有更便宜的吗，一千五以内的" replaces the 3000
    said before). Nothing changes when the user stated none or several, or the tool has
    no such parameter or several. The ceiling copied into an optional integer parameter
    as well ("不要超过30块" -> ``limit: 30``) is dropped there when the user said no count.
    Returns (calls, what changed)."""
    stated = bounds_in(latest) or bounds_in(user_text)
    if len(stated) != 1:
        return calls, []
    bound = stated[0]
    no_count = not counts_in(user_text)
    out: list[ToolCall] = []
    notes: list[str] = []
    for call in calls:
        params = _ceiling_params(tools, call.name)
        args = dict(call.arguments)
        if len(params) == 1:
            key = params[0]
            old = args.get(key)
            if not _is_number(old) or float(old) != bound:
                value: float | int = int(bound) if bound.is_integer() else bound
                notes.append(f"{call.name}: {key}={old!r} -> {value} (said)")
                args[key] = value
            schema = _schema(tools, call.name)
            counts = [k for k, p in schema.get("properties", {}).items()
                      if k != key and p.get("type") == "integer" and k not in schema.get("required", [])]
            for other in counts if no_count else []:
                held = args.get(other)
                if _is_number(held) and float(held) == bound:
                    del args[other]
                    notes.append(f"{call.name}: {other}={held!r} is the price ceiling, not a count")
        out.append(ToolCall(name=call.name, arguments=args, id=call.id))
    return out, notes


def snap_vocabulary(calls: list[ToolCall], tools: Any, user_text: str,
                    latest: str = "") -> tuple[list[ToolCall], list[str]]:
    """Map free-text arguments onto the terms their tool understands (``Tool.vocabulary``).

    For a string parameter with a vocabulary (``{meaning: [words]}``), the value becomes
    the words it contains whose meaning the user also expressed, one word per meaning
    (the longest, then the first), in the value's order; a word inside a longer matched
    word ("长辈" inside "送长辈") is not a second meaning. A word the user did not say
    becomes its meaning's primary term, the vocabulary's first word in the user's script
    ("夏季" for "夏天解暑的饮料" -> "夏天", "拍照" for "taking photos" -> "camera"): the
    tool understands either, a reader and an annotator expect the common one. A value
    with no such word takes the meanings the user expressed, as primary terms ("周末" for
    "周末想囤点零食" -> "囤货"), or, when the user expressed none, is dropped if the
    parameter is optional, unless the user said the value itself and it carries a number
    ("5月3日" for a vocabulary of relative days: data, not a description). The meanings
    come from the user's ``latest`` message when it expresses any of the vocabulary's
    (a follow-up "那明天呢" replaces the day said before), else from the whole
    ``user_text``. Small models copy the request into the parameter
    ("聚会用的零食来5款，每款不超过40元"), invent a use nobody asked for
    (``scenario="拍照"`` for "有什么手机推荐吗？") or keep the default day ("今天" for
    "明天呢"). For a list of strings (``properties``), when the user expressed any of its
    meanings, the items keep those meanings, each as its primary term (a property is a
    name, not a phrase: "多重" -> "重量"), and each meaning the user expressed that no item
    has is added ("续航咋样" -> ``["电池"]``, not the five properties of an example). A
    string parameter the call left out or empty takes the one term of its vocabulary the
    ``latest`` message says ("适合早餐的牛奶" -> ``scenario`` "早餐", "那明天呢" -> ``date``
    "明天"); two terms are not guessed. Returns (calls, what changed).
    """
    everything, now = _norm(user_text), _norm(latest)
    out: list[ToolCall] = []
    notes: list[str] = []
    for call in calls:
        tool = tools.get(call.name)
        args = dict(call.arguments)
        for key, vocab in (getattr(tool, "vocabulary", None) or {}).items():
            value = args.get(key)
            said = now if now and _matches(now, vocab) else everything
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                items = _snap_items(value, vocab, now or everything)
                if items is not None and items != value:
                    args[key] = items
                    notes.append(f"{call.name}: {key}={value!r} -> {items!r}")
                continue
            if value is None or (isinstance(value, str) and not _norm(value)):
                prop = _schema(tools, call.name).get("properties", {}).get(key, {})
                stated = _matches(now, vocab) if prop.get("type") == "string" else []
                if len(stated) == 1:  # the user's one term for a parameter the call left out
                    args[key] = stated[0][3]
                    notes.append(f"{call.name}: {key}={value!r} -> {stated[0][3]!r} (said)")
                continue
            if not isinstance(value, str):
                continue
            expressed = _matches(said, vocab)
            meant = {name for _, _, name, _ in expressed}
            cjk = bool(_CJK.search(said))
            kept = [word if _norm(word) in said else _primary(vocab[name], cjk)
                    for _, _, name, word in _matches(_norm(value), vocab) if name in meant]
            if not kept:
                kept = [_primary(vocab[name], cjk) for _, _, name, _ in expressed]
            if kept:
                new = ("" if all(_CJK.search(w) for w in kept) else " ").join(kept)
                if new != value:
                    args[key] = new
                    notes.append(f"{call.name}: {key}={value!r} -> {new!r}")
            elif key not in _schema(tools, call.name).get("required", []) and not (
                    _DIGITS.search(value) and _norm(value) in everything):
                del args[key]
                notes.append(f"{call.name}: {key}={value!r} is not a term the user said")
        out.append(ToolCall(name=call.name, arguments=args, id=call.id))
    return out, notes


def _primary(words: list[str], cjk: bool) -> str:
    """A meaning's own term in the user's script: its first word written in Chinese
    characters for a Chinese request, else its first word in another script."""
    return next((w for w in words if bool(_CJK.search(w)) == cjk), words[0])


def _snap_items(items: list[str], vocab: dict[str, list[str]], said: str) -> list[str] | None:
    """A list argument's items with the meanings the user expressed (``snap_vocabulary``);
    None when the user expressed none of the vocabulary's meanings."""
    expressed = _matches(said, vocab)
    if not expressed:
        return None
    meant = {name for _, _, name, _ in expressed}
    kept: list[str] = []
    have: set[str] = set()
    cjk = bool(_CJK.search(said))
    for item in items:
        names = [name for _, _, name, _ in _matches(_norm(item), vocab) if name in meant and name not in have]
        if names:
            kept.extend(_primary(vocab[n], cjk) for n in names)
            have.update(names)
    return kept + [_primary(vocab[name], cjk) for _, _, name, _ in expressed if name not in have]


ENTITY_MIN_SCORE = 80.0
"""The least similarity (rapidfuzz ``ratio`` of normalised names, 0-100, a sound-alike
Chinese character counting as the same) at which a value is taken for a misspelling of a
known name: "五长大米" (长 sounds like 常), "小米11 ultar"; not "小米手机" for "小米手环"."""
ENTITY_MARGIN = 8.0
"""How much closer the chosen name must be than any other known thing."""


def resolve_entities(calls: list[ToolCall], tools: Any) -> tuple[list[ToolCall], list[str]]:
    """Replace a value that is no known name with the known name it misspells (``Tool.entities``).

    Only a clear case changes anything: the value is no known name (any spelling, case
    and spaces aside), the closest name is at least ``ENTITY_MIN_SCORE`` similar, it
    carries the same numbers (a model number is never a typo: "小米12" stays when only
    "小米11" is known), and no other thing comes within ``ENTITY_MARGIN``. A value that
    holds one known name and ends with it, or with a term of another parameter's
    vocabulary or a count ("一包") after it, becomes that name (``named_within``). A
    generic word ("牛奶") or an unknown thing stays as written, for the tool to answer.
    Returns (calls, what changed).
    """
    out: list[ToolCall] = []
    notes: list[str] = []
    for call in calls:
        tool = tools.get(call.name)
        args = dict(call.arguments)
        for key, known in (getattr(tool, "entities", None) or {}).items():
            value = args.get(key)
            if isinstance(value, str) and _norm(value):
                name = closest_entity(value, known)
                if name is None and _canonical(value, known) is None:
                    name = named_within(value, known, _other_terms(tool, key))
                if name is not None and name != value:
                    args[key] = name
                    notes.append(f"{call.name}: {key}={value!r} -> {name!r}")
        out.append(ToolCall(name=call.name, arguments=args, id=call.id))
    return out, notes


def named_within(value: str, known: dict[str, list[str]], after: set[str]) -> str | None:
    """The one known thing ``value`` names when the value ends with its name, or with its
    name and then one of the words ``after`` (normalised) or a count ("一包"); None otherwise.

    The 0.5B copies words around the name into the argument: the request's verb
    ("整点车厘子"), or the property asked about ("小米11 Ultra电池"). Chinese puts the
    thing a phrase is about last, so a name followed by anything else ("苹果15手机壳")
    describes another thing and is left alone. So is a value with two names in it, a name
    that is also one of the words ``after`` (a battery product called "电池"), and a name
    after a word of the thing's own name (the brand in "伊利安慕希": already that thing).
    """
    mentions = _mentions(value, known)
    if len(mentions) != 1:
        return None  # none, or two names ("伊利安慕希": a brand and a line of one thing)
    start, end, canonical = mentions[0]
    if _norm(value[start:end]) in after:
        return None  # a name that is also another parameter's word ("电池")
    before = _norm(value[:start])
    if before and any(before in _norm(w) for w in (canonical, *known[canonical])):
        return None  # the name's own word before it ("伊利" of "伊利安慕希希腊风味酸奶")
    rest = _norm(value[end:])
    return canonical if not rest or rest in after or _COUNT_PHRASE.fullmatch(rest) else None


#: A count and its measure word alone ("一包", "2瓶"): how many, not what.
_COUNT_PHRASE = re.compile(rf"(?:\d+|[一二两三四五六七八九十]+)[{_CLASSIFIERS}]")


def _other_terms(tool: Any, key: str) -> set[str]:
    """Every term of the vocabularies of ``tool``'s parameters other than ``key``, normalised."""
    return {_norm(word) for other, vocab in (getattr(tool, "vocabulary", None) or {}).items() if other != key
            for words in vocab.values() for word in words}


_JOINER = re.compile(r"\s*(?:(?:和|跟|与|及|以及|还有|、|,|/|&|\band\b|\bplus\b)\s*)+", re.IGNORECASE)


_WORD_CHAR = re.compile(r"[a-z0-9]")


def _mentions(text: str, known: dict[str, list[str]]) -> list[tuple[int, int, str]]:
    """(start, end, canonical) of each known name written in ``text``, in order; a name
    inside a longer one ("iPhone 15" in "iPhone 15 Pro") is not a second mention."""
    low = text.lower()
    found: list[tuple[int, int, str]] = []
    for canonical, others in known.items():
        for word in (canonical, *others):
            w = word.lower().strip()
            start = low.find(w) if w else -1
            while start >= 0:
                end = start + len(w)
                if not (_WORD_CHAR.match(low[start - 1:start]) and _WORD_CHAR.match(w[0])
                        or _WORD_CHAR.match(low[end:end + 1]) and _WORD_CHAR.match(w[-1])):
                    found.append((start, end, canonical))  # "rice" is no mention inside "price"
                start = low.find(w, start + 1)
    kept = sorted(set(_outermost(found)))
    return [m for i, m in enumerate(kept) if not any(o[0] == m[0] and o[1] == m[1] for o in kept[:i])]


def _canonical(value: str, known: dict[str, list[str]]) -> str | None:
    """The known thing ``value`` names exactly (any of its names, case and spaces aside)."""
    v = _norm(value)
    return next((c for c, others in known.items() if v in {_norm(w) for w in (c, *others)}), None)


def _named_together(text: str, known: dict[str, list[str]], canonical: str) -> list[tuple[str, str]]:
    """(canonical, as written) of the things named with ``canonical`` in one run joined by
    和/跟/、/and ("车厘子和三文鱼"), ``canonical`` included; [] when it is named alone."""
    runs: list[list[tuple[int, int, str]]] = []
    for m in _mentions(text, known):
        if runs and _JOINER.fullmatch(text[runs[-1][-1][1]:m[0]]):
            runs[-1].append(m)
        else:
            runs.append([m])
    for run in runs:
        if len(run) > 1 and any(c == canonical for _, _, c in run):
            return list(dict.fromkeys((c, text[s:e]) for s, e, c in run))
    return []


def fan_out(calls: list[ToolCall], tools: Any, latest: str) -> tuple[list[ToolCall], list[str]]:
    """Add a call for each thing the user named together with the one a call names
    ("车厘子和三文鱼哪个有优惠？" with only ``get_promotions("三文鱼")`` gets
    ``get_promotions("车厘子")`` too): small models make the first call and stop. Only
    for a tool with one ``Tool.entities`` parameter, names the tool knows joined by 和, 跟,
    、 or "and" in the user's ``latest`` message, and a call whose value is one of them;
    the other arguments are copied ("农夫山泉和五常大米各来一份"). Returns (calls, what was
    added)."""
    out = list(calls)
    notes: list[str] = []
    for call in calls:
        entities = getattr(tools.get(call.name), "entities", None) or {}
        if len(entities) != 1:
            continue
        key, known = next(iter(entities.items()))
        value = call.arguments.get(key)
        if not isinstance(value, str):
            continue
        canonical = _canonical(value, known)
        if canonical is None:
            continue
        have = {_canonical(str(c.arguments.get(key)), known) for c in out if c.name == call.name}
        for other, written in _named_together(latest, known, canonical):
            if other in have:
                continue
            have.add(other)
            out.append(ToolCall(name=call.name, arguments={**call.arguments, key: written},
                                id=f"{call.id}_{len(out)}" if call.id else ""))
            notes.append(f"{call.name}: {key}={written!r} added (named with {value!r})")
    return out, notes


_ORDINAL_CN = re.compile(r"第\s*([一二两三四五六七八九十]|\d{1,2})\s*(?=[个款种台件样项条部只瓶盒袋包家份])|(最后)\s*[一那这]?\s*(?=[个款种台件样项条部只瓶盒袋包家份])")
_ORDINAL_EN = re.compile(r"\bthe\s+(first|second|third|fourth|fifth|last)\b", re.IGNORECASE)
_EN_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": 0}


def ordinal_in(text: str) -> int | None:
    """The position ``text`` refers to ("第一个" 1, "第2款" 2, "the second one" 2; "最后一个",
    "the last one" 0 for the last), or None; "第一次" is no item."""
    m = _ORDINAL_CN.search(text)
    if m:
        if m.group(2):
            return 0
        raw = m.group(1)
        return int(raw) if raw.isdigit() else int(_cn_number(raw))
    m = _ORDINAL_EN.search(text)
    return _EN_ORDINALS[m.group(1).lower()] if m else None


_REFER_EN = frozenset({
    "it", "its", "them", "they", "this", "that", "these", "those", "one", "ones", "of", "the", "a", "an",
    "some", "all", "both", "another", "same", "more", "item", "items", "product", "products", "thing",
    "things", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"})
_REFER_CN = re.compile(r"[这那它们个款种件份只瓶盒袋包些样再来一二两三四五六七八九十几\d\s]+")


def refers_only(value: str) -> bool:
    """Whether a value only points at a thing instead of naming it: "three of them",
    "this one", "这个", "两份" (the 0.5B copies the user's words into ``product_name``)."""
    v = value.strip().lower()
    if not v:
        return False
    if _CJK.search(v):
        return not _REFER_CN.sub("", _PUNCT.sub("", v))
    words = re.findall(r"[a-z]+|\d+", v)
    return bool(words) and all(w in _REFER_EN or w.isdigit() for w in words)


def resolve_referents(calls: list[ToolCall], tools: Any, latest: str,
                      earlier: list[str]) -> tuple[list[ToolCall], list[str]]:
    """Name the thing the user refers to instead of naming it, in a call of a tool with one
    ``Tool.entities`` parameter: an ordinal ("第一个加购物车", "the second one") picks that
    item of the latest earlier turn that lists several known things (a tool result, most
    recent first); a value the conversation never gave (the 0.5B invents "五常大米" for "来两斤"
    after "车厘子多少钱") becomes the one known thing the earlier turns name. ``earlier``:
    the texts of the turns since the user's previous message (their words, tool results,
    replies). Nothing changes when the user names a known thing now, or the referent is
    unclear (two things before and no ordinal: the agent asks). Returns (calls, what changed)."""
    out: list[ToolCall] = []
    notes: list[str] = []
    position = ordinal_in(latest)
    seen = "\n".join([*earlier, latest])
    for call in calls:
        entities = getattr(tools.get(call.name), "entities", None) or {}
        if len(entities) != 1:
            out.append(call)
            continue
        key, known = next(iter(entities.items()))
        value = call.arguments.get(key)
        target: tuple[str, str] | None = None
        if not _mentions(latest, known):
            if position is not None:
                lists = [named for text in reversed(earlier) if len(named := _things(text, known)) >= 2]
                if lists and position <= len(lists[0]):
                    target = lists[0][position - 1]
            elif not isinstance(value, str) or not text_grounded(value, seen) or refers_only(value):
                named = list(dict.fromkeys(t for text in earlier for t in _things(text, known)))
                if len({c for c, _ in named}) == 1:
                    target = named[0]
        if target is None or (isinstance(value, str) and _canonical(value, known) == target[0]):
            out.append(call)
            continue
        notes.append(f"{call.name}: {key}={value!r} -> {target[1]!r} (referred to)")
        out.append(ToolCall(name=call.name, arguments={**call.arguments, key: target[1]}, id=call.id))
    return out, notes


def _things(text: str, known: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(canonical, as written) of the known things ``text`` names, in order, each once."""
    first: dict[str, str] = {}
    for s, e, c in _mentions(text, known):
        first.setdefault(c, text[s:e])
    return list(first.items())


def closest_entity(value: str, known: dict[str, list[str]]) -> str | None:
    """The canonical name ``value`` clearly misspells (see ``resolve_entities``), or None."""
    v = _norm(value)
    numbers = _DIGITS.findall(v)
    scores: list[tuple[float, str]] = []
    for canonical, others in known.items():
        best = 0.0
        for word in (canonical, *others):
            w = _norm(word)
            if w == v:
                return None  # a known name, as the tool knows it
            if not w or v in w or w in v or _DIGITS.findall(w) != numbers:
                continue  # a part or a whole of the name ("牛奶"), or another model number
            best = max(best, fuzz.ratio(_sound_alike(v, w), w))
        scores.append((best, canonical))
    scores.sort(reverse=True)
    if not scores or scores[0][0] < ENTITY_MIN_SCORE:
        return None
    if len(scores) > 1 and scores[0][0] - scores[1][0] < ENTITY_MARGIN:
        return None
    return scores[0][1]


def _sound_alike(value: str, word: str) -> str:
    """``value`` with each Chinese character that sounds like ``word``'s at the same place
    replaced by it: pinyin input makes homophones the usual Chinese typo (五长/五常,
    存/纯, 三/山 with the IME's fuzzy z/zh, c/ch, s/sh and -n/-ng)."""
    if len(value) != len(word) or value == word:
        return value
    return "".join(b if a != b and _readings(a) & _readings(b) else a for a, b in zip(value, word, strict=True))


@functools.lru_cache(maxsize=8192)
def _readings(char: str) -> frozenset[str]:
    """Every toneless pinyin reading of a Chinese character, fuzzy as IMEs match them;
    empty for anything else. ``pypinyin`` (a core dependency) is imported here, at the
    first Chinese misspelling, not at start-up: it loads its dictionaries on import."""
    if not _CJK.match(char):
        return frozenset()
    from pypinyin import Style, pinyin

    out = set()
    for reading in pinyin(char, style=Style.NORMAL, heteronym=True)[0]:
        for long, short in (("zh", "z"), ("ch", "c"), ("sh", "s")):
            if reading.startswith(long):
                reading = short + reading[len(long):]
        out.add(reading[:-1] if reading.endswith("ng") else reading)
    return frozenset(out)


_DIGITS = re.compile(r"\d+")


def _matches(text: str, vocab: dict[str, list[str]]) -> list[tuple[int, int, str, str]]:
    """(start, end, meaning, word) of each meaning's best word found in normalised
    ``text``, in text order, without words that lie inside a longer match."""
    found: list[tuple[int, int, str, str]] = []
    for name, words in vocab.items():
        best: tuple[int, int, str, str] | None = None
        for word in words:
            w = _norm(word)
            at = text.find(w) if w else -1
            if at >= 0 and (best is None or len(w) > best[1] - best[0] or (len(w) == best[1] - best[0] and at < best[0])):
                best = (at, at + len(w), name, word)
        if best is not None:
            found.append(best)
    return sorted(_outermost(found), key=lambda m: m[0])


_Span = TypeVar("_Span", bound=tuple[Any, ...])


def _outermost(found: list[_Span]) -> list[_Span]:
    """The matches (``(start, end, ...)``) that lie inside no longer match."""
    return [m for m in found if not any(o[0] <= m[0] and m[1] <= o[1] and o[1] - o[0] > m[1] - m[0] for o in found)]


_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def _norm(text: str) -> str:
    return _PUNCT.sub("", text.lower())


def _longest_common(a: str, b: str) -> int:
    """Length of the longest common substring (a is short: a value, b the evidence)."""
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if a[i:j] in b:
                best = j - i
            else:
                break
    return best


def text_grounded(value: str, evidence: str) -> bool:
    """Whether a string value could come from the evidence: it appears there, or shares at
    least two characters in a row with it ("三斤车厘子" / "来个三斤车厘子"). A value in a script
    the evidence does not use (a Chinese city for an English question) cannot be judged
    and counts as grounded: the tool itself resolves names across languages. A short form
    of a name said counts too (``codes.abbreviates``: "Dollar" -> ``USD``, "New York City"
    -> ``NYC``)."""
    v, e = _norm(value), _norm(evidence)
    if not v or v in e or abbreviates(value, evidence):
        return True
    if (_CJK.search(v) and not _CJK.search(e)) or (_LATIN.search(v) and not _CJK.search(v) and not _LATIN.search(e)):
        return True
    return _longest_common(v, e) >= min(2, len(v))


def missing_required(calls: list[ToolCall], tools: Any, evidence: str) -> tuple[str, str] | None:
    """The first required string argument whose value appears nowhere in the conversation
    (the user's words, earlier turns, tool results): (tool, parameter), or None.

    Small models invent what the user left out (a plate number, a city, a date) instead
    of asking; the agent asks instead of sending the invented value. For a parameter
    with known things (``Tool.entities``), a value that is none of them but a term of
    another parameter's vocabulary was not given either: for "后天天气怎么样" the 0.5B
    wrote ``city="后天"``, the day the user said.
    """
    for call in calls:
        schema = _schema(tools, call.name)
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            value = call.arguments.get(key)
            if not isinstance(value, str) or props.get(key, {}).get("enum"):
                continue
            if value == props.get(key, {}).get("default"):
                continue
            tool = tools.get(call.name)
            said = _known_said(value, key, tool, evidence)
            if said is False or (said is None and not text_grounded(value, evidence)) \
                    or _claimed_elsewhere(value, key, tool):
                return call.name, key
    return None


def _known_said(value: str, key: str, tool: Any, evidence: str) -> bool | None:
    """For a parameter with known things (``Tool.entities``): whether the thing ``value``
    names was said under any of its names; False for a value that only points at one
    ("three of them", ``refers_only``); None when it names no known thing.

    A name in a script the user's words do not use cannot be read in them, but the thing's
    other names can: "三文鱼" for "Add three of them to my cart" was never said (the user
    said none of salmon's names), "三文鱼" for "Add three salmon" was. A Chinese name
    counts when it shares two characters in a row with the words, any other when it
    shares four letters in a row (two, as ``text_grounded`` allows, would let "al" in
    "sale" say "Yili Ambpoial Greek Yogurt")."""
    known = (getattr(tool, "entities", None) or {}).get(key)
    if not known:
        return None
    canonical = _canonical(value, known)
    if canonical is None:
        return False if refers_only(value) else None
    e = _norm(evidence)
    for name in (canonical, *known[canonical]):
        n = _norm(name)
        if n and (n in e or _longest_common(n, e) >= min(len(n), 2 if _CJK.search(n) else 4)):
            return True
    return False


def _claimed_elsewhere(value: str, key: str, tool: Any) -> bool:
    """Whether ``value``, for a parameter with known things (``Tool.entities``), names none
    of them and is exactly a term of another parameter's vocabulary (a day for a city).
    Parameters without known things are left alone: a category "火锅" is also a scenario."""
    known = (getattr(tool, "entities", None) or {}).get(key)
    v = _norm(value)
    if not known or not v or any(v in _norm(w) or _norm(w) in v for c, ws in known.items() for w in (c, *ws) if _norm(w)):
        return False
    return v in _other_terms(tool, key)


def parameter_label(tools: Any, tool_name: str, param: str) -> str:
    """What to call a parameter when asking for it: its description's first clause, in
    the middle of a sentence ("The currency to convert to." -> "the currency to convert
    to"; an acronym such as "ISO code" keeps its capitals)."""
    tool = tools.get(tool_name)
    desc = str(((tool.parameters or {}).get("properties", {}).get(param, {}) if tool else {}).get("description") or "")
    first = re.split(r"[，,。(（;；]|例如|e\.g\.|\.(?:\s|$)", desc, maxsplit=1)[0].strip()
    if len(first) > 1 and first[0].isupper() and first[1].islower():
        first = first[0].lower() + first[1:]
    return first or param


_SCHEMA_KEYS = {"type", "properties", "required", "description", "title"}


def unwrap_schema_echo(calls: list[ToolCall], tools: Any) -> tuple[list[ToolCall], bool]:
    """Undo a small model's "schema echo": arguments written as ``{"type": "object",
    "properties": {"city": "北京"}}`` (the parameters schema with values filled in).

    Only values that are not themselves schema fragments are kept. Returns (calls, changed).
    """
    out: list[ToolCall] = []
    changed = False
    for call in calls:
        args = call.arguments
        props = args.get("properties")
        params = _tool_params(tools, call.name)
        if (
            isinstance(props, dict)
            and set(args) <= _SCHEMA_KEYS
            and "properties" not in params
        ):
            values = {
                k: v
                for k, v in props.items()
                if not (isinstance(v, dict) and set(v) & {"type", "description"})
            }
            if values:
                call = ToolCall(name=call.name, arguments=values, id=call.id)
                changed = True
        out.append(call)
    return out, changed


def validate_calls(calls: list[ToolCall], tools: Any, said: str | None = None) -> str | None:
    """The first problem a model can fix in these calls, in words; None when all are fine.

    Uses each Tool's own ``validate`` (pydantic), so what passes here will not fail
    argument validation at execution. With the user's words (``said``), a value that is
    its parameter's type name the user never wrote is a problem too (``type_echoes``).
    """
    problems: list[str] = []
    for call in calls:
        tool = tools.get(call.name)
        if tool is None:
            problems.append(
                f"unknown tool {call.name!r}; available tools: " + ", ".join(tools.names)
            )
            continue
        try:
            tool.validate(call.arguments)
        except ValueError as exc:  # ToolArgumentError: the model can fix it
            problems.append(str(exc))
            continue
        if said is not None:
            problems += [f"{call.name}: {key}={value!r} is the parameter's type, not a value; give the value the "
                         "user asked for" for key, value in type_echoes(call, tool, said)]
    return "; ".join(problems) or None


_TYPE_NAMES = frozenset({"string", "str", "integer", "int", "number", "float", "boolean", "bool", "array",
                         "list", "object", "dict"})


def type_echoes(call: ToolCall, tool: Any, said: str) -> list[tuple[str, str]]:
    """The string arguments whose value is their own parameter's type name, copied from the
    signature and never written by the user (BFCL multiple_77: ``type="string"`` for an
    artwork's kind)."""
    props = (tool.parameters or {}).get("properties", {})
    out = []
    for key, value in call.arguments.items():
        spec = props.get(key)
        if isinstance(spec, dict) and spec.get("type") == "string" and "enum" not in spec and \
                isinstance(value, str) and value.strip().lower() in _TYPE_NAMES and value.lower() not in said.lower():
            out.append((key, value))
    return out


def coerce_calls(calls: list[ToolCall], tools: Any) -> list[ToolCall]:
    """The calls with each given argument replaced by its validated value ("3" -> 3 for an
    integer), so what is recorded and judged is what the tool receives. Defaults are not
    added, and values that are not plain JSON (pydantic objects, enums) stay as given."""
    out: list[ToolCall] = []
    for call in calls:
        tool = tools.get(call.name)
        try:
            valid = tool.validate(call.arguments) if tool is not None else {}
        except ValueError:
            valid = {}
        args = {
            k: valid[k] if k in valid and _plain_json(valid[k]) else v
            for k, v in call.arguments.items()
        }
        out.append(ToolCall(name=call.name, arguments=args, id=call.id))
    return out


def _plain_json(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    return False


# -- constrained regeneration --------------------------------------------------------


def tool_json_schema(tools: Any, allow_answer: bool = True, said: str | None = None) -> dict[str, Any]:
    """A JSON schema admitting one call of a registered tool, or ``{"answer": "..."}``.

    ``allow_answer=False`` leaves only the calls (for callers that must get a call; the
    agent keeps the answer admitted so a confused model is never forced to act). With
    ``said`` (the user's words) and no number in them, optional numeric parameters are
    left out (``without_unsaid_numbers``).
    """
    options: list[dict[str, Any]] = []
    for spec in tools.specs():
        fn = spec["function"]
        params = standard_schema(dict(fn.get("parameters") or {"type": "object", "properties": {}}))
        if said is not None:
            params = without_unsaid_numbers(params, said)
        params.setdefault("type", "object")
        params["additionalProperties"] = False
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": fn["name"]}, "arguments": params},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    if allow_answer:
        options.append(
            {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
                "additionalProperties": False,
            }
        )
    return {"anyOf": options}


def worded_numbers(text: str) -> set[float]:
    """The numbers ``text`` writes as English words ("three", "a dozen")."""
    return {float(n) for w, n in _EN_NUMBERS.items() if re.search(rf"\b{w}\b", text, re.IGNORECASE)}


def says_a_number(text: str) -> bool:
    """Whether ``text`` holds a number in any form ``numbers_in`` or a count reads."""
    return bool(numbers_in(text) or worded_numbers(text))


def without_unsaid_numbers(params: dict[str, Any], said: str) -> dict[str, Any]:
    """A parameters schema (standard types) without its optional ``number`` and
    ``integer`` parameters when the user said no number at all.

    ``drop_ungrounded`` removes any such value anyway (and one equal to the default
    changes nothing: the tool applies it), so under a grammar the model is not let spend
    tokens on one: the tuned 0.5B wrote ``"max_price": 1000000000000000, "limit": 1``
    after "推荐点肉类" (37 decoded tokens where the call needed 10). Bounding them to the
    digits of the longest number said, when one was, was tried and dropped: a value cut
    short can become a number the user said for something else ("max_price": 10 from a
    count of 10, dev split recommend-014)."""
    props = params.get("properties")
    if not isinstance(props, dict) or says_a_number(said):
        return params
    required = set(params.get("required") or [])
    keep = {k: v for k, v in props.items()
            if k in required or not (isinstance(v, dict) and v.get("type") in ("number", "integer"))}
    return params if len(keep) == len(props) else {**params, "properties": keep}


_GBNF_JSON = r"""
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9]{1,15})? ws
ws     ::= | " " | "\n" [ \t]{0,20}
"""


def tool_grammar(tools: Any, allow_answer: bool = True) -> str:
    """A GBNF grammar with the same two shapes as ``tool_json_schema``.

    Only the tool name is restricted here (arguments are any JSON object); validation
    after decoding catches the rest. Used for backends with grammars but no JSON schema.
    """
    names = " | ".join(json.dumps(json.dumps(n)) for n in tools.names) or '"\\"\\""'
    return (
        f'root ::= "{{" ws ( call{" | answer" if allow_answer else ""} ) "}}" ws\n'
        'call ::= "\\"name\\"" ws ":" ws toolname "," ws "\\"arguments\\"" ws ":" ws object\n'
        'answer ::= "\\"answer\\"" ws ":" ws string\n'
        f"toolname ::= ( {names} ) ws\n" + _GBNF_JSON
    )


def tool_constraint(model: Any, tools: Any, allow_answer: bool = True, said: str | None = None) -> Constraint | None:
    """The constraint this model can honour, preferring a JSON schema; None if neither.

    With one tool and no answer branch every output starts ``{"name": "<tool>",
    "arguments": {"<first required parameter>": "``; that is the constraint's ``prefix``,
    which a backend may write instead of decoding (about fourteen constrained steps per
    routed call, see ``call_prefix``). ``said``: the user's words, when the numbers they
    lack would be dropped from the call (``without_unsaid_numbers``).
    """
    prefix = call_prefix(tools.specs()[0]["function"]) if len(tools.names) == 1 and not allow_answer else ""
    if getattr(model, "supports_json_schema", False):
        return Constraint(json_schema=tool_json_schema(tools, allow_answer, said), prefix=prefix)
    if getattr(model, "supports_grammar", False):
        return Constraint(grammar=tool_grammar(tools, allow_answer), prefix=prefix)
    return None


def answer_constraint(model: Any) -> Constraint | None:
    """A constraint admitting only ``{"answer": "..."}``, for the ladder's last rung: the
    model answers (says what is missing or cannot be done) instead of calling again."""
    if getattr(model, "supports_json_schema", False):
        return Constraint(json_schema=ANSWER_SCHEMA, prefix=ANSWER_PREFIX)
    if getattr(model, "supports_grammar", False):
        return Constraint(grammar='root ::= "{" ws "\\"answer\\"" ws ":" ws string "}" ws\n' + _GBNF_JSON,
                          prefix=ANSWER_PREFIX)
    return None


ANSWER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}},
                                 "required": ["answer"], "additionalProperties": False}
ANSWER_PREFIX = '{"answer": "'


def call_prefix(function: dict[str, Any]) -> str:
    """How every constrained call of this tool (an OpenAI ``function`` spec) starts,
    written as the model writes JSON: the name, and the arguments up to the first
    required parameter's value (its opening quote for a string). llama.cpp's JSON-schema
    grammar writes required properties first, in declared order, so nothing else can
    come there; each character written here is a decoding step saved."""
    prefix = '{"name": ' + json.dumps(function["name"], ensure_ascii=False) + ', "arguments": {'
    params = standard_schema(dict(function.get("parameters") or {}))
    props = params.get("properties") or {}
    required = set(params.get("required") or [])
    first = next((k for k in props if k in required), None)
    if first is None:
        return prefix
    prefix += json.dumps(first, ensure_ascii=False) + ": "
    return prefix + '"' if (props[first] or {}).get("type") == "string" else prefix


@dataclass
class ConstrainedOutput:
    """What a constrained generation decoded to: calls, or an answer, or an error."""

    calls: list[ToolCall]
    answer: str | None
    error: str | None


def parse_constrained(text: str) -> ConstrainedOutput:
    """Read what a constrained generation produced: ``{"name", "arguments"}`` or ``{"answer"}``.

    A backend that ignored the constraint may still answer in its usual tool-call form,
    so anything ``parse_tool_calls`` reads is accepted too.
    """
    try:
        value, _ = loads_lenient(text.strip())
    except ValueError as exc:
        value, error = None, f"constrained output is not JSON: {exc}"
    else:
        error = "constrained output is neither a call nor an answer"
    if isinstance(value, dict) and set(value) == {"answer"}:
        return ConstrainedOutput([], str(value["answer"]), None)
    parsed = parse_tool_calls(text)
    if parsed.calls:
        return ConstrainedOutput(parsed.calls, None, None)
    return ConstrainedOutput([], None, parsed.error or error)
