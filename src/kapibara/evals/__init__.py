"""Tool-use evaluation: case format, BFCL-style checker, benchmark adapters, runner, reports.

    import kapibara.demo  # registers the "demo" tool set the domain cases name
    from kapibara.evals import load_dataset, run_eval
    run = run_eval(load_dataset("domain:dev"), model, config="native")
"""

from kapibara.evals.adapters import (
    bfcl_cases,
    dataset_format,
    hammerbench_cases,
    load_dataset,
    load_file,
)
from kapibara.evals.badcases import bad_cases, export_bad_cases
from kapibara.evals.cases import NO_CALL, Case, case_from_dict, load_cases
from kapibara.evals.checker import RULES, CheckResult, check_answer, check_calls
from kapibara.evals.compare import CategoryDiff, compare_files, compare_runs, mcnemar_p
from kapibara.evals.report import plot_accuracy_latency, write_report
from kapibara.evals.results import CaseResult, EvalRun, metrics, summarize
from kapibara.evals.runner import CONFIGS, run_case, run_eval
from kapibara.toolsets import register_toolset

__all__ = [
    "CONFIGS",
    "NO_CALL",
    "RULES",
    "Case",
    "CaseResult",
    "CategoryDiff",
    "CheckResult",
    "EvalRun",
    "bad_cases",
    "bfcl_cases",
    "case_from_dict",
    "check_answer",
    "check_calls",
    "compare_files",
    "compare_runs",
    "dataset_format",
    "export_bad_cases",
    "hammerbench_cases",
    "load_cases",
    "load_dataset",
    "load_file",
    "mcnemar_p",
    "metrics",
    "plot_accuracy_latency",
    "register_toolset",
    "run_case",
    "run_eval",
    "summarize",
    "write_report",
]
