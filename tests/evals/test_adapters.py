"""Adapters read the real third-party files as they are (skipped when the data is absent),
and recognise a dataset file given by path from its content."""

from __future__ import annotations

import json
import shutil

import pytest

from kapibara.errors import DataError
from kapibara.evals.adapters import (
    bfcl_cases,
    bfcl_schema,
    dataset_format,
    hammerbench_cases,
    load_dataset,
)
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


# --- dataset files given by path, recognised by content --------------------------------

BFCL_QUESTION = {
    "id": "multiple_0",
    "question": [[{"role": "user", "content": "Area of a triangle with base 10 and height 5?"}]],
    "function": [{"name": "geometry.area", "description": "Triangle area.",
                  "parameters": {"type": "dict", "properties": {"base": {"type": "float"}, "height": {"type": "float"}},
                                 "required": ["base", "height"]}}],
}
BFCL_ANSWER = {"id": "multiple_0", "ground_truth": [{"geometry.area": {"base": [10], "height": [5]}}]}
BFCL_IRRELEVANT = dict(BFCL_QUESTION, id="irrelevance_0")
WEATHER = {"name": "get_weather", "description": "天气",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "date": {"type": "string"}},
                          "required": ["city"]}}
HAMMER = [
    {"messages": [{"role": "user", "content": "广州天气怎么样"},
                  {"role": "function call", "content": {"name": "get_weather", "arguments": {"city": "广州"}}}],
     "multiple_tools": [WEATHER]},
    # an ir_ item: the ground-truth tool was removed from the offer, so no call is right
    {"messages": [{"role": "user", "content": "深圳天气怎么样"},
                  {"role": "function call", "content": {"name": "get_weather", "arguments": {"city": "深圳"}}}],
     "multiple_tools": [dict(WEATHER, name="get_concert")]},
]
CASE = {"id": "c1", "messages": [{"role": "user", "content": "你好"}], "tools": [], "expected": "no_call"}


def jsonl(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def bfcl_pair(folder, name="BFCL_v3_multiple.json"):
    """A BFCL question file and its possible_answer/ sibling, as BFCL publishes them."""
    jsonl(folder / "possible_answer" / name, BFCL_ANSWER)
    return jsonl(folder / name, BFCL_QUESTION)


@pytest.mark.parametrize(("name", "write", "fmt"), [
    ("questions.txt", lambda p: jsonl(p, BFCL_QUESTION), "bfcl"),
    ("items.jsonl", lambda p: p.write_text(json.dumps(HAMMER, indent=2), encoding="utf-8"), "hammerbench"),
    ("cases.json", lambda p: jsonl(p, CASE), "cases"),
])
def test_format_is_judged_by_content_not_name(tmp_path, name, write, fmt):
    p = tmp_path / name
    write(p)
    assert dataset_format(p) == fmt


def test_bfcl_file_at_any_path_with_its_answers(tmp_path):
    (case,) = load_dataset(str(bfcl_pair(tmp_path / "any" / "where")))
    assert case.id == "multiple_0" and case.category == "bfcl_multiple"
    assert case.tools[0]["function"]["parameters"]["properties"]["base"] == {"type": "number"}
    assert check_calls(case.expected, [ToolCall("geometry.area", {"base": 10, "height": 5})], case.tools).correct


def test_bfcl_irrelevance_file_needs_no_answers(tmp_path):
    (case,) = load_dataset(str(jsonl(tmp_path / "BFCL_v3_irrelevance.json", BFCL_IRRELEVANT)))
    assert case.category == "bfcl_irrelevance" and not case.expected


def test_bfcl_file_without_answers_says_where_it_looked(tmp_path):
    p = jsonl(tmp_path / "BFCL_v3_multiple.json", BFCL_QUESTION)
    with pytest.raises(DataError, match="possible_answer") as exc:
        load_dataset(str(p))
    assert str(tmp_path / "possible_answer" / "BFCL_v3_multiple.json") in exc.value.message


def test_bfcl_answer_file_points_to_the_question_file(tmp_path):
    q = bfcl_pair(tmp_path)
    with pytest.raises(DataError, match="BFCL answer file") as exc:
        load_dataset(str(tmp_path / "possible_answer" / q.name))
    assert str(q) in (exc.value.hint or "")


def test_bfcl_answers_must_cover_every_question(tmp_path):
    q = bfcl_pair(tmp_path)
    jsonl(q, BFCL_QUESTION, dict(BFCL_QUESTION, id="multiple_1"))
    with pytest.raises(DataError, match="no ground_truth for 'multiple_1'"):
        load_dataset(str(q))


def test_bfcl_malformed_question_is_a_clear_error(tmp_path):
    q = bfcl_pair(tmp_path)
    jsonl(q, BFCL_QUESTION, {"id": "multiple_1", "question": []})
    with pytest.raises(DataError, match="question 2 has no function"):
        load_dataset(str(q))


def test_hammerbench_file_at_any_path(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text(json.dumps(HAMMER, ensure_ascii=False), encoding="utf-8")
    call, no_call = load_dataset(str(p))
    assert call.id == "mine_0" and call.category == "hammerbench_mine"
    assert call.messages == [{"role": "user", "content": "广州天气怎么样"}]
    assert call.expected == [[{"get_weather": {"city": ["广州"], "date": [""]}}]]
    assert not no_call.expected


@pytest.mark.parametrize(("item", "says"), [
    ({"messages": [{"content": "hi"}], "multiple_tools": []}, "item 1 is not"),
    ({"messages": [{"role": "function call", "content": "get_weather"}], "multiple_tools": []}, "item 1: a function call"),
])
def test_hammerbench_malformed_item_is_a_clear_error(tmp_path, item, says):
    p = tmp_path / "hb.json"
    p.write_text(json.dumps([HAMMER[0], item]), encoding="utf-8")
    with pytest.raises(DataError, match=says):
        load_dataset(str(p))


def test_bfcl_copy_loads_the_same_cases_as_the_named_dataset(shared_data, tmp_path):
    for cat in ("multiple", "irrelevance"):  # irrelevance has no possible_answer file
        name = f"BFCL_v4_{cat}.json"
        shutil.copy(shared_data / "bfcl" / name, tmp_path / name)
        if cat != "irrelevance":
            (tmp_path / "possible_answer").mkdir(exist_ok=True)
            shutil.copy(shared_data / "bfcl" / "possible_answer" / name, tmp_path / "possible_answer" / name)
        assert load_dataset(str(tmp_path / name)) == bfcl_cases(cat, shared_data)


def test_hammerbench_copy_loads_the_same_cases_as_the_named_dataset(shared_data, tmp_path):
    for name in ("ST_Perfect", "ir_ST_Perfect"):
        shutil.copy(shared_data / "hammerbench_zh" / f"{name}.json", tmp_path / f"{name}.json")
        assert load_dataset(str(tmp_path / f"{name}.json")) == hammerbench_cases(name, shared_data)


UNREADABLE = {
    "unknown.json": b'{"rows": [1, 2, 3]}',
    "unknown.jsonl": b'{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n',
    "numbers.json": b"[1, 2, 3]",
    "empty.jsonl": b"",
    "blank.json": b"\n  \n",
    "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "latin1.jsonl": '{"id": "café"}'.encode("latin-1"),
    "notes.md": "# 笔记\n不是数据\n".encode(),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_file_is_a_one_line_error_naming_the_formats(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(UNREADABLE[name])
    with pytest.raises(DataError) as exc:
        load_dataset(str(p))
    msg = exc.value.message
    assert str(p) in msg and "\n" not in str(exc.value)
    assert all(f in msg for f in ("kapibara case JSONL", "BFCL question file", "possible_answer", "HammerBench JSON"))


def test_missing_path_and_folder_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not a file and not a named dataset"):
        load_dataset(str(tmp_path / "absent.json"))
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(str(tmp_path))
