"""Context budget: what the model is sent when the conversation outgrows its window."""

from __future__ import annotations

from kapibara.memory import approx_tokens, fit_to_budget, message_tokens

SYSTEM = {"role": "system", "content": "你是生鲜超市的购物助手。"}


def turn(i: int, with_tool: bool = False) -> list[dict]:
    user = {"role": "user", "content": f"第{i}个问题：推荐一些水果 please {'x' * 40}"}
    if not with_tool:
        return [user, {"role": "assistant", "content": f"回答{i}：车厘子和苹果。"}]
    call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "recommend_products", "arguments": '{"category": "水果"}'}},
            {"id": f"d{i}", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "上海"}'}},
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": f"c{i}", "name": "recommend_products", "content": "车厘子 ¥59"},
        {"role": "tool", "tool_call_id": f"d{i}", "name": "get_weather", "content": "晴 25°C"},
    ]
    return [user, call, *results, {"role": "assistant", "content": f"回答{i}"}]


def total(msgs: list[dict]) -> int:
    return sum(message_tokens(m) for m in msgs)


def test_approx_tokens_counts_cjk_per_char_and_latin_per_four() -> None:
    assert approx_tokens("") == 0
    assert approx_tokens("你好世界") == 4
    assert approx_tokens("abcdefgh") == 2
    assert approx_tokens("你好abcd") == 3
    assert approx_tokens("，。！") == 3  # full-width punctuation
    # Chinese text costs far more per character than English
    assert approx_tokens("我想买一款拍照好的手机") > approx_tokens("I want a phone") * 2


def test_everything_fits_returns_everything() -> None:
    msgs = [SYSTEM, *turn(1), *turn(2, with_tool=True)]
    assert fit_to_budget(msgs, 10_000) == msgs


def test_drops_oldest_turns_first_and_keeps_system() -> None:
    msgs = [SYSTEM]
    for i in range(20):
        msgs += turn(i)
    budget = total([SYSTEM, *turn(18), *turn(19)]) + 5
    kept = fit_to_budget(msgs, budget)
    assert kept[0] == SYSTEM
    assert kept[1:] == [*turn(18), *turn(19)]
    assert total(kept) <= budget
    assert msgs[0] == SYSTEM and len(msgs) == 41  # input untouched


def test_never_splits_tool_calls_from_results() -> None:
    msgs = [SYSTEM, *turn(1, with_tool=True), *turn(2, with_tool=True), *turn(3, with_tool=True)]
    for budget in range(20, total(msgs) + 1, 3):
        kept = fit_to_budget(msgs, budget)
        assert kept[0] == SYSTEM
        history = kept[1:]
        assert history[0]["role"] != "tool", budget
        for j, m in enumerate(history):
            if m["role"] == "tool":  # its assistant call is kept, right before the results
                k = j
                while history[k]["role"] == "tool":
                    k -= 1
                ids = {c["id"] for c in history[k]["tool_calls"]}
                assert m["tool_call_id"] in ids
            if m.get("tool_calls"):  # and every result of a kept call is kept
                n_results = sum(1 for x in history if x.get("tool_call_id") in {c["id"] for c in m["tool_calls"]})
                assert n_results == len(m["tool_calls"])


def test_keeps_the_current_question_during_a_long_tool_loop() -> None:
    question = {"role": "user", "content": "帮我买五常大米和蒙牛纯牛奶"}
    loop = []
    for i in range(8):
        loop.append({"role": "assistant", "content": "", "tool_calls": [{"id": f"k{i}", "type": "function", "function": {"name": "add_to_cart", "arguments": '{"product_name": "五常大米"}'}}]})
        loop.append({"role": "tool", "tool_call_id": f"k{i}", "content": "已加入购物车 " * 5})
    msgs = [SYSTEM, *turn(0), question, *loop]
    budget = total([SYSTEM, question, *loop[-4:]]) + 2
    kept = fit_to_budget(msgs, budget)
    assert kept[:2] == [SYSTEM, question]
    assert kept[2:] == loop[-4:]
    assert total(kept) <= budget


def test_dangling_tool_result_never_opens_history() -> None:
    # A stored history that starts mid-call (e.g. trimmed elsewhere) must not lead with a tool message.
    msgs = [SYSTEM, {"role": "tool", "tool_call_id": "old", "content": "旧结果"}, *turn(1)]
    kept = fit_to_budget(msgs, 10_000)
    assert kept == [SYSTEM, *turn(1)]


def test_over_budget_still_keeps_system_and_latest_message() -> None:
    msgs = [SYSTEM, *turn(1), {"role": "user", "content": "很长的问题" * 200}]
    kept = fit_to_budget(msgs, 10)
    assert kept == [SYSTEM, msgs[-1]]


def test_custom_token_counter_is_used() -> None:
    msgs = [SYSTEM, *turn(1), *turn(2)]
    # one token per message content: everything fits in a small budget
    assert fit_to_budget(msgs, 5 * 5, count_tokens=lambda s: 1) == msgs
    assert fit_to_budget(msgs, 3 * 5, count_tokens=lambda s: 1) == [SYSTEM, *turn(2)]
