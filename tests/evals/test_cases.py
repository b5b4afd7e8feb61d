"""The case loader accepts the documented format and names file, line and problem."""

from __future__ import annotations

import json

import pytest

from kapibara.errors import DataError
from kapibara.evals.cases import load_cases, resolve_tools

GOOD = {
    "id": "c1",
    "category": "cart",
    "messages": [{"role": "user", "content": "来两箱农夫山泉"}],
    "tools": [{"name": "add_to_cart", "parameters": {"type": "object", "properties": {}}}],
    "expected": [{"add_to_cart": {"product_name": ["农夫山泉"], "quantity": [2]}}],
}


def write(tmp_path, *rows):
    p = tmp_path / "cases.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return p


def test_loads_all_expected_forms(tmp_path):
    no_call = {**GOOD, "id": "c2", "expected": "no_call", "answer": {"contains": ["不"]}}
    alts = {**GOOD, "id": "c3", "expected": {"one_of": [[{"a": {}}], [{"b": {}}]]}}
    cases = load_cases(write(tmp_path, GOOD, "", no_call, alts))
    assert [c.id for c in cases] == ["c1", "c2", "c3"]
    assert cases[0].expected == [[{"add_to_cart": {"product_name": ["农夫山泉"], "quantity": [2]}}]]
    assert cases[1].expected == [] and not cases[1].expects_call
    assert len(cases[2].expected) == 2
    assert resolve_tools(cases[0].tools)[0]["type"] == "function"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", "not valid JSON"),
        ({k: v for k, v in GOOD.items() if k != "expected"}, "missing field(s) expected"),
        ({**GOOD, "expected": [{"f": {"x": 1}}]}, "non-empty list of allowed values"),
        ({**GOOD, "expected": "nothing"}, "'expected' must be"),
        ({**GOOD, "messages": [{"role": "robot", "content": "x"}]}, "unknown role"),
        ({**GOOD, "extra": 1}, "unknown field(s) extra"),
    ],
)
def test_bad_lines_name_file_line_and_problem(tmp_path, row, message):
    p = write(tmp_path, GOOD | {"id": "ok"}, row)
    with pytest.raises(DataError) as exc:
        load_cases(p)
    assert f"{p}:2" in str(exc.value) and message in str(exc.value)


def test_duplicate_ids_rejected(tmp_path):
    with pytest.raises(DataError, match="duplicate case id"):
        load_cases(write(tmp_path, GOOD, GOOD))


def test_unknown_toolset_name():
    with pytest.raises(DataError, match="unknown tool set"):
        resolve_tools("nope")
