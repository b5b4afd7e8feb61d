"""The example bank, routing, and retrieved few-shot in the decision (fake model and a
hash embedder: plumbing, not embedding quality)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kapibara.agent import Agent
from kapibara.agent.examples import NO_TOOL, Example, ExampleBank, routing_text
from kapibara.agent.grounding import NumberGrounding
from kapibara.agent.router import DescriptionRouter, ExampleRouter, Route, vote
from kapibara.errors import DataError
from kapibara.models.base import ToolCall
from kapibara.models.fake import FakeModel


def weather(city: str) -> Example:
    return Example.make(f"{city}明天天气怎么样", calls=[ToolCall("get_weather", {"city": city, "date": "明天"})])


@pytest.fixture
def bank(hash_embedder):
    examples = [weather(c) for c in ("北京", "上海", "广州", "深圳")]
    examples += [Example.make(f"{p}有优惠吗", calls=[ToolCall("get_promotions", {"product_name": p})])
                 for p in ("草莓", "车厘子", "三文鱼")]
    examples += [Example.make(q, answer="你好！我可以帮你买菜。") for q in ("你好", "你是谁", "今天心情不错")]
    return ExampleBank(examples, embedder=hash_embedder)


def test_bank_round_trips_and_rejects_bad_files(bank, tmp_path):
    path = bank.save(tmp_path / "examples.jsonl")
    again = ExampleBank.load(path)
    assert [e.id for e in again] == [e.id for e in bank]
    assert again.examples[0].calls[0].arguments == {"city": "北京", "date": "明天"}
    assert not again.add(weather("北京"))  # the same example twice is one example
    assert len(ExampleBank.load(tmp_path / "missing.jsonl")) == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "assistant", "content": "hi"}]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="must end with the user's message"):
        ExampleBank.load(bad)
    bad.write_text("not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1"):
        ExampleBank.load(bad)


def test_remove_by_unique_prefix(bank):
    first = bank.examples[0]
    assert bank.remove(first.id[:6]) is first
    with pytest.raises(DataError, match="no example"):
        bank.remove("zzzz")


def test_search_is_diverse_and_respects_the_floor(bank):
    hits = bank.search([{"role": "user", "content": "杭州明天天气怎么样"}], k=4, per_label=2)
    labels = [e.label for e, _ in hits]
    assert labels[:2] == ["get_weather", "get_weather"] and labels.count("get_weather") == 2
    assert bank.search([{"role": "user", "content": "杭州明天天气怎么样"}], k=4, floor=0.99) == []


def test_routing_text_carries_the_previous_question():
    msgs = [{"role": "user", "content": "三文鱼多少钱"}, {"role": "assistant", "content": "168元"},
            {"role": "user", "content": "有优惠吗"}]
    assert routing_text(msgs) == "三文鱼多少钱\n有优惠吗"
    assert routing_text([{"role": "user", "content": "x", "name": "example"}]) == ""


def test_vote_weights_the_nearest():
    scores = vote([("a", 0.9), ("b", 0.5), ("b", 0.5), ("b", 0.5)], sharpness=8)
    assert next(iter(scores)) == "a"
    assert vote([("a+b", 0.5)]) == {"a": 0.5, "b": 0.5}


def test_example_router_modes(bank):
    names = ["get_weather", "get_promotions", "view_cart"]
    router = ExampleRouter(bank, k=3, call_at=0.7, answer_at=0.7)
    assert router.route([{"role": "user", "content": "杭州明天天气怎么样"}], names).mode == "call"
    assert router.route([{"role": "user", "content": "杭州明天天气怎么样"}], names).tools == ["get_weather"]
    assert router.route([{"role": "user", "content": "你好呀"}], names).mode == "answer"
    # tools outside the tool set never route: only their examples' labels that fit count
    only = router.route([{"role": "user", "content": "杭州明天天气怎么样"}], ["view_cart"])
    assert only.mode in ("answer", "choose") and "get_weather" not in only.tools


def test_description_router_ranks_tools(hash_embedder):
    router = DescriptionRouter(hash_embedder, top=1)
    router.describe({"get_weather": "get_weather: 查询城市天气", "view_cart": "view_cart: 查看购物车"})
    r = router.route([{"role": "user", "content": "北京天气"}], ["get_weather", "view_cart"])
    assert r.mode == "narrow" and r.tools == ["get_weather"] and r.source == "descriptions"
    # no more tools than it would offer: nothing to narrow
    assert router.route([{"role": "user", "content": "北京天气"}], ["view_cart"]).mode == "choose"


class _Table:
    """An embedder with the vectors given: similarities the test chooses."""

    def __init__(self, vectors):
        self.vectors = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in vectors.items()}

    def embed_batch(self, texts):
        return [self.vectors[t] for t in texts]


def test_description_router_offers_a_clear_leader_alone(tools):
    table = _Table({"a: weather": (1, 0, 0), "b: cart": (0, 1, 0), "c: recipes": (0, 0, 1),
                    "rain in Paris": (0.9, 0.3, 0.1), "dinner tonight": (0.1, 0.62, 0.6)})
    router = DescriptionRouter(table, lead=0.05)
    router.describe({"a": "a: weather", "b": "b: cart", "c": "c: recipes"})

    def ask(text, names=("a", "b", "c")):
        return router.route([{"role": "user", "content": text}], list(names))

    clear = ask("rain in Paris")
    assert clear.mode == "narrow" and clear.tools == ["a"] and clear.source == "descriptions"
    close = ask("dinner tonight")  # b leads c by less than 0.05: every tool is offered
    assert close.mode == "narrow" and close.tools == ["a", "b", "c"]
    assert close.scores["b"] > close.scores["c"] > close.scores["a"]
    assert ask("rain in Paris", ["b"]).tools == ["b"]  # one tool: offered, still a narrow route
    # in an agent, the model sees the leader alone
    model = FakeModel(["ok"])
    router = DescriptionRouter(_Table({**{f"{t.name}: {t.description}": (1, 0, 0) if t.name == "get_weather"
                                         else (0, 1, 0) for t in tools},
                                       "北京天气": (1, 0.1, 0)}), lead=0.05)
    Agent(model, tools, router=router).decide([{"role": "user", "content": "北京天气"}])
    assert [t["function"]["name"] for t in model.calls[0].tools] == ["get_weather"]


def test_a_narrow_route_offers_only_the_routed_tools_and_the_model_may_answer(tools, hash_embedder):
    model = FakeModel(["你好！"])
    agent = Agent(model, tools, router=DescriptionRouter(hash_embedder, top=1))  # Agent describes the tools
    d = agent.decide([{"role": "user", "content": "杭州明天天气怎么样"}])
    offered = [t["function"]["name"] for t in model.calls[0].tools]
    assert d.route.mode == "narrow" and offered == d.route.tools and len(offered) == 1
    assert d.text == "你好！" and "lookup" not in d.repairs  # no "no tool" signal: never forced to call


def test_a_routed_call_is_decoded_under_the_tool_schema(tools, bank):
    model = FakeModel(['{"name": "get_weather", "arguments": {"city": "杭州", "date": "明天"}}'])
    agent = Agent(model, tools, router=ExampleRouter(bank, k=3, call_at=0.7), examples=bank, shots=2)
    d = agent.decide([{"role": "user", "content": "杭州明天天气怎么样"}])
    assert [c.name for c in d.calls] == ["get_weather"] and d.repairs == ["routed"]
    assert d.route is not None and d.route.mode == "call"
    request = model.calls[0]
    names = {o["properties"]["name"]["const"] for o in request.constraint.json_schema["anyOf"]}
    assert names == {"get_weather"}  # only the routed tool, and no answer branch
    shots = [m for m in request.messages if m.get("name") == "example"]
    assert shots and all("天气" in m["content"] for m in shots if m["role"] == "user")


def test_an_answer_where_the_router_expects_a_tool_is_looked_up(tools, bank):
    model = FakeModel(["草莓没有优惠。", '{"name": "get_promotions", "arguments": {"product_name": "草莓"}}'])
    router = ExampleRouter(bank, k=3, call_at=0.99)  # unsure: the model chooses
    d = Agent(model, tools, router=router, shots=0).decide([{"role": "user", "content": "草莓有什么优惠吗"}])
    assert d.route.mode == "choose" and "lookup" in d.repairs
    assert [c.name for c in d.calls] == ["get_promotions"]


class _FixedRouter:
    """Always the same ``choose`` route with these vote shares."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def route(self, messages, tool_names):
        tools = [k for k in self.scores if k != NO_TOOL][:3]
        return Route("choose", tools, max(self.scores.values()), dict(self.scores), "fixed")


def test_an_answer_is_not_looked_up_when_no_single_tool_beats_no_tool(tools):
    # "今天A股大盘怎么样": tool share 0.54, but spread over unrelated tools, and "no tool"
    # the single likeliest; the refusal stays (a lookup wrote get_weather(city="A股"))
    refusal = "抱歉，我暂时办不了这个。"
    split = {NO_TOOL: 0.46, "get_promotions": 0.32, "get_weather": 0.12, "view_cart": 0.10}
    model = FakeModel([refusal, '{"name": "get_weather", "arguments": {"city": "A股", "date": "今天"}}'])
    d = Agent(model, tools, router=_FixedRouter(split), shots=0).decide([{"role": "user", "content": "今天A股大盘怎么样"}])
    assert not Route("choose", [], 0.46, split).expects_tool
    assert d.calls == [] and d.text == refusal and "lookup" not in d.repairs and len(model.calls) == 1
    # the same answer where one tool is the likeliest is looked up
    ahead = {NO_TOOL: 0.40, "get_promotions": 0.45, "get_weather": 0.10, "view_cart": 0.05}
    model = FakeModel(["草莓没有优惠。", '{"name": "get_promotions", "arguments": {"product_name": "草莓"}}'])
    d = Agent(model, tools, router=_FixedRouter(ahead), shots=0).decide([{"role": "user", "content": "草莓有优惠吗"}])
    assert "lookup" in d.repairs and [c.name for c in d.calls] == ["get_promotions"]


def _after_promotions(question: str) -> list[dict]:
    """A conversation that already looked up 草莓's promotions, then ``question``."""
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_promotions", "arguments": json.dumps({"product_name": "草莓"})}}
    return [{"role": "user", "content": "草莓有优惠吗"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "name": "get_promotions", "content": '[{"title": "满39减10"}]'},
            {"role": "assistant", "content": "草莓满39减10。"},
            {"role": "user", "content": question}]


def test_an_answer_restating_the_results_of_the_expected_tool_is_kept(tools, bank):
    # "这两款里哪个更便宜？" after a recommendation: the answer is in the results already
    # shown; looking it up again turned a right answer into a needless call
    model = FakeModel(["满39减10。"])
    router = ExampleRouter(bank, k=3, call_at=1.01)  # never sure: the model chooses
    d = Agent(model, tools, router=router, shots=0, grounding=NumberGrounding()).decide(
        _after_promotions("草莓有什么优惠吗"))
    assert d.route.mode == "choose" and d.route.tools[0] == "get_promotions"
    assert d.calls == [] and d.text == "满39减10。" and "lookup" not in d.repairs and len(model.calls) == 1


def test_an_answer_stating_no_result_is_still_looked_up(tools, bank):
    model = FakeModel(["草莓没有优惠。", '{"name": "get_promotions", "arguments": {"product_name": "车厘子"}}'])
    router = ExampleRouter(bank, k=3, call_at=1.01)  # never sure: the model chooses
    d = Agent(model, tools, router=router, shots=0, grounding=NumberGrounding()).decide(
        _after_promotions("车厘子有什么优惠吗"))
    assert "lookup" in d.repairs and [c.arguments for c in d.calls] == [{"product_name": "车厘子"}]


def test_a_lookup_that_repeats_a_call_already_made_keeps_the_answer(tools, bank):
    # the result is in the conversation: calling again would show the same thing
    model = FakeModel(["有的。", '{"name": "get_promotions", "arguments": {"product_name": "草莓"}}'])
    router = ExampleRouter(bank, k=3, call_at=1.01)  # never sure: the model chooses
    agent = Agent(model, tools, router=router, shots=0, grounding=NumberGrounding())
    d = agent.decide(_after_promotions("草莓有什么优惠吗"))
    assert d.calls == [] and d.text == "有的。" and "lookup" not in d.repairs
    assert len(model.calls) == 2  # looked up once, not again by the grounding step


def test_no_call_questions_stay_answers(tools, bank):
    model = FakeModel(["你好！我可以帮你买菜。"])
    d = Agent(model, tools, router=ExampleRouter(bank, k=3), examples=bank).decide([{"role": "user", "content": "你好"}])
    assert d.calls == [] and d.text == "你好！我可以帮你买菜。" and d.route.mode == "answer"


def test_example_turns_are_not_evidence(tools, bank):
    # an example's words must not make an invented value look grounded
    from kapibara.agent.decide import evidence, user_text

    turns = Agent(FakeModel([]), tools).protocol.example_turns("北京168元的三文鱼", [], "好的")
    assert evidence(turns) == "" and user_text(turns) == ""
    assert json.dumps(turns, ensure_ascii=False).count("example") == 2
    assert NO_TOOL == "__none__"


def test_a_call_where_the_router_is_sure_no_tool_is_needed_is_answered_instead(tools, bank):
    model = FakeModel([json.dumps({"name": "recommend_recipes", "arguments": {"dish_or_ingredient": "红烧肉"}}),
                       "不客气，再见！"])
    d = Agent(model, tools, router=ExampleRouter(bank, k=3, answer_at=0.5), shots=0).decide(
        [{"role": "user", "content": "你好"}])
    assert d.route.mode == "answer" and d.calls == [] and d.text == "不客气，再见！"
    assert model.calls[1].tools is None  # the answer is written with no tools offered


def test_linear_router_fits_once_and_keeps_the_fit_in_its_cache(bank, tmp_path, monkeypatch):
    from kapibara.agent import router as router_module
    from kapibara.agent.router import LinearRouter

    first = LinearRouter(bank, cache=tmp_path, call_at=0.4)
    assert first.route([{"role": "user", "content": "广州明天天气怎么样"}], ["get_weather", "get_promotions"]).tools[0] == "get_weather"
    [saved] = tmp_path.glob("linear-*.npz")

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted again")

    monkeypatch.setattr(router_module, "fit_softmax", no_fit)
    again = LinearRouter(bank, cache=tmp_path, call_at=0.4)
    assert first.weights is not None and again.weights is not None
    assert all((a == b).all() for a, b in zip(first.weights, again.weights, strict=True))
    monkeypatch.undo()
    saved.write_bytes(b"not a numpy file")  # a damaged cache is fitted again, not an error
    assert LinearRouter(bank, cache=tmp_path).weights is not None
    bank.add(Example.make("牛奶有优惠吗", calls=[ToolCall("get_promotions", {"product_name": "牛奶"})]))
    LinearRouter(bank, cache=tmp_path)  # other examples: another fit, another file
    assert len(list(tmp_path.glob("linear-*.npz"))) == 2


def test_a_conversation_gives_one_example_per_decision():
    from kapibara.optimize.bank import examples_from_conversation

    call = {"id": "c1", "type": "function", "function": {"name": "get_promotions", "arguments": '{"product_name": "草莓"}'}}
    messages = [{"role": "system", "content": "你是购物助手"},
                {"role": "user", "content": "草莓有优惠吗"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "满50减10"},
                {"role": "assistant", "content": "草莓满50减10。"},
                {"role": "user", "content": "谢谢"},
                {"role": "assistant", "content": "不客气！"}]
    first, second = examples_from_conversation(messages, "t")
    assert first.messages == messages[1:2] and first.label == "get_promotions"
    assert first.calls[0].arguments == {"product_name": "草莓"}
    assert second.label == NO_TOOL and second.answer == "不客气！" and second.messages == messages[1:6]


def test_the_demo_router_learns_from_the_training_set_but_not_its_dev_samples_twice(tmp_path):
    from kapibara.demo.agent import routing_examples

    def sample(source, question):
        return {"source": source, "messages": [{"role": "user", "content": question},
                                               {"role": "assistant", "content": "好的"}]}

    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(s, ensure_ascii=False) for s in [
        sample("dev:no_call-001", "你好"), sample("template:no_call", "你是谁")]) + "\n\n", encoding="utf-8")
    assert [e.question for e in routing_examples(path)] == ["你是谁"]


def test_extra_examples_weigh_their_share_of_the_fit(bank):
    from kapibara.agent.router import LinearRouter

    wrong = [Example.make(f"{c}明天天气怎么样", calls=[ToolCall("get_promotions", {"product_name": c})])
             for c in ("杭州", "南京", "成都", "重庆", "西安", "武汉")]
    alone = LinearRouter(bank)
    unheard = LinearRouter(bank, extra=wrong, extra_share=0.0)  # no weight: the bank decides
    heard = LinearRouter(bank, extra=wrong, extra_share=0.9)
    question = [{"role": "user", "content": "苏州明天天气怎么样"}]
    assert next(iter(unheard.probabilities(question))) == "get_weather"
    assert next(iter(heard.probabilities(question))) == "get_promotions"
    assert next(iter(alone.probabilities(question))) == "get_weather"


def test_an_answer_claiming_an_act_it_did_not_do_is_not_shown(tools):
    # the tuned 0.5B, "那就买它吧，来一台" after a product answer: "好的，这个我帮你处理。"
    # and nothing bought; the router is unsure (no tool 0.45, add_to_cart 0.43), so no
    # look-up: the user is told it was not done
    split = {NO_TOOL: 0.45, "add_to_cart": 0.43, "get_promotions": 0.06}
    model = FakeModel(["好的，这个我帮你处理。", '{"name": "add_to_cart", "arguments": {"product_name": "草莓"}}'])
    d = Agent(model, tools, router=_FixedRouter(split), shots=0, language="zh").decide(
        _after_promotions("那就买它吧，来一盒"))
    assert d.calls == [] and "没能" in d.text and "lookup" not in d.repairs and len(model.calls) == 1
    # where the router expects a tool the answer is looked up, claim or not
    ahead = {NO_TOOL: 0.30, "add_to_cart": 0.60, "get_promotions": 0.10}
    model = FakeModel(["好的，这个我帮你处理。", '{"name": "add_to_cart", "arguments": {"product_name": "草莓"}}'])
    d = Agent(model, tools, router=_FixedRouter(ahead), shots=0).decide(_after_promotions("那就买它吧，来一盒"))
    assert "lookup" in d.repairs and [c.name for c in d.calls] == ["add_to_cart"]


def test_a_claimed_act_no_tool_does_is_answered_honestly(tools, bank):
    # "设置一个明早7点的闹钟": the router is sure no tool is needed, the model says it is done
    model = FakeModel(["好的，我已经设置了一个明早7点的闹钟。"])

    class _NoTool:
        def route(self, messages, tool_names):
            return Route("answer", [], 0.9, {NO_TOOL: 0.9})

    d = Agent(model, tools, router=_NoTool(), shots=0, language="zh").decide(
        [{"role": "user", "content": "帮我设置一个明早7点的闹钟"}])
    assert d.calls == [] and "闹钟" not in d.text and "办不到" in d.text and len(model.calls) == 1
    # the router leaning to no tool ("从购物车里删掉农夫山泉": no tool 0.50, add_to_cart 0.28 on
    # the dev split): "好的，删除农夫山泉。" deleted nothing, and add_to_cart is no look-up for it
    lean = {NO_TOOL: 0.497, "add_to_cart": 0.283, "view_cart": 0.22}
    model = FakeModel(["好的，删除农夫山泉。", '{"name": "add_to_cart", "arguments": {"product_name": "农夫山泉"}}'])
    d = Agent(model, tools, router=_FixedRouter(lean), shots=0, language="zh").decide(
        [{"role": "user", "content": "从购物车里删掉农夫山泉"}])
    assert d.calls == [] and "没能" in d.text and len(model.calls) == 1


def test_an_answer_after_a_failed_reask_where_the_router_expects_a_tool_is_looked_up(tools):
    # "农夫山泉和五常大米各来一份": the first call fails validation, the re-ask refuses
    ahead = {NO_TOOL: 0.06, "add_to_cart": 0.73, "get_promotions": 0.13}
    bad = '{"name": "add_to_cart", "arguments": {"quantity": 1}}'
    refusal = "抱歉，这个我帮不上忙。"
    good = '{"name": "add_to_cart", "arguments": {"product_name": "农夫山泉"}}'
    model = FakeModel([bad, refusal, good])
    d = Agent(model, tools, router=_FixedRouter(ahead), shots=0).decide(
        [{"role": "user", "content": "农夫山泉和五常大米各来一份"}])
    assert "reask" in d.repairs and "lookup" in d.repairs and len(model.calls) == 3
    assert [c.name for c in d.calls][:1] == ["add_to_cart"]
    # with the router unsure the refusal stays
    split = {NO_TOOL: 0.50, "add_to_cart": 0.30, "get_promotions": 0.20}
    model = FakeModel([bad, refusal, good])
    d = Agent(model, tools, router=_FixedRouter(split), shots=0).decide(
        [{"role": "user", "content": "农夫山泉和五常大米各来一份"}])
    assert d.calls == [] and d.text == refusal and len(model.calls) == 2


def test_a_claimed_cart_change_is_still_looked_up_by_the_grounding_step(tools):
    # the 1.5B, "那就买它吧，来一台": "好的，我会把 vivo X60 Pro 加入你的购物车。" with the router
    # unsure; the claim is a fact only add_to_cart's result holds, so the grounding step
    # looks the call up before any claim is replaced
    from kapibara.demo.grounding import demo_grounding

    split = {NO_TOOL: 0.45, "add_to_cart": 0.43, "get_promotions": 0.06}
    model = FakeModel(["好的，我会把草莓加入你的购物车。", '{"name": "add_to_cart", "arguments": {"product_name": "草莓"}}'])
    d = Agent(model, tools, router=_FixedRouter(split), shots=0, grounding=demo_grounding()).decide(
        _after_promotions("那就买它吧，来一盒"))
    assert "lookup" in d.repairs and [c.name for c in d.calls] == ["add_to_cart"]
