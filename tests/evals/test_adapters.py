"""Adapters read the real third-party files as they are (skipped when the data is absent)."""

from __future__ import annotations

import pytest

from kapibara.errors import DataError
from kapibara.evals.adapters import bfcl_cases, bfcl_schema, hammerbench_cases, load_dataset
from kapibara.evals.checker import check_calls
from kapibara.models.base import ToolCall


def test_bfcl_types_become_json_schema():
    s = bfcl_schema({"type": "dict", "properties": {"x": {"type": "float"}, "t": {"type": "tuple", "items": {"type": "float"}}, "a": {"type": "any"}}})
    assert bfcl_schema({"name": "f", "parameters": {"type": "dict"}})["parameters"] == {"type": "object"}
    assert s == {"type": "object", "properties": {"x": {"type": "number"}, "t": {"type": "array", "items": {"type": "number"}}, "a": {}}}


@pytest.mark.parametrize(("cat", "n"), [("simple_python", 400), ("multiple", 200), ("parallel", 200), ("parallel_multiple", 200), ("irrelevance", 240)])
def test_bfcl_files_load(shared_data, cat, n):
    cases = bfcl_cases(cat, shared_data)
    assert len(cases) == n
    assert all(c.messages and c.messages[-1]["role"] == "user" for c in cases)
    assert all(c.tools[0]["type"] == "function" for c in cases)
    assert all(bool(c.expected) == (cat != "irrelevance") for c in cases)


# Ground truths that contradict their own schema (e.g. True for a string parameter, a
# parameter the function does not define); the checker rightly rejects their first value.
BFCL_DEFECTS = {"simple_python_307", "parallel_multiple_12", "parallel_multiple_21",
                "parallel_multiple_26", "parallel_multiple_94"}


def _first(v):
    """A concrete value from a possible-answer value (dicts hold lists of alternatives)."""
    if isinstance(v, dict):
        return {k: _first(next(a for a in alts if a != "")) for k, alts in v.items() if any(a != "" for a in alts)}
    if isinstance(v, list):
        return [_first(x) for x in v]
    return v


def test_bfcl_ground_truth_passes_its_own_checker(shared_data):
    """Calling with the first allowed value of every parameter must be judged right."""
    for cat in ("simple_python", "multiple", "parallel", "parallel_multiple"):
        for case in bfcl_cases(cat, shared_data):
            calls = []
            for exp in case.expected[0]:
                (name, params), = exp.items()
                args = {p: _first(next(v for v in vals if v != "")) for p, vals in params.items() if any(v != "" for v in vals)}
                calls.append(ToolCall(name, args))
            r = check_calls(case.expected, calls, case.tools)
            assert r.correct == (case.id not in BFCL_DEFECTS), (case.id, r.rule, r.detail)


def test_bfcl_simple_first_case(shared_data):
    case = bfcl_cases("simple_python", shared_data)[0]
    assert case.id == "simple_python_0"
    ok = check_calls(case.expected, [ToolCall("calculate_triangle_area", {"base": 10, "height": 5})], case.tools)
    assert ok.correct
    bad = check_calls(case.expected, [ToolCall("calculate_triangle_area", {"base": "10", "height": 5})], case.tools)
    assert bad.rule == "type_mismatch"


def test_hammerbench_files_load(shared_data):
    st = hammerbench_cases("ST_Perfect", shared_data)
    ir = hammerbench_cases("ir_ST_Perfect", shared_data)
    assert len(st) == len(ir) == 100
    assert all(c.expected for c in st) and not any(c.expected for c in ir)
    first = st[0]
    assert first.messages == [{"role": "user", "content": first.messages[0]["content"]}]
    (name, params), = first.expected[0][0].items()
    assert name == "Navigation.TrafficViolations.queryViolation"
    call = ToolCall(name, {"city": "广州", "plate_number": "粤B6789X", "time": "2023年4月1号"})
    assert check_calls(first.expected, [call], first.tools).correct
    # a value the user never gave fails; the ground-truth tool is absent from ir_ cases
    invented = ToolCall(name, {"city": "深圳", "plate_number": "粤B6789X", "time": "2023年4月1号"})
    assert check_calls(first.expected, [invented], first.tools).rule == "value_mismatch"
    assert name not in [t["function"]["name"] for t in ir[0].tools]


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="named datasets"):
        load_dataset("nope:xyz")
    with pytest.raises(DataError, match="unknown BFCL category"):
        load_dataset("bfcl:java")


def test_missing_data_dir_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KAPIBARA_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="KAPIBARA_DATA_DIR"):
        load_dataset("bfcl:multiple")
