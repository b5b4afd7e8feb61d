"""`kapibara improve`: stages run in order, a second run resumes, the report compares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kapibara.errors import ConfigError
from kapibara.evals.results import CaseResult, EvalRun
from kapibara.finetune.improve import STAGES, Improve, ImproveOptions, report_markdown


def result(case: str, ok: bool, cat: str = "weather", s: float = 1.0) -> CaseResult:
    return CaseResult(id=case, category=cat, config="native", correct=ok, tool_correct=ok, expects_call=True,
                      decision_s=s)


class Recorder(Improve):
    """The stages' real work replaced by records (models and training are measured elsewhere)."""

    calls: list[str]

    def __init__(self, options: ImproveOptions, fail_at: str | None = None) -> None:
        super().__init__(options)
        self.calls = []
        self.fail_at = fail_at
        for stage in STAGES[:-1]:
            setattr(self, f"_{stage}", self._fake(stage))

    def _fake(self, stage: str) -> Any:
        def run(state: dict[str, Any]) -> dict[str, Any]:
            if stage == self.fail_at:
                raise RuntimeError("killed")
            self.calls.append(stage)
            if stage == "baseline":
                EvalRun(dataset="domain:test", model="base", config="native",
                        results=[result("a", False), result("b", True)]).save(self.dir / "before-test.json")
                return {"bad_dev_cases": ["x"], "dev_cases": 2}
            if stage == "evaluate":
                EvalRun(dataset="domain:test", model="tuned", config="native",
                        results=[result("a", True, s=0.4), result("b", True, s=0.5)]).save(self.dir / "after-test.json")
            return {}
        return run


def test_stages_run_once_and_a_killed_run_resumes(tmp_path: Path) -> None:
    opts = ImproveOptions(run=str(tmp_path / "run"))
    with pytest.raises(RuntimeError):
        Recorder(opts, fail_at="export").run()
    again = Recorder(opts)
    state = again.run()
    assert again.calls == ["export", "evaluate"], "done stages are skipped"
    assert list(state["done"]) == list(STAGES)
    report = (tmp_path / "run" / "improve.md").read_text()
    assert "| weather | 2 | 50.0% | 100.0% |" in report and "1 cases fixed, 0 broken" in report


def test_other_options_refuse_to_resume(tmp_path: Path) -> None:
    Recorder(ImproveOptions(run=str(tmp_path / "run"))).run()
    with pytest.raises(ConfigError, match="other options"):
        Recorder(ImproveOptions(run=str(tmp_path / "run"), max_samples=10)).run()


def test_report_shows_each_category_and_latency() -> None:
    before = EvalRun(dataset="d", model="m", config="native",
                     results=[result("a", False, "cart", 2.0), result("b", True, "weather", 2.0)])
    after = EvalRun(dataset="d", model="t", config="native",
                    results=[result("a", True, "cart", 1.0), result("b", False, "weather", 1.0)])
    state = {"options": {"base": "b", "name": "t"}, "done": {}}
    text = report_markdown(before, after, state)
    assert "| cart | 1 | 0.0% | 100.0% |" in text and "| weather | 1 | 100.0% | 0.0% |" in text
    assert "1 cases fixed, 1 broken" in text and "| all |" in text
