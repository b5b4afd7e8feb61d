"""Trace records: every model call and every tool call of a run, as plain dicts.

Evaluation, prompt optimisation and fine-tuning data are built from traces later, so
records are complete and lossless: the exact messages sent, the raw text that came
back, what was parsed from it, which repair rungs fired, token counts and timings,
and for tools the arguments, output, duration and error. Record types:

``run_start``   question, protocol, model, tool specs, settings of the run
``model_call``  one request to the model (several per decision when repair re-asks)
``decision``    the outcome of one decision: calls or answer, repairs, timings
``tool_call``   one executed (or refused) tool call
``direct_answer`` the step's results rendered as the answer by their tools
                (``direct_answer_error``: a renderer failed; the model answered)
``run_end``     the answer, steps used, why the run stopped, error counts
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from kapibara.fileio import write_jsonl_atomic
from kapibara.models.base import ChatRequest, Completion, ToolCall


def call_dict(call: ToolCall) -> dict[str, Any]:
    """A ToolCall as a JSON-able dict."""
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def jsonable(value: Any) -> Any:
    """Convert dataclasses and other values to something ``json.dumps`` accepts."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


@dataclass
class Trace:
    """Collects the records of one run; also stores each one with the session at once.

    Storing record by record (not at the end) means a killed process keeps the trace of
    everything that happened before it died.
    """

    run_id: str
    session_id: str | None = None
    store: Any = None
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Append one record of ``type_`` (see the module docstring) and persist it."""
        record: dict[str, Any] = {
            "type": type_,
            "run_id": self.run_id,
            "session_id": self.session_id,
            "ts": time.time(),
        }
        record.update({k: jsonable(v) for k, v in fields.items()})
        self.records.append(record)
        if self.store is not None and self.session_id:
            self.store.add_trace(self.session_id, record)
        return record

    def model_call(self, *, step: int, attempt: int, rung: str | None, protocol: str,
                   request: ChatRequest, completion: Completion, model: str = "") -> dict[str, Any]:
        """The one way a ``model_call`` record is made: the exact request and what came back."""
        return self.add(
            "model_call", step=step, attempt=attempt, rung=rung, protocol=protocol,
            messages=request.messages, tools=request.tools, stop=request.stop,
            constraint=request.constraint, sampling=request.sampling, max_tokens=request.max_tokens,
            raw=completion.text, content=completion.content,
            tool_calls=[call_dict(c) for c in completion.tool_calls], parse_error=completion.parse_error,
            finish_reason=completion.finish_reason, usage=completion.usage,
            model=completion.model or model, ttft_s=completion.usage.ttft_s,
        )


def export_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """Write records as JSON Lines, atomically (temp file in the same folder + rename)."""
    return write_jsonl_atomic(path, (jsonable(rec) for rec in records))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read records written by ``export_jsonl``."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
