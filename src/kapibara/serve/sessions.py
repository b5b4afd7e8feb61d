"""Sessions as the web UI shows them: a list, and one session's turns with their traces.

The store keeps every trace record of a session (``agent/trace.py``: ``run_start``,
``model_call``, ``decision``, ``tool_call``, ``run_end``...). ``turns`` groups them by
run, one run per turn, and keeps what a person reading a trace looks at: each model call
with its repair rung, tokens and timings, the rungs that fired, each tool call with its
duration. The exact prompts stay in the store (``kapibara sessions export``): the demo's
prompt is ~2.6k tokens per model call, too much to send to a browser for every turn.
"""

from __future__ import annotations

from typing import Any

from kapibara.models.base import Message

RAW_CHARS = 2000
"""Characters of a model's raw output or a tool's output kept per record in a turn."""


def turns(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The session's turns, oldest first, from its trace records (grouped by ``run_id``)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for record in traces:
        runs.setdefault(str(record.get("run_id", "")), []).append(record)
    return [_turn(run_id, records) for run_id, records in runs.items()]


def _turn(run_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    start = next((r for r in records if r.get("type") == "run_start"), {})
    end = next((r for r in records if r.get("type") == "run_end"), {})
    times = [float(r["ts"]) for r in records if isinstance(r.get("ts"), int | float)]
    decisions = [_decision(r) for r in records if r.get("type") == "decision"]
    return {
        "run_id": run_id,
        "question": start.get("question"),
        "model": start.get("model"),
        "answer": end.get("answer"),
        "stop_reason": end.get("stop_reason"),
        "started_at": min(times) if times else None,
        "seconds": max(times) - min(times) if times else None,
        "repairs": sorted({rung for d in decisions for rung in d["repairs"]}),
        "model_calls": [_model_call(r) for r in records if r.get("type") == "model_call"],
        "decisions": decisions,
        "tool_calls": [_tool_call(r) for r in records if r.get("type") == "tool_call"],
        "ungrounded": [r.get("unsupported") for r in records if r.get("type") == "ungrounded"],
    }


def _model_call(record: dict[str, Any]) -> dict[str, Any]:
    found = record.get("usage")
    usage: dict[str, Any] = found if isinstance(found, dict) else {}
    return {
        "step": record.get("step"), "attempt": record.get("attempt"), "rung": record.get("rung"),
        "finish_reason": record.get("finish_reason"), "parse_error": record.get("parse_error"),
        "prompt_tokens": usage.get("prompt_tokens"), "cached_prompt_tokens": usage.get("cached_prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"), "ttft_s": usage.get("ttft_s"),
        "total_s": usage.get("total_s"), "raw": _clip(record.get("raw")),
    }


def _decision(record: dict[str, Any]) -> dict[str, Any]:
    return {"step": record.get("step"), "repairs": list(record.get("repairs") or []),
            "malformed": record.get("malformed"), "error": record.get("error"),
            "decision_s": record.get("decision_s"), "calls": [c.get("name") for c in record.get("calls") or []]}


def _tool_call(record: dict[str, Any]) -> dict[str, Any]:
    return {"step": record.get("step"), "id": record.get("call_id"), "name": record.get("name"),
            "arguments": record.get("arguments"), "output": _clip(record.get("output")),
            "error": record.get("error"), "duration_s": record.get("duration_s")}


def _clip(text: Any) -> Any:
    if isinstance(text, str) and len(text) > RAW_CHARS:
        return text[:RAW_CHARS] + "…"
    return text


def chat_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """A session's messages as the chat shows them when it is resumed: the user's and the
    assistant's text, and the tool calls and observations in between."""
    shown: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            shown.append({"role": "user", "content": _text(message.get("content"))})
        elif role == "assistant":
            for call in message.get("tool_calls") or []:
                function = call.get("function", {}) if isinstance(call, dict) else {}
                shown.append({"role": "tool_call", "name": function.get("name"),
                              "arguments": function.get("arguments")})
            if _text(message.get("content")).strip() and not message.get("tool_calls"):
                shown.append({"role": "assistant", "content": _text(message.get("content"))})
        elif role == "tool":
            shown.append({"role": "observation", "name": message.get("name"),
                          "content": _clip(_text(message.get("content")))})
    return shown


def _text(content: Any) -> str:
    if isinstance(content, list):  # multimodal parts: the text ones
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)
