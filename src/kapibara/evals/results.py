"""What an eval run produced: one ``CaseResult`` per case, the ``EvalRun`` holding them,
and their metrics.

Metrics per category (and ``all``):

- ``accuracy``: cases judged right (calls and, where given, answer checks).
- ``tool_acc``: among cases expecting a call, the right function(s) were chosen.
- ``call_acc``: among cases expecting a call, the full call (arguments too) was right.
- ``no_call_acc``: among cases expecting no call, no call was made.
- ``malformed_rate`` / ``repair_rate`` / ``error_rate``: share of cases whose output did
  not parse, that needed a repair rung, or that failed with an error.
- ``p50_s`` / ``p95_s`` decision latency, ``ttft_p50_s`` time to first token,
  ``e2e_p50_s`` end-to-end time per case.
- ``max_turn_tokens``: the most tokens one case generated in its turn (all model calls of
  the decision, plus the episode when run); ``stops``: generations stopped early, by
  reason (``repetition``, ``not_a_call``, ``deadline``, ``length``);
  ``invented_rate``: answers that stated facts no tool returned (replaced by an honest one).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kapibara.errors import DataError
from kapibara.evals.cases import write_text


@dataclass
class CaseResult:
    """What happened on one case, with the verdict and the timings."""

    id: str
    category: str
    config: str
    correct: bool
    tool_correct: bool
    expects_call: bool
    rule: str | None = None
    detail: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    raw: str = ""
    text: str = ""
    repairs: list[str] = field(default_factory=list)
    malformed: bool = False
    error: str | None = None
    ttft_s: float = 0.0
    decision_s: float = 0.0
    e2e_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    decision_error: str | None = None  # why the agent's repair ladder gave up (model-caused)
    answer: str | None = None  # the episode's final answer (episodes mode only)
    stops: dict[str, int] = field(default_factory=dict)  # generations stopped early, by reason
    unsupported: list[str] = field(default_factory=list)  # facts an answer stated that no tool returned
    turn_tokens: int = 0  # tokens generated in the whole turn (decision, plus episode when run)
    # The case itself, so that bad cases can be exported from a saved run alone.
    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: Any = None
    expected: list[Any] = field(default_factory=list)

    @property
    def made_call(self) -> bool:
        return bool(self.calls)


@dataclass
class EvalRun:
    """One dataset run through one model in one configuration."""

    dataset: str
    model: str
    config: str
    results: list[CaseResult] = field(default_factory=list)
    created: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    episodes: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": self.model,
            "config": self.config,
            "created": self.created,
            "machine": self.machine,
            "episodes": self.episodes,
            "n": len(self.results),
            "summary": summarize(self),
            "results": [asdict(r) for r in self.results],
        }

    def save(self, path: str | Path) -> Path:
        """Write the run as JSON (atomically)."""
        p = Path(path)
        write_text(p, json.dumps(self.to_dict(), ensure_ascii=False, indent=1))
        return p

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> EvalRun:
        names = set(CaseResult.__dataclass_fields__)
        results = [CaseResult(**{k: v for k, v in r.items() if k in names}) for r in obj.get("results", [])]
        return cls(
            dataset=obj.get("dataset", ""),
            model=obj.get("model", ""),
            config=obj.get("config", ""),
            results=results,
            created=obj.get("created", ""),
            machine=obj.get("machine", {}),
            episodes=bool(obj.get("episodes", False)),
        )

    @classmethod
    def load(cls, path: str | Path) -> EvalRun:
        """Read a run saved with :meth:`save`."""
        p = Path(path)
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"run file not found: {p}") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{p} is not a saved eval run: {exc.msg}") from None
        if not isinstance(obj, dict) or "results" not in obj:
            raise DataError(f"{p} is not a saved eval run (no 'results')")
        return cls.from_dict(obj)


def machine_info() -> dict[str, Any]:
    """Where a run was measured (reported with every result)."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ratio(num: int, den: int) -> float | None:
    return round(100 * num / den, 1) if den else None


def metrics(results: list[CaseResult]) -> dict[str, Any]:
    """Metrics of a group of case results (percentages, seconds)."""
    call_cases = [r for r in results if r.expects_call]
    none_cases = [r for r in results if not r.expects_call]
    dec = [r.decision_s for r in results]
    return {
        "n": len(results),
        "n_call": len(call_cases),
        "n_no_call": len(none_cases),
        "accuracy": _ratio(sum(r.correct for r in results), len(results)),
        "tool_acc": _ratio(sum(r.tool_correct for r in call_cases), len(call_cases)),
        "call_acc": _ratio(sum(r.correct for r in call_cases), len(call_cases)),
        "no_call_acc": _ratio(sum(r.correct for r in none_cases), len(none_cases)),
        "malformed_rate": _ratio(sum(r.malformed for r in results), len(results)),
        "repair_rate": _ratio(sum(bool(r.repairs) for r in results), len(results)),
        "error_rate": _ratio(sum(r.error is not None for r in results), len(results)),
        "p50_s": round(percentile(dec, 50), 3),
        "p95_s": round(percentile(dec, 95), 3),
        "ttft_p50_s": round(percentile([r.ttft_s for r in results], 50), 3),
        "e2e_p50_s": round(percentile([r.e2e_s for r in results], 50), 3),
        "failed_rules": _count(r.rule for r in results if not r.correct and r.rule),
        "max_turn_tokens": max((r.turn_tokens or r.completion_tokens for r in results), default=0),
        "stops": _count(reason for r in results for reason, n in r.stops.items() for _ in range(n)),
        "invented_rate": _ratio(sum(bool(r.unsupported) for r in results), len(results)),
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in items:
        out[it] = out.get(it, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def summarize(run: EvalRun) -> dict[str, dict[str, Any]]:
    """Metrics per category plus ``all``."""
    cats: dict[str, list[CaseResult]] = {}
    for r in run.results:
        cats.setdefault(r.category, []).append(r)
    out = {c: metrics(rs) for c, rs in sorted(cats.items())}
    if len(cats) != 1:
        out["all"] = metrics(run.results)
    return out


