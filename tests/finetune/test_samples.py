import json

import pytest

from kapibara.errors import DataError
from kapibara.finetune.samples import (
    Sample,
    call_message,
    load_samples,
    pick_samples,
    reply_message,
    save_samples,
)
from kapibara.models.base import ToolCall

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def _call_sample() -> Sample:
    return Sample("s1", [{"role": "user", "content": "北京天气"},
                         call_message([ToolCall("get_weather", {"city": "北京"})])], TOOLS, "test", "weather")


def test_round_trip_keeps_every_field(tmp_path):
    s = _call_sample()
    s.rejected = reply_message("北京今天晴")
    path = save_samples(tmp_path / "a.jsonl", [s, Sample("s2", [{"role": "user", "content": "hi"},
                                                                 reply_message("Hello!")], TOOLS, "t", "no_call")])
    back = load_samples(path)
    assert [b.to_dict() for b in back] == [s.to_dict(), back[1].to_dict()]
    assert back[0].target_calls[0].arguments == {"city": "北京"}
    assert back[0].rejected == {"role": "assistant", "content": "北京今天晴"}
    assert back[1].target["content"] == "Hello!" and back[1].last_user == "hi"


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda d: d["messages"].insert(0, {"role": "system", "content": "x"}), "system"),
    (lambda d: d["messages"].pop(), "last message must be the target assistant turn"),
    (lambda d: d["messages"][-1]["tool_calls"][0]["function"].update(arguments="{bad"), "not JSON"),
    (lambda d: d["messages"][-1]["tool_calls"][0]["function"].update(arguments={"city": "x"}), "JSON string"),
    (lambda d: d["messages"][-1]["tool_calls"][0]["function"].update(name="nope"), "not among its tools"),
    (lambda d: d.update(extra=1), "unknown field"),
    (lambda d: d["messages"].append({"role": "assistant", "content": ""}), "neither tool_calls nor content"),
])
def test_a_bad_line_is_one_error_naming_the_line(tmp_path, mutate, needle):
    d = _call_sample().to_dict()
    mutate(d)
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_call_sample().to_dict()) + "\n" + json.dumps(d) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_samples(path)
    assert needle in err.value.message and "bad.jsonl:2" in err.value.message
    assert "\n" not in err.value.message


def test_save_refuses_a_bad_sample_and_leaves_the_file_alone(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n", encoding="utf-8")
    bad = Sample("x", [{"role": "user", "content": "hi"}])
    with pytest.raises(DataError):
        save_samples(path, [_call_sample(), bad])
    assert path.read_text(encoding="utf-8") == "old\n"


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(DataError) as err:
        load_samples(tmp_path / "none.jsonl")
    assert "kapibara data build" in (err.value.hint or "")


def _mixed(n_calls: int, n_replies: int) -> list[Sample]:
    calls = [Sample(f"c{i}", [{"role": "user", "content": f"天气{i}"},
                              call_message([ToolCall("get_weather", {"city": "北京"})])], TOOLS, "t", "weather")
             for i in range(n_calls)]
    replies = [Sample(f"r{i}", [{"role": "user", "content": f"hi{i}"}, reply_message("Hello!")], TOOLS, "t", "no_call")
               for i in range(n_replies)]
    return calls + replies


def test_pick_samples_draws_replies_at_the_share():
    import random

    picked = pick_samples(_mixed(90, 10), 20, random.Random(0), reply_share=0.3)
    assert len(picked) == 20 and len({s.id for s in picked}) == 20
    assert sum(not s.target_calls for s in picked) == 6
    # fewer replies than the share asks for: all of them, the rest calls
    picked = pick_samples(_mixed(90, 3), 20, random.Random(0), reply_share=0.3)
    assert sum(not s.target_calls for s in picked) == 3 and len(picked) == 20
    # no share: a uniform draw; no limit or a limit above the set: everything
    assert len(pick_samples(_mixed(90, 10), 20, random.Random(0))) == 20
    assert len(pick_samples(_mixed(5, 5), 20, random.Random(0), reply_share=0.3)) == 10
    with pytest.raises(DataError, match="between 0 and 1"):
        pick_samples(_mixed(5, 5), 4, random.Random(0), reply_share=1.5)


def _tool_sample(i: int, tool: str) -> Sample:
    return Sample(f"{tool}{i}", [{"role": "user", "content": f"{tool} {i}"},
                                 call_message([ToolCall(tool, {})])], TOOLS, "t", "cart")


def test_pick_samples_gives_every_tool_a_floor():
    """A tool with few samples (view_cart: 11 of 1290 in the first build) is drawn whole up
    to its floor; a uniform draw left the tuned model 3 of them and it called add_to_cart."""
    import random

    pool = [_tool_sample(i, "add_to_cart") for i in range(300)] + [_tool_sample(i, "view_cart") for i in range(8)]
    picked = pick_samples(pool, 40, random.Random(0), reply_share=0.0)
    names = [s.target_calls[0].name for s in picked]
    # two tools, 40 call slots: a floor of 40 / (2 * 2) = 10; view_cart has only 8, all taken
    assert names.count("view_cart") == 8 and len(picked) == 40 and len({s.id for s in picked}) == 40
    # a common tool is not capped by the floor
    pool = [_tool_sample(i, "add_to_cart") for i in range(300)] + [_tool_sample(i, "view_cart") for i in range(100)]
    for seed in range(5):
        names = [s.target_calls[0].name for s in pick_samples(pool, 40, random.Random(seed), reply_share=0.0)]
        assert names.count("view_cart") >= 10 and names.count("add_to_cart") >= 10


def test_pick_samples_takes_every_focused_sample_then_draws_the_rest():
    import dataclasses
    import random

    pool = _mixed(90, 10)
    new = [dataclasses.replace(s, id=f"n{i}", source="template:no_call:from_results") for i, s in enumerate(pool[90:95])]
    picked = pick_samples(pool + new, 20, random.Random(0), reply_share=0.3, focus="template:no_call:from")
    assert len(picked) == 20 and {s.id for s in new} <= {s.id for s in picked}
    assert sum(not s.target_calls for s in picked) == 5 + 4  # the focused five, then 30% of the other 15
    assert len(pick_samples(pool + new, 3, random.Random(0), focus="template:no_call")) == 3
    with pytest.raises(DataError, match="no sample's source"):
        pick_samples(pool, 20, random.Random(0), focus="teacher:")
