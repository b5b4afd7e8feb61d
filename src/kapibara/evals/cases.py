"""The evaluation case format and its loader.

One case per JSONL line::

    {"id": "cart-001", "category": "add_to_cart",
     "messages": [{"role": "user", "content": "来两箱农夫山泉"}],
     "tools": "demo",
     "expected": [{"add_to_cart": {"product_name": ["农夫山泉"], "quantity": [2]}}]}

``tools`` is a list of inline tool specs (OpenAI ``{"type": "function", "function": ...}``
or bare ``{"name", "description", "parameters"}``) or the name of a tool set registered
with ``kapibara.toolsets.register_toolset`` (``"demo"``, registered by importing
``kapibara.demo``). ``expected`` is ``"no_call"``, a list of calls that must all be made (matched
order-free, BFCL possible-answer style: function -> parameter -> allowed values, ``""``
marking an optional parameter), or ``{"one_of": [[calls...], [calls...]]}`` when several
different call sets are acceptable. ``answer`` optionally checks the reply text:
``{"contains": ["..."], "regex": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kapibara.errors import DataError
from kapibara.fileio import write_atomic, write_jsonl_atomic
from kapibara.models.base import Message, ToolSpec
from kapibara.toolsets import toolset_entry

NO_CALL = "no_call"

ExpectedCall = dict[str, dict[str, list[Any]]]
"""``{function_name: {param: [allowed values]}}``; ``""`` in the list = may be omitted."""


@dataclass
class Case:
    """One evaluation case. ``expected`` is a list of acceptable call sets; empty = no call."""

    id: str
    category: str
    messages: list[Message]
    tools: list[ToolSpec] | str
    expected: list[list[ExpectedCall]] = field(default_factory=list)
    answer: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def expects_call(self) -> bool:
        return bool(self.expected)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL form of the case (inverse of :func:`case_from_dict`)."""
        if not self.expected:
            expected: Any = NO_CALL
        elif len(self.expected) == 1:
            expected = self.expected[0]
        else:
            expected = {"one_of": self.expected}
        out: dict[str, Any] = {
            "id": self.id,
            "category": self.category,
            "messages": self.messages,
            "tools": self.tools,
            "expected": expected,
        }
        if self.answer:
            out["answer"] = self.answer
        if self.meta:
            out["meta"] = self.meta
        return out


def resolve_tools(tools: list[ToolSpec] | str) -> list[ToolSpec]:
    """Inline specs pass through (normalised to the OpenAI shape); a name is looked up
    among the registered tool sets (``kapibara.toolsets``; importing ``kapibara.demo``
    registers ``"demo"``)."""
    if isinstance(tools, str):
        return [normalize_spec(t) for t in toolset_entry(tools).specs()]
    return [normalize_spec(t) for t in tools]


def normalize_spec(spec: dict[str, Any]) -> ToolSpec:
    """``{"name", "description", "parameters"}`` -> ``{"type": "function", "function": ...}``."""
    if spec.get("type") == "function" and isinstance(spec.get("function"), dict):
        return spec
    return {"type": "function", "function": spec}


def function_of(spec: ToolSpec) -> dict[str, Any]:
    """The ``{"name", "description", "parameters"}`` part of a tool spec."""
    fn = spec.get("function", spec)
    return fn if isinstance(fn, dict) else {}


def _problem(where: str, what: str) -> DataError:
    return DataError(f"{where}: {what}", hint="see docs/evals.md for the case format")


def _check_expected_call(call: Any, where: str) -> ExpectedCall:
    if not isinstance(call, dict) or len(call) != 1:
        raise _problem(where, "each expected call must be {function_name: {param: [values]}}")
    (name, params), = call.items()
    if not isinstance(params, dict):
        raise _problem(where, f"expected call {name!r}: parameters must be an object")
    for p, allowed in params.items():
        if not isinstance(allowed, list) or not allowed:
            raise _problem(
                where, f"expected call {name!r}: parameter {p!r} needs a non-empty list of allowed values"
            )
    return {str(name): params}


def _parse_expected(raw: Any, where: str) -> list[list[ExpectedCall]]:
    if raw == NO_CALL or raw == []:
        return []
    if isinstance(raw, dict) and set(raw) == {"one_of"}:
        sets = raw["one_of"]
        if not isinstance(sets, list) or not sets or not all(isinstance(s, list) and s for s in sets):
            raise _problem(where, "'one_of' must be a non-empty list of non-empty call lists")
        return [[_check_expected_call(c, where) for c in s] for s in sets]
    if isinstance(raw, list):
        return [[_check_expected_call(c, where) for c in raw]]
    raise _problem(where, f"'expected' must be \"no_call\", a list of calls or {{\"one_of\": ...}}, got {raw!r}")


def case_from_dict(obj: Any, where: str = "case") -> Case:
    """Validate one decoded case; ``where`` (``file:line``) prefixes error messages."""
    if not isinstance(obj, dict):
        raise _problem(where, "a case must be a JSON object")
    missing = [k for k in ("id", "messages", "tools", "expected") if k not in obj]
    if missing:
        raise _problem(where, "missing field(s) " + ", ".join(missing))
    unknown = set(obj) - {"id", "category", "messages", "tools", "expected", "answer", "meta"}
    if unknown:
        raise _problem(where, "unknown field(s) " + ", ".join(sorted(unknown)))
    msgs = obj["messages"]
    if not isinstance(msgs, list) or not msgs:
        raise _problem(where, "'messages' must be a non-empty list")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or "role" not in m:
            raise _problem(where, f"message {i} must be an object with a 'role'")
        if m["role"] not in ("system", "user", "assistant", "tool"):
            raise _problem(where, f"message {i} has unknown role {m['role']!r}")
    if msgs[-1]["role"] not in ("user", "tool"):
        raise _problem(where, "the last message must be from the user (or a tool result)")
    tools = obj["tools"]
    if isinstance(tools, list):
        for i, t in enumerate(tools):
            fn = function_of(t) if isinstance(t, dict) else {}
            if not isinstance(fn.get("name"), str):
                raise _problem(where, f"tool {i} has no name")
    elif not isinstance(tools, str):
        raise _problem(where, "'tools' must be a list of tool specs or a tool set name")
    answer = obj.get("answer")
    if answer is not None and (not isinstance(answer, dict) or set(answer) - {"contains", "regex"}):
        raise _problem(where, "'answer' may only hold 'contains' (list) and 'regex' (string)")
    return Case(
        id=str(obj["id"]),
        category=str(obj.get("category") or "default"),
        messages=msgs,
        tools=tools,
        expected=_parse_expected(obj["expected"], where),
        answer=answer,
        meta=dict(obj.get("meta") or {}),
    )


def load_cases(path: str | Path) -> list[Case]:
    """Read a JSONL case file; blank lines are skipped, ids must be unique."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"case file not found: {p}", hint="give a .jsonl path or a named dataset")
    cases: list[Case] = []
    seen: set[str] = set()
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _problem(where, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise _problem(where, "JSON nested too deeply") from None
            case = case_from_dict(obj, where)
            if case.id in seen:
                raise _problem(where, f"duplicate case id {case.id!r}")
            seen.add(case.id)
            cases.append(case)
    return cases


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as JSONL atomically (temp file in the same folder, then ``os.replace``)."""
    write_jsonl_atomic(path, rows)


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    write_atomic(path, text)


def iter_last_user(messages: list[Message]) -> Iterator[str]:
    """Contents of user messages, last first (for reports and bad-case export)."""
    for m in reversed(messages):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            yield m["content"]
