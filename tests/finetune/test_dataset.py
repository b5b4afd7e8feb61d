import json
import re
from pathlib import Path

import pytest

import kapibara.demo  # noqa: F401  (registers the "demo" tool set the domain cases name)
from kapibara.cli import main
from kapibara.demo import demo_toolset
from kapibara.errors import DataError
from kapibara.finetune.dataset import (
    BuildReport,
    build_with_report,
    dedupe,
    fill_args,
    leaks,
    split_user_messages,
    typo,
)
from kapibara.finetune.samples import Sample, call_message, load_samples, reply_message
from kapibara.finetune.verify import CallVerifier
from kapibara.models.base import ToolCall

TOOL_NAMES = {"recommend_products", "get_product_info", "get_promotions", "recommend_recipes", "add_to_cart",
              "view_cart", "get_weather"}


@pytest.fixture(scope="module")
def built():
    return build_with_report(per_category=12, seed=3)


def test_every_tool_every_source_and_no_test_overlap(built):
    samples, report = built
    called = {c.name for s in samples for c in s.target_calls}
    assert called == TOOL_NAMES
    assert {s.source.split(":")[0] for s in samples} >= {"dev", "template"}
    assert report.leaks_remaining == 0
    assert leaks(samples, split_user_messages()) == []
    # the dev no-call cases got replies, the missing-value ones a question back
    missing = [s for s in samples if s.category == "missing_arg"]
    asks = re.compile("[？?]|请告诉|哪|which|what|What|Which")  # missing_dev.jsonl's answer check
    assert missing and all(not s.target_calls and asks.search(s.target["content"]) for s in missing)


def test_every_kept_call_runs_on_the_real_tools(built):
    samples, _ = built
    verifier = CallVerifier(demo_toolset())
    bad = [(s.id, v.reason) for s in samples if not (v := verifier.verify(s)).ok]
    assert bad == []


def test_report_counts_add_up(built):
    samples, report = built
    assert sum(report.kept.values()) == len(samples) == sum(report.categories.values())
    for src in report.generated:
        removed = (report.invalid[src] + report.exact_duplicates[src] + report.near_duplicates[src]
                   + report.leaked[src])
        assert report.kept[src] <= report.generated[src] - removed + report.fixed[src]
    assert report.exact_duplicates["bank"] > 0  # the bank is built from the dev split


def test_the_same_seed_builds_the_same_set(built):
    again, _ = build_with_report(per_category=12, seed=3)
    assert [s.to_dict() for s in again] == [s.to_dict() for s in built[0]]


def test_a_call_that_fails_on_the_tools_is_rejected():
    verifier = CallVerifier(demo_toolset())
    def one(call: ToolCall) -> Sample:
        return Sample("x", [{"role": "user", "content": "q"}, call_message([call])])
    assert verifier.verify(one(ToolCall("get_product_info", {"product_name": "小米11 Ultra", "properties": ["电池"]}))).ok
    assert not verifier.verify(one(ToolCall("get_product_info", {"product_name": "不存在的东西XYZ",
                                                                 "properties": ["价格"]}))).ok
    assert not verifier.verify(one(ToolCall("get_weather", {"city": "北京", "date": "下个世纪"}))).ok
    assert not verifier.verify(one(ToolCall("add_to_cart", {"product_name": "车厘子", "quantity": 500}))).ok
    assert not verifier.verify(one(ToolCall("recommend_recipes", {"dish_or_ingredient": "月球岩石"}))).ok
    assert verifier.verify(Sample("y", [{"role": "user", "content": "hi"}, reply_message("Hello")])).ok


def test_view_cart_in_a_follow_up_sees_the_cart_its_context_filled():
    verifier = CallVerifier(demo_toolset())
    add = ToolCall("add_to_cart", {"product_name": "车厘子", "quantity": 2}, "call_0")
    s = Sample("c", [{"role": "user", "content": "来两斤车厘子"}, call_message([add]),
                     {"role": "tool", "tool_call_id": "call_0", "content": "{}"},
                     {"role": "user", "content": "购物车里有啥"}, call_message([ToolCall("view_cart", {})])])
    verdict = verifier.verify(s)
    assert verdict.ok and "车厘子" in (verdict.outputs or [""])[0]


def test_near_duplicates_are_dropped_keeping_the_first():
    def s(i: int, text: str, src: str) -> Sample:
        return Sample(f"s{i}", [{"role": "user", "content": text}, reply_message("ok")], source=src)
    report = BuildReport()
    kept = dedupe([s(0, "小米11 Ultra的电池多大？", "dev:a"), s(1, "小米11 Ultra的电池多大", "template:x"),
                   s(2, "小米11 Ultra 的电池多大呀？", "template:y"), s(3, "北京明天天气", "template:z")], report)
    assert [k.id for k in kept] == ["s0", "s3"]
    assert report.exact_duplicates["template"] == 1 and report.near_duplicates["template"] == 1


def test_a_paraphrase_of_a_test_question_counts_as_a_leak():
    test = ["上海明天下雨吗"]
    mk = lambda t: Sample("x", [{"role": "user", "content": t}, reply_message("ok")])  # noqa: E731
    assert leaks([mk("上海明天下雨吗？"), mk("上海明天会下雨吗"), mk("推荐几款水果")], test) == [0, 1]


def test_slot_filling_keeps_numbers_numbers():
    assert fill_args({"max_price": "{price}", "category": "{category}", "properties": ["{prop}"]},
                     {"price": 300, "category": "手机", "prop": "电池"}) == \
        {"max_price": 300, "category": "手机", "properties": ["电池"]}
    with pytest.raises(DataError):
        fill_args({"x": "a {nope} b"}, {})


def test_typos_change_the_name_deterministically():
    import random

    assert typo("蒙牛纯牛奶", {"牛奶": "牛乃"}, random.Random(0)) == "蒙牛纯牛乃"
    t = typo("iPhone 15", {}, random.Random(0))
    assert t != "iPhone 15" and sorted(t) == sorted("iPhone 15")


def test_cli_build_writes_samples_and_report(tmp_path: Path, capsys):
    out, rep = tmp_path / "d.jsonl", tmp_path / "r.json"
    assert main(["data", "build", "--out", str(out), "--per-category", "3", "--limit", "40", "--no-teacher",
                 "--report", str(rep)]) == 0
    samples = load_samples(out)
    assert len(samples) == 40 and len({s.category for s in samples}) >= 8
    assert json.loads(rep.read_text())["leaks_remaining"] == 0


def test_cli_build_refuses_a_bad_teacher_file(tmp_path: Path, capsys):
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"id": "x", "messages": []}\n', encoding="utf-8")
    assert main(["data", "build", "--out", str(tmp_path / "o.jsonl"), "--teacher", str(bad)]) == 2
    assert "no messages" in capsys.readouterr().err and not (tmp_path / "o.jsonl").exists()


def test_the_shipped_training_set_is_what_its_report_says_and_clean():
    from kapibara.finetune.dataset import shipped_teacher_path

    data = shipped_teacher_path().parent
    samples = load_samples(data / "train.jsonl")
    report = json.loads((data / "train.report.json").read_text(encoding="utf-8"))
    assert len(samples) == sum(report["kept"].values()) and report["leaks_remaining"] == 0
    assert {s.category: 0 for s in samples}.keys() == report["categories"].keys()
    assert leaks(samples, split_user_messages()) == []
    assert {c.name for s in samples for c in s.target_calls} == TOOL_NAMES
    teacher = load_samples(shipped_teacher_path())
    assert teacher and all(s.source.startswith("teacher:") for s in teacher)
    kept_teacher = [s for s in samples if s.source.startswith("teacher:")]
    assert len(kept_teacher) == report["kept"].get("teacher", 0) > 0


def test_answers_from_results_state_what_the_shown_result_holds(built):
    samples, _ = built
    answers = [s for s in samples if s.source == "template:no_call:from_results"]
    assert answers and all(s.category == "no_call" and not s.target_calls for s in answers)
    for s in answers:
        shown = json.loads(next(m["content"] for m in s.messages if m["role"] == "tool"))
        reply = s.messages[-1]["content"]
        if "最便宜" in reply or "cheapest" in reply:
            cheapest = min(shown["items"], key=lambda i: float(i["price"].rstrip("元")))
            assert cheapest["name"] in reply or cheapest["name_en"] in reply


def test_result_slots_name_a_cheapest_item_only_when_there_is_one():
    from kapibara.finetune.dataset import result_slots

    items = [{"name": "甲", "name_en": "A", "price": "2499元", "rating": 4.8},
             {"name": "乙", "name_en": "B", "price": "1599元", "rating": 4.8},
             {"name": "丙", "name_en": "C", "price": "2499元", "rating": 4.5}]
    slots = result_slots(items)
    assert slots["cheap_item"] == "乙" and slots["cheap_price_en"] == "1599 yuan" and slots["count"] == 3
    assert "dear_item" not in slots and "top_item" not in slots  # ties: no answer to give
    assert slots["items_text_en"] == "A (2499 yuan), B (1599 yuan), C (2499 yuan)"
    assert result_slots(items[:1]) == {}
