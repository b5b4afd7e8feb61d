"""One test per BFCL AST rule of the checker."""

from __future__ import annotations

from kapibara.evals import checker as ck
from kapibara.evals.checker import check_answer, check_calls, normalize_string
from kapibara.models.base import ToolCall

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "area",
            "description": "Area of a triangle.",
            "parameters": {
                "type": "dict",
                "properties": {
                    "base": {"type": "integer"},
                    "height": {"type": "float"},
                    "unit": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "opts": {"type": "dict", "properties": {"precise": {"type": "boolean"}}},
                    "any_thing": {"type": "any"},
                    "pair": {"type": "tuple"},
                },
                "required": ["base", "height"],
            },
        },
    },
    {"name": "weather", "description": "", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
]

EXP = [[{"area": {"base": [10], "height": [5.0], "unit": ["cm", ""], "tags": [["a b", "c"], ""],
                  "opts": [{"precise": [True]}, ""], "any_thing": ["", 3], "pair": [[1, 2], ""]}}]]


def run(*calls: ToolCall, expected=EXP):
    return check_calls(expected, list(calls), TOOLS)


def test_correct_call_passes():
    r = run(ToolCall("area", {"base": 10, "height": 5.0, "unit": "CM"}))
    assert r.correct and r.tool_correct and r.rule is None


def test_function_name_must_be_exact():
    r = run(ToolCall("Area", {"base": 10, "height": 5.0}))
    assert not r.correct and r.rule == ck.WRONG_FUNCTION and not r.tool_correct


def test_required_parameter_must_be_present():
    r = run(ToolCall("area", {"base": 10}))
    assert r.rule == ck.MISSING_REQUIRED and r.tool_correct


def test_parameter_the_function_does_not_define_fails():
    r = run(ToolCall("area", {"base": 10, "height": 5, "colour": "red"}))
    assert r.rule == ck.UNEXPECTED_PARAM and "colour" in r.detail


def test_parameter_not_in_possible_answer_fails():
    exp = [[{"area": {"base": [10], "height": [5]}}]]
    r = run(ToolCall("area", {"base": 10, "height": 5, "unit": "cm"}), expected=exp)
    assert r.rule == ck.UNEXPECTED_PARAM


def test_answer_parameter_without_optional_marker_must_be_given():
    exp = [[{"area": {"base": [10], "height": [5], "unit": ["cm"]}}]]
    r = run(ToolCall("area", {"base": 10, "height": 5}), expected=exp)
    assert r.rule == ck.MISSING_PARAM


def test_optional_marker_allows_omission():
    assert run(ToolCall("area", {"base": 10, "height": 5})).correct


def test_int_accepted_for_float():
    assert run(ToolCall("area", {"base": 10, "height": 5})).correct


def test_float_not_accepted_for_int():
    r = run(ToolCall("area", {"base": 10.0, "height": 5}))
    assert r.rule == ck.TYPE_MISMATCH


def test_no_string_to_number_coercion():
    r = run(ToolCall("area", {"base": "10", "height": 5}))
    assert r.rule == ck.TYPE_MISMATCH


def test_bool_is_not_a_number():
    r = run(ToolCall("area", {"base": True, "height": 5}))
    assert r.rule == ck.TYPE_MISMATCH


def test_bfcl_types_dict_tuple_any():
    assert run(ToolCall("area", {"base": 10, "height": 5, "pair": [1, 2], "any_thing": 3})).correct
    assert run(ToolCall("area", {"base": 10, "height": 5, "opts": "x"})).rule == ck.TYPE_MISMATCH
    assert run(ToolCall("area", {"base": 10, "height": 5, "pair": "1,2"})).rule == ck.TYPE_MISMATCH


def test_strings_compared_after_normalisation():
    assert normalize_string("New York, N.Y.") == "newyorkny"
    assert normalize_string("a-b_c*d^e/f") == "abcdef"
    assert run(ToolCall("area", {"base": 10, "height": 5, "unit": " c.m "})).correct
    r = run(ToolCall("area", {"base": 10, "height": 5, "unit": "mm"}))
    assert r.rule == ck.VALUE_MISMATCH


def test_number_value_must_match():
    r = run(ToolCall("area", {"base": 11, "height": 5}))
    assert r.rule == ck.VALUE_MISMATCH and "11" in r.detail


def test_lists_compared_element_wise_in_order():
    assert run(ToolCall("area", {"base": 10, "height": 5, "tags": ["A_B", "c"]})).correct
    r = run(ToolCall("area", {"base": 10, "height": 5, "tags": ["c", "a b"]}))
    assert r.rule == ck.VALUE_MISMATCH
    r = run(ToolCall("area", {"base": 10, "height": 5, "tags": ["a b"]}))
    assert r.rule == ck.VALUE_MISMATCH


def test_dict_values_checked_key_by_key():
    assert run(ToolCall("area", {"base": 10, "height": 5, "opts": {"precise": True}})).correct
    r = run(ToolCall("area", {"base": 10, "height": 5, "opts": {"precise": False}}))
    assert r.rule == ck.VALUE_MISMATCH
    # a nested key the answer does not know fails too; the nested type is checked first
    assert run(ToolCall("area", {"base": 10, "height": 5, "opts": {"precise": 1}})).rule == ck.TYPE_MISMATCH


def test_dict_missing_key_needs_optional_marker():
    exp = [[{"weather": {"city": [{"name": ["Paris"], "country": ["FR", ""]}]}}]]
    tools = [{"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "object"}}, "required": ["city"]}}]
    assert check_calls(exp, [ToolCall("weather", {"city": {"name": "paris"}})], tools).correct
    exp2 = [[{"weather": {"city": [{"name": ["Paris"], "country": ["FR"]}]}}]]
    r = check_calls(exp2, [ToolCall("weather", {"city": {"name": "paris"}})], tools)
    assert r.rule == ck.VALUE_MISMATCH


def test_parallel_calls_matched_order_free():
    exp = [[{"weather": {"city": ["Paris"]}}, {"weather": {"city": ["Rome"]}}]]
    calls = [ToolCall("weather", {"city": "Rome"}), ToolCall("weather", {"city": "Paris"})]
    assert run(*calls, expected=exp).correct
    bad = [ToolCall("weather", {"city": "Rome"}), ToolCall("weather", {"city": "Rome"})]
    r = run(*bad, expected=exp)
    assert r.rule == ck.VALUE_MISMATCH and r.tool_correct


def test_wrong_number_of_calls():
    exp = [[{"weather": {"city": ["Paris"]}}]]
    r = run(ToolCall("weather", {"city": "Paris"}), ToolCall("weather", {"city": "Paris"}), expected=exp)
    assert r.rule == ck.WRONG_COUNT


def test_no_call_case_correct_only_without_call():
    assert check_calls([], [], TOOLS).correct
    r = check_calls([], [ToolCall("weather", {"city": "x"})], TOOLS)
    assert not r.correct and r.rule == ck.NO_CALL_EXPECTED


def test_call_expected_but_none_made():
    r = run()
    assert r.rule == ck.CALL_EXPECTED and not r.tool_correct


def test_one_of_alternative_sets():
    exp = [[{"weather": {"city": ["Paris"]}}], [{"area": {"base": [1], "height": [1]}}]]
    assert run(ToolCall("area", {"base": 1, "height": 1}), expected=exp).correct
    r = run(ToolCall("area", {"base": 2, "height": 1}), expected=exp)
    assert r.rule == ck.VALUE_MISMATCH and r.tool_correct


def test_answer_checks():
    assert check_answer({"contains": ["五常 大米"]}, "推荐五常大米") is None
    assert check_answer({"contains": ["牛奶"]}, "推荐五常大米")[0] == ck.ANSWER_MISMATCH
    assert check_answer({"regex": r"\d+元"}, "只要59元") is None
    assert check_answer({"regex": r"\d+元"}, "很便宜")[0] == ck.ANSWER_MISMATCH


def test_null_needs_an_explicit_allowed_null():
    exp = [[{"area": {"base": [10], "height": [5], "unit": ["", None]}}]]
    assert run(ToolCall("area", {"base": 10, "height": 5, "unit": None}), expected=exp).correct
    assert run(ToolCall("area", {"base": 10, "height": None})).rule == ck.TYPE_MISMATCH
