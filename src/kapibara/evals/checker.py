"""BFCL's AST rules for judging tool calls, written from their description.

A call is right when: the function name is exactly an expected one; every required
parameter is present; no parameter is one the function does not define (or that the
possible answer does not list); every value has the declared type (an int is accepted
for a float, a bool is never a number, a string is never coerced to a number); and every
value is one of the allowed values. Strings are compared after removing spaces and
``,./-_*^`` and lowercasing; lists element by element in order; dicts key by key.
Several expected calls (parallel) are matched to the calls made in any order. A case that
expects no call is right only when no call is made.

``check_calls`` returns a :class:`CheckResult` naming the first rule that failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kapibara.evals.cases import ExpectedCall, function_of
from kapibara.models.base import ToolCall, ToolSpec

# Rule names, as recorded per case and shown in reports.
NO_CALL_EXPECTED = "no_call_expected"  # a call was made where none should be
CALL_EXPECTED = "call_expected"  # no call was made where one should be
WRONG_COUNT = "wrong_count"  # a different number of calls than expected
WRONG_FUNCTION = "wrong_function"  # function name not the expected one
MISSING_REQUIRED = "missing_required"  # a parameter the function requires is absent
MISSING_PARAM = "missing_param"  # a parameter the answer needs (not marked "") is absent
UNEXPECTED_PARAM = "unexpected_param"  # a parameter the function does not define / answer omits
TYPE_MISMATCH = "type_mismatch"
VALUE_MISMATCH = "value_mismatch"
ANSWER_MISMATCH = "answer_mismatch"  # the reply text failed a contains/regex check
MALFORMED = "malformed"  # the output looked like a call but did not parse
ERROR = "error"  # the model or agent raised

RULES = (
    NO_CALL_EXPECTED,
    CALL_EXPECTED,
    WRONG_COUNT,
    WRONG_FUNCTION,
    MISSING_REQUIRED,
    MISSING_PARAM,
    UNEXPECTED_PARAM,
    TYPE_MISMATCH,
    VALUE_MISMATCH,
    ANSWER_MISMATCH,
    MALFORMED,
    ERROR,
)

_STRIP_RE = re.compile(r"[ ,./\-_*^]")


@dataclass
class CheckResult:
    """Verdict on one case: overall, on tool choice alone, and the first failed rule."""

    correct: bool
    tool_correct: bool
    rule: str | None = None
    detail: str = ""


def normalize_string(s: str) -> str:
    """BFCL's string normalisation: drop spaces and ``,./-_*^``, lowercase."""
    return _STRIP_RE.sub("", s).lower()


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def type_ok(value: Any, schema: dict[str, Any] | None) -> bool:
    """Whether ``value`` has the JSON-schema/BFCL type in ``schema`` (recursively)."""
    if not schema:
        return True
    t = schema.get("type")
    if isinstance(t, list):  # JSON schema unions such as ["string", "null"]
        return any(type_ok(value, {**schema, "type": one}) for one in t)
    if t in (None, "any"):
        return True
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t in ("number", "float"):
        return _is_number(value)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "null":
        return value is None
    if t in ("array", "tuple"):
        if not isinstance(value, list):
            return False
        items = schema.get("items")
        return all(type_ok(v, items) for v in value) if isinstance(items, dict) else True
    if t in ("object", "dict"):
        if not isinstance(value, dict):
            return False
        props = schema.get("properties")
        if isinstance(props, dict):
            return all(type_ok(v, props.get(k)) for k, v in value.items())
        return True
    return True  # an unknown type name is the tool author's problem, not the model's


def value_matches(value: Any, allowed: Any) -> bool:
    """Whether ``value`` equals one allowed value under BFCL's comparison rules."""
    if isinstance(value, str) and isinstance(allowed, str):
        return normalize_string(value) == normalize_string(allowed)
    if isinstance(value, bool) or isinstance(allowed, bool):
        return isinstance(value, bool) and isinstance(allowed, bool) and value == allowed
    if _is_number(value) and _is_number(allowed):
        return bool(value == allowed)
    if isinstance(value, list) and isinstance(allowed, list):
        return len(value) == len(allowed) and all(
            value_matches(v, a) for v, a in zip(value, allowed, strict=True)
        )
    if isinstance(value, dict) and isinstance(allowed, dict):
        return _dict_matches(value, allowed)
    return bool(value == allowed) and type(value) is type(allowed)


def _dict_matches(value: dict[str, Any], allowed: dict[str, Any]) -> bool:
    # In possible answers a dict's values are themselves lists of alternatives.
    for k, v in value.items():
        if k not in allowed:
            return False
        alts = allowed[k] if isinstance(allowed[k], list) else [allowed[k]]
        if not _allowed_matches(v, alts):
            return False
    for k, alts in allowed.items():
        if k not in value and not (isinstance(alts, list) and "" in alts):
            return False
    return True


def _allowed_matches(value: Any, allowed: list[Any]) -> bool:
    return any(value_matches(value, a) for a in allowed if not (a == "" and value != ""))


def schema_index(tools: list[ToolSpec]) -> dict[str, dict[str, Any]]:
    """Function name -> its parameters schema."""
    out: dict[str, dict[str, Any]] = {}
    for spec in tools:
        fn = function_of(spec)
        if isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            out[fn["name"]] = params if isinstance(params, dict) else {}
    return out


def check_one(
    expected: ExpectedCall, call: ToolCall, schemas: dict[str, dict[str, Any]]
) -> tuple[str, str] | None:
    """Check one call against one expected call. ``None`` if right, else (rule, detail)."""
    (name, answer), = expected.items()
    if call.name != name:
        return WRONG_FUNCTION, f"called {call.name!r}, expected {name!r}"
    schema = schemas.get(name, {})
    props: dict[str, Any] = schema.get("properties") or {}
    required = schema.get("required") or []
    args = call.arguments if isinstance(call.arguments, dict) else {}
    for p in required:
        if p not in args:
            return MISSING_REQUIRED, f"{name}: required parameter {p!r} is missing"
    for p, v in args.items():
        if p not in props:
            return UNEXPECTED_PARAM, f"{name}: the function has no parameter {p!r}"
        if p not in answer:
            return UNEXPECTED_PARAM, f"{name}: parameter {p!r} should not be given"
        if v is None and None in answer[p]:
            continue  # the case author allows null explicitly ("no limit"), whatever the type
        if not type_ok(v, props[p]):
            return TYPE_MISMATCH, f"{name}.{p}: {v!r} is not of type {props[p].get('type')!r}"
        if not _allowed_matches(v, answer[p]):
            shown = [a for a in answer[p] if a != ""]
            return VALUE_MISMATCH, f"{name}.{p}: {v!r} not in {shown!r}"
    for p, allowed in answer.items():
        if p not in args and "" not in allowed:
            return MISSING_PARAM, f"{name}: parameter {p!r} is missing"
    return None


def _names_match(expected: list[ExpectedCall], calls: list[ToolCall]) -> bool:
    want = sorted(next(iter(e)) for e in expected)
    return want == sorted(c.name for c in calls)


def _match_all(
    expected: list[ExpectedCall], calls: list[ToolCall], schemas: dict[str, dict[str, Any]]
) -> bool:
    """Order-free perfect matching of expected calls to calls made (backtracking)."""
    ok = [[check_one(e, c, schemas) is None for c in calls] for e in expected]
    used = [False] * len(calls)

    def assign(i: int) -> bool:
        if i == len(expected):
            return True
        for j in range(len(calls)):
            if ok[i][j] and not used[j]:
                used[j] = True
                if assign(i + 1):
                    return True
                used[j] = False
        return False

    return assign(0)


def _first_failure(
    expected: list[ExpectedCall], calls: list[ToolCall], schemas: dict[str, dict[str, Any]]
) -> tuple[str, str]:
    """The most telling failure: for the first unmatched expected call, prefer a same-name call."""
    remaining = list(calls)
    for e in expected:
        hit = next((c for c in remaining if check_one(e, c, schemas) is None), None)
        if hit is not None:
            remaining.remove(hit)
            continue
        name = next(iter(e))
        same = [c for c in remaining if c.name == name] or remaining or list(calls)
        failure = check_one(e, same[0], schemas)
        if failure is not None:
            return failure
    return WRONG_FUNCTION, "calls do not match the expected set"


def check_calls(
    expected: list[list[ExpectedCall]], calls: list[ToolCall], tools: list[ToolSpec]
) -> CheckResult:
    """Judge the calls made against the acceptable call sets (empty = no call expected)."""
    if not expected:
        if calls:
            names = ", ".join(c.name for c in calls)
            return CheckResult(False, False, NO_CALL_EXPECTED, f"called {names} but no call fits")
        return CheckResult(True, True)
    if not calls:
        return CheckResult(False, False, CALL_EXPECTED, "no call was made")
    schemas = schema_index(tools)
    tool_correct = any(_names_match(alt, calls) for alt in expected)
    failures: list[tuple[str, str]] = []
    for alt in expected:
        if len(alt) != len(calls):
            failures.append((WRONG_COUNT, f"made {len(calls)} call(s), expected {len(alt)}"))
            continue
        if _match_all(alt, calls, schemas):
            return CheckResult(True, True)
        failures.append(_first_failure(alt, calls, schemas))
    # Report the failure of the alternative whose tool names matched, if any.
    best = next(
        (f for alt, f in zip(expected, failures, strict=True) if _names_match(alt, calls)),
        failures[0],
    )
    return CheckResult(False, tool_correct, best[0], best[1])


def check_answer(answer: dict[str, Any] | None, text: str) -> tuple[str, str] | None:
    """Apply a case's ``answer`` checks to reply text. ``None`` if they pass."""
    if not answer:
        return None
    for needle in answer.get("contains") or []:
        if normalize_string(str(needle)) not in normalize_string(text or ""):
            return ANSWER_MISMATCH, f"reply does not contain {needle!r}"
    pattern = answer.get("regex")
    if pattern and not re.search(pattern, text or ""):
        return ANSWER_MISMATCH, f"reply does not match /{pattern}/"
    return None
