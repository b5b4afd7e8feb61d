"""Where an example bank's examples come from: eval case files, bad cases with corrected
expectations, and sessions a user marks good.

An eval case's expectation lists allowed values per argument; its example takes the first
allowed value of each argument that was given (``""`` marks an optional one left out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kapibara.agent.examples import Example
from kapibara.errors import DataError
from kapibara.evals.cases import Case, case_from_dict
from kapibara.models.base import Message, ToolCall
from kapibara.models.base import message_calls as base_message_calls


def calls_from_expected(expected: list[list[dict[str, dict[str, list[Any]]]]]) -> list[ToolCall]:
    """Concrete calls from an expectation: its first acceptable call set, each argument's
    first allowed value, optional arguments that may be left out left out."""
    if not expected:
        return []
    calls = []
    for item in expected[0]:
        ((name, params),) = item.items()
        args = {k: v[0] for k, v in params.items() if v and v[0] not in ("", None)}
        calls.append(ToolCall(name=name, arguments=args))
    return calls


def example_from_case(case: Case, source: str = "") -> Example:
    """The example a case stands for (system messages dropped)."""
    messages = [m for m in case.messages if m.get("role") != "system"]
    answer = ""
    if not case.expected and case.answer and case.answer.get("example"):
        answer = str(case.answer["example"])
    return Example(messages=messages, calls=calls_from_expected(case.expected), answer=answer,
                   source=source or f"case:{case.id}")


def examples_from_file(path: str | Path) -> list[Example]:
    """Examples from a JSONL file of eval cases, exported bad cases (their ``expected`` is
    the corrected expectation) or examples (``messages`` + ``calls``/``answer``)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"no such file: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read: {exc}") from None
    out: list[Example] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{p}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object")
        if "input" in obj and "context" in obj and "expected" in obj:  # an exported bad case
            messages: list[Message] = [*obj["context"], {"role": "user", "content": obj["input"]}]
            messages = [m for m in messages if m.get("role") in ("user", "assistant", "tool")]
            last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
            expected = obj["expected"]  # the run's acceptable call sets: a list of lists
            if isinstance(expected, list) and expected and isinstance(expected[0], list):
                expected = {"one_of": expected}
            case = case_from_dict({"id": obj.get("id", f"line{n}"), "category": obj.get("category", ""),
                                   "messages": messages[: last + 1], "tools": obj.get("tools") or [],
                                   "expected": expected or "no_call"}, where)
            out.append(example_from_case(case, f"badcase:{case.id}"))
        elif "expected" in obj:
            case = case_from_dict(obj, where)
            out.append(example_from_case(case, f"{p.name}:{case.id}"))
        else:
            out.append(Example.from_dict(obj, where))
    return out


def examples_from_conversation(messages: list[Message], source: str) -> list[Example]:
    """One example per decision a conversation records: each user message that an
    assistant turn follows, labelled with that turn's calls (none: its answer), the earlier
    turns as history. For training samples (OpenAI chat with ``tool_calls``), whose
    decisions can teach a router."""
    turns = [m for m in messages if m.get("role") in ("user", "assistant", "tool")]
    out: list[Example] = []
    for i, m in enumerate(turns[:-1]):
        reply = turns[i + 1]
        if m.get("role") != "user" or reply.get("role") != "assistant":
            continue
        calls = message_calls(reply)
        out.append(Example(messages=turns[: i + 1], calls=calls,
                           answer="" if calls else str(reply.get("content") or ""), source=source))
    return out


def message_calls(message: Message) -> list[ToolCall]:
    """The calls an OpenAI-style assistant message makes (``tool_calls``), arguments parsed."""
    try:
        return [ToolCall(c.name, c.arguments) for c in base_message_calls(message)]
    except json.JSONDecodeError as exc:
        raise DataError(f"tool call arguments are not JSON: {exc.msg}") from None


def example_from_session(messages: list[Message], source: str) -> Example:
    """The latest user turn of a stored session and the calls the agent made for it (a
    conversation the user marks good); no calls: its answer is kept."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    if last < 0:
        raise DataError("the session has no user message")
    calls: list[ToolCall] = []
    answer = ""
    for m in messages[last + 1:]:
        calls += message_calls(m)
        if m.get("role") == "assistant" and not m.get("tool_calls") and m.get("content"):
            answer = str(m["content"])
    history = [m for m in messages[:last] if m.get("role") in ("user", "assistant", "tool")]
    return Example(messages=[*history, messages[last]], calls=calls if calls else [],
                   answer="" if calls else answer, source=source)
