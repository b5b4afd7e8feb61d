"""Export failed cases as JSONL: the input of the prompt optimiser and the fine-tuning data builder.

Each line: ``id``, ``category``, ``config``, ``model``, ``input`` (the last user message),
``context`` (the messages before it), ``tools`` (specs, or the tool set name), ``expected``
(acceptable call sets; ``[]`` = no call), ``actual`` (calls made, reply text, raw output),
``rule`` and ``detail`` (why it failed), ``repairs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kapibara.evals.cases import write_jsonl
from kapibara.evals.results import CaseResult, EvalRun


def bad_case_record(r: CaseResult, run: EvalRun) -> dict[str, Any]:
    """The JSONL record of one failed case."""
    last_user = max((i for i, m in enumerate(r.messages) if m.get("role") == "user"), default=len(r.messages) - 1)
    return {
        "id": r.id,
        "category": r.category,
        "config": run.config,
        "model": run.model,
        "input": r.messages[last_user].get("content", "") if r.messages else "",
        "context": r.messages[:last_user] + r.messages[last_user + 1 :],
        "tools": r.tools,
        "expected": r.expected,
        "actual": {"calls": r.calls, "text": r.text, "raw": r.raw, "answer": r.answer},
        "rule": r.rule,
        "detail": r.detail,
        "repairs": r.repairs,
        "error": r.error,
        "decision_error": r.decision_error,
    }


def bad_cases(run: EvalRun) -> list[dict[str, Any]]:
    """Records of every failed case of a run, in run order."""
    return [bad_case_record(r, run) for r in run.results if not r.correct]


def export_bad_cases(run: EvalRun, path: str | Path) -> int:
    """Write the failed cases of ``run`` to ``path`` atomically; returns how many."""
    rows = bad_cases(run)
    write_jsonl(path, rows)
    return len(rows)
