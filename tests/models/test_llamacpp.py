"""The llama.cpp backend. Tests marked ``model`` load the real bundled 0.5B (short outputs)."""

from __future__ import annotations

import json

import pytest

from kapibara.errors import ModelNotFoundError
from kapibara.models.base import Completion, Constraint, Model, TextDelta

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "city name"}},
            "required": ["city"],
        },
    },
}
SYSTEM = {"role": "system", "content": "You are a weather assistant. Use the tools."}


def test_unknown_name_lists_known_models(tmp_path):
    pytest.importorskip("llama_cpp")
    from kapibara.models.llamacpp import LlamaCppModel

    with pytest.raises(ModelNotFoundError) as err:
        LlamaCppModel.from_name_or_path("no-such-model")
    assert "qwen2.5-coder-0.5b" in (err.value.hint or "")


@pytest.mark.model
def test_generates_a_short_answer(real_model):
    assert isinstance(real_model, Model)
    done = real_model.chat([{"role": "user", "content": "你好"}], max_tokens=16)
    assert done.text.strip()
    u = done.usage
    assert 0 < u.completion_tokens <= 16
    assert u.prompt_tokens > 5 and u.ttft_s > 0 and u.total_s >= u.ttft_s
    assert u.prefill_tps > 0


@pytest.mark.model
def test_streams_deltas_then_a_completion(real_model):
    events = list(real_model.chat([{"role": "user", "content": "Say hi"}], max_tokens=8, stream=True))
    assert isinstance(events[-1], Completion)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas and "".join(deltas) == events[-1].text


@pytest.mark.model
def test_tool_call_is_parsed(real_model):
    done = real_model.chat(
        [SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}],
        tools=[WEATHER],
        max_tokens=48,
    )
    assert [c.name for c in done.tool_calls] == ["get_weather"]
    assert "paris" in json.dumps(done.tool_calls[0].arguments).lower()
    assert done.finish_reason == "tool_calls"


@pytest.mark.model
def test_json_schema_constraint_gives_valid_json(real_model):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    done = real_model.chat(
        [{"role": "user", "content": "Invent a person."}],
        constraint=Constraint(json_schema=schema),
        max_tokens=40,
    )
    value = json.loads(done.text)
    assert isinstance(value["name"], str) and isinstance(value["age"], int)


@pytest.mark.model
def test_decoding_under_a_json_grammar_stops_at_the_closing_brace(real_model, monkeypatch):
    # Nothing but spaces and the end token may follow the object: the step that would
    # only read the end token is not decoded (one llama_decode fewer per constrained call).
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    llama = real_model.llama
    evals: list[int] = []
    real_eval = llama.eval
    monkeypatch.setattr(llama, "eval", lambda tokens: (evals.append(len(tokens)), real_eval(tokens))[1])
    done = real_model.chat([{"role": "user", "content": "Which city is the capital of France?"}],
                           constraint=Constraint(json_schema=schema), max_tokens=30)
    assert json.loads(done.text)["city"] and done.finish_reason == "stop"
    # the prompt (one batch, or none left to evaluate if cached), then one step per token
    # but the last: the closing brace is never evaluated
    assert sum(1 for n in evals if n == 1) <= done.usage.completion_tokens - 1


@pytest.mark.model
def test_json_schema_keeps_the_declared_property_order(real_model):
    # llama.cpp emits properties in schema order and optional ones can only be skipped
    # forwards: sorted keys once put a tool's "name" after its "arguments", and an optional
    # "scenario" after "max_price", so a call with a scenario could never carry a budget.
    schema = {
        "type": "object",
        "properties": {"name": {"const": "recommend"},
                       "arguments": {"type": "object", "additionalProperties": False,
                                     "properties": {"zone": {"type": "string"}, "budget": {"type": "integer"}},
                                     "required": ["zone"]}},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }
    done = real_model.chat(
        [{"role": "user", "content": "Recommend something in zone A for at most 30."}],
        constraint=Constraint(json_schema=schema),
        max_tokens=40,
    )
    value = json.loads(done.text)
    assert list(value) == ["name", "arguments"]
    assert list(value["arguments"])[0] == "zone"


@pytest.mark.model
def test_greedy_grammar_fast_path_gives_the_same_tokens(real_model, monkeypatch):
    # The top token checked alone first must decode exactly what llama.cpp's check of the
    # whole vocabulary decodes, including where the grammar refuses the model's first choice.
    from kapibara.agent.repair import tool_json_schema
    from kapibara.models import grammar_sampler

    schema = tool_json_schema(_weather_tools(), allow_answer=False)
    messages = [SYSTEM, {"role": "user", "content": "What's the weather in Paris for the next 3 days?"}]
    used = []
    real_init = grammar_sampler.GreedyGrammarSampler.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        used.append(self)

    monkeypatch.setattr(grammar_sampler.GreedyGrammarSampler, "__init__", spy)
    monkeypatch.setattr(real_model, "jump_grammar", False)  # every token sampled (its own test below)
    # Both start from an empty KV cache: a prompt token evaluated alone (the cached prompt's
    # last one) and the same token in a batch may differ in the last bits of its logits on
    # a repacked Q4_0 file, which flips near-ties (a space after ':') for either sampler.
    real_model.llama.reset()
    fast = real_model.chat(messages, constraint=Constraint(json_schema=schema), max_tokens=60)
    monkeypatch.setattr(real_model, "fast_grammar", False)
    real_model.llama.reset()
    slow = real_model.chat(messages, constraint=Constraint(json_schema=schema), max_tokens=60)
    assert fast.text == slow.text
    assert json.loads(fast.text)["name"] == "get_weather"
    assert len(used) == 1 and used[0].steps == fast.usage.completion_tokens  # no end token: stopped at "}"
    assert used[0].fallbacks < used[0].steps


@pytest.mark.model
def test_a_schema_calls_fixed_text_is_written_ahead_under_its_grammar(real_model, monkeypatch):
    # Under a call schema's grammar the schema's tools say what is fixed (a key's rest,
    # '": "', a tool name only one tool starts so): written ahead, accepted by the
    # grammar, the same call as decoding every token.
    from kapibara.agent.repair import tool_json_schema

    schema = tool_json_schema(_weather_tools(), allow_answer=False)
    messages = [SYSTEM, {"role": "user", "content": "What's the weather in Paris for the next 3 days?"}]
    real_model.llama.reset()
    written = real_model.chat(messages, constraint=Constraint(json_schema=schema), max_tokens=60)
    monkeypatch.setattr(real_model, "jump_grammar", False)
    real_model.llama.reset()
    decoded = real_model.chat(messages, constraint=Constraint(json_schema=schema), max_tokens=60)
    assert json.loads(written.text) == json.loads(decoded.text)
    assert json.loads(written.text)["name"] == "get_weather"
    assert 0 < written.usage.forced_tokens < written.usage.completion_tokens
    assert decoded.usage.forced_tokens == 0
    # with the constraint's prefix written first, the rest goes on the same way
    prefix = '{"name": "get_weather", "arguments": {"city": "'
    monkeypatch.setattr(real_model, "jump_grammar", True)
    real_model.llama.reset()
    prefixed = real_model.chat(messages, constraint=Constraint(json_schema=schema, prefix=prefix), max_tokens=60)
    assert json.loads(prefixed.text) == json.loads(decoded.text)


@pytest.mark.model
def test_call_probability_says_how_sure_the_first_token_was(real_model):
    # Set when asked, for an unconstrained output with tools offered: high for a call that
    # fits, lower for a question the tool cannot answer; None when not asked, without
    # tools or under a constraint.
    from kapibara.models.base import ChatRequest, final_completion

    def ask(content, **options):
        request = ChatRequest(messages=[SYSTEM, {"role": "user", "content": content}], max_tokens=24,
                              call_probability=True, **options)
        return final_completion(real_model.complete(request))

    fits = ask("What's the weather in Paris?", tools=[WEATHER])
    unfit = ask("How many sides does a hexagon have?", tools=[WEATHER])
    assert 0.0 <= unfit.call_probability < fits.call_probability <= 1.0
    assert fits.call_probability > 0.5
    schema = Constraint(json_schema={"type": "object", "properties": {"a": {"type": "integer"}}})
    assert ask("Say hi.").call_probability is None
    assert ask("a=1", tools=[WEATHER], constraint=schema).call_probability is None
    unasked = real_model.chat([SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}],
                              tools=[WEATHER], max_tokens=8)
    assert unasked.call_probability is None


def _weather_tools():
    from kapibara.tools import ToolSet, tool

    @tool
    def get_weather(city: str, days: int = 1) -> str:
        """Get the weather forecast for a city.

        Args:
            city: city name
            days: how many days
        """
        return ""

    return ToolSet([get_weather])


@pytest.mark.model
def test_a_constraints_prefix_is_prefilled_not_decoded(real_model, monkeypatch):
    # A routed call's '{"name": "get_weather", "arguments": {"city": "' is written into the
    # prompt and the grammar advanced past it: fewer tokens decoded, the same call, the
    # text whole. Decoding stops at the closing brace (nothing else may follow it).
    from kapibara.agent.repair import parse_constrained, tool_constraint

    constraint = tool_constraint(real_model, _weather_tools(), allow_answer=False)
    assert constraint is not None and constraint.prefix == '{"name": "get_weather", "arguments": {"city": "'
    messages = [SYSTEM, {"role": "user", "content": "What's the weather in Paris for the next 3 days?"}]
    forced = real_model.chat(messages, constraint=constraint, max_tokens=60)
    monkeypatch.setattr(real_model, "write_prefix", False)
    decoded = real_model.chat(messages, constraint=constraint, max_tokens=60)
    assert forced.text.startswith(constraint.prefix)
    assert json.loads(forced.text) == json.loads(decoded.text)
    assert parse_constrained(forced.text).calls[0].arguments["city"] == "Paris"
    assert forced.usage.completion_tokens <= decoded.usage.completion_tokens - 8
    assert forced.finish_reason == "stop" and forced.text.endswith("}")
    assert forced.usage.prompt_tokens >= decoded.usage.prompt_tokens + 5


@pytest.mark.model
def test_a_prefix_the_grammar_refuses_is_decoded_as_usual(real_model):
    # A wrong prefix never reaches llama.cpp's grammar (it aborts on a refused token): the
    # output is decoded whole, exactly as with no prefix.
    from kapibara.agent.repair import tool_json_schema

    schema = tool_json_schema(_weather_tools(), allow_answer=False)
    messages = [SYSTEM, {"role": "user", "content": "Weather in Oslo?"}]
    plain = real_model.chat(messages, constraint=Constraint(json_schema=schema), max_tokens=40)
    wrong = real_model.chat(messages, constraint=Constraint(json_schema=schema, prefix='{"answer":'), max_tokens=40)
    assert wrong.text == plain.text
    assert json.loads(wrong.text)["name"] == "get_weather"


@pytest.mark.model
def test_second_call_reuses_the_shared_prefix(real_model):
    first = [SYSTEM, {"role": "user", "content": "Weather in Oslo?"}]
    real_model.chat(first, tools=[WEATHER], max_tokens=4)
    again = real_model.chat(
        [SYSTEM, {"role": "user", "content": "Weather in Lima?"}], tools=[WEATHER], max_tokens=4
    )
    # everything up to the user's question is shared: system prompt + tool block
    assert again.usage.cached_prompt_tokens > 100
    assert again.usage.cached_prompt_tokens < again.usage.prompt_tokens


@pytest.mark.model
def test_saved_prefix_state_loads_in_a_fresh_model(real_model, tmp_path):
    from kapibara.models.llamacpp import LlamaCppModel

    state = LlamaCppModel(
        real_model.path, n_ctx=real_model.n_ctx, threads=real_model.threads, prefix_state_dir=tmp_path
    ).save_prefix([SYSTEM], [WEATHER])
    assert state.exists() and state.parent == tmp_path
    fresh = LlamaCppModel(
        real_model.path,
        n_ctx=real_model.n_ctx,
        threads=real_model.threads,
        prefix_state_dir=tmp_path,
        shared=False,  # a new llama.cpp context with an empty KV cache, like a new process
    )
    done = fresh.chat(
        [SYSTEM, {"role": "user", "content": "Weather in Rome?"}], tools=[WEATHER], max_tokens=4
    )
    assert fresh.last_loaded_prefix == state
    assert done.usage.cached_prompt_tokens > 100
    # greedy output from the restored state equals output from a full prefill
    reference = real_model.chat(
        [SYSTEM, {"role": "user", "content": "Weather in Rome?"}], tools=[WEATHER], max_tokens=4
    )
    assert done.text == reference.text
    # a different model context (n_ctx) never picks up that state
    other = LlamaCppModel(real_model.path, n_ctx=2048, threads=real_model.threads, prefix_state_dir=tmp_path, shared=False)
    miss = other.chat([SYSTEM, {"role": "user", "content": "Weather in Rome?"}], tools=[WEATHER], max_tokens=1)
    assert other.last_loaded_prefix is None and miss.usage.cached_prompt_tokens == 0


@pytest.mark.model
def test_tool_turns_render_with_the_models_own_template(real_model):
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "巴黎"}'}}
    prompt = real_model.render(
        [
            SYSTEM,
            {"role": "user", "content": "巴黎天气？"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "晴，25°C"},
        ],
        [WEATHER],
    )
    # OpenAI-style string arguments are decoded so Qwen's template prints them as JSON, Chinese kept
    assert '{"name": "get_weather", "arguments": {"city": "巴黎"}}' in prompt
    assert "<tool_response>\n晴，25°C\n</tool_response>" in prompt
    assert "# Tools" in prompt and prompt.endswith("<|im_start|>assistant\n")


@pytest.mark.model
def test_tools_shown_as_signatures_keep_the_templates_frame(real_model):
    messages = [SYSTEM, {"role": "user", "content": "巴黎天气？"}]
    as_json = real_model.render(messages, [WEATHER])
    as_signature = real_model.render(messages, [WEATHER], tool_format="signature")
    assert "<tools>\n// Get the current weather for a city\nget_weather(city: string)\n  city: city name\n</tools>" \
        in as_signature

    def frame(text):  # all but the tools block
        return text[:text.rindex("<tools>\n")] + text[text.rindex("\n</tools>"):]

    assert frame(as_signature) == frame(as_json)
    assert len(real_model.tokenize(as_signature)) < len(real_model.tokenize(as_json))
    assert real_model.render(messages, [WEATHER], tool_format="json") == as_json


@pytest.mark.model
def test_a_calls_fixed_text_is_written_ahead_not_decoded(real_model, monkeypatch):
    # Greedy with tools and no grammar: what the call must go on with (models/jump.py) is
    # evaluated in one batch with the next token. The call is the one decoded token by
    # token (a batch's logits may differ in the last bits, so the text is compared as calls).
    messages = [SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}]
    real_model.llama.reset()
    written = real_model.chat(messages, tools=[WEATHER], max_tokens=48)
    monkeypatch.setattr(real_model, "jump_forward", False)
    real_model.llama.reset()
    decoded = real_model.chat(messages, tools=[WEATHER], max_tokens=48)
    assert [(c.name, c.arguments) for c in written.tool_calls] == [(c.name, c.arguments) for c in decoded.tool_calls]
    assert written.tool_calls and written.finish_reason == "tool_calls"
    assert 0 < written.usage.forced_tokens < written.usage.completion_tokens
    assert decoded.usage.forced_tokens == 0
    assert written.usage.completion_tokens == decoded.usage.completion_tokens


@pytest.mark.model
def test_written_ahead_text_streams_and_respects_the_token_cap(real_model):
    messages = [SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}]
    events = list(real_model.chat(messages, tools=[WEATHER], max_tokens=6, stream=True))
    done = events[-1]
    assert isinstance(done, Completion)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.text
    assert done.usage.completion_tokens <= 6


@pytest.mark.model
def test_a_system_turn_met_again_is_loaded_from_memory(real_model, monkeypatch):
    # Two system turns taking turns in the KV cache (a Chinese and an English agent on
    # one model): the second time a turn is prefilled its state is kept, the third time
    # it is loaded instead of prefilled, and the output is the same.
    from kapibara.models.llamacpp import LlamaCppModel

    monkeypatch.setattr(real_model._shared, "system_seen", set())
    monkeypatch.setattr(real_model._shared, "system_states", __import__("collections").OrderedDict())
    a = [{"role": "system", "content": "You answer in one word. " * 6}, {"role": "user", "content": "Sky colour?"}]
    b = [{"role": "system", "content": "你只用一个词回答。" * 6}, {"role": "user", "content": "天空的颜色？"}]
    runs = [real_model.chat(m, max_tokens=4) for m in (a, b, a, b)]
    assert len(real_model._shared.system_states) == 2
    again = real_model.chat(a, max_tokens=4)
    system_end = real_model._system_end(real_model.tokenize(real_model.render(a)))
    assert again.usage.cached_prompt_tokens >= system_end > 32
    assert runs[0].usage.cached_prompt_tokens < system_end
    assert again.text == runs[2].text
    monkeypatch.setattr(LlamaCppModel, "remember_system", 0)
    real_model.chat(b, max_tokens=4)
    assert real_model.chat(a, max_tokens=4).usage.cached_prompt_tokens < system_end


@pytest.mark.model
def test_text_written_ahead_keeps_only_the_call_tags_special(real_model):
    tag = real_model.tokenize_text("</tool_call>")
    assert len(tag) == 1
    assert real_model.tokenize_text('x"}}\n</tool_call>')[-1] == tag[0]
    assert len(real_model.tokenize_text("<|im_end|>")) > 1  # an enum value, not the end of the turn


@pytest.mark.model
def test_a_reply_that_repeats_the_prompt_is_drafted_from_it(real_model, monkeypatch):
    # Prompt lookup (models/lookup.py): a reply copying the system turn is verified in
    # batches of drafted tokens, the same text as decoding token by token; a call is
    # never drafted (its values are too short to pay).
    motto = "Measure twice, cut once, and always keep the workshop floor clear of sawdust."
    messages = [{"role": "system", "content": f"When asked for the motto, reply with exactly this text: {motto}"},
                {"role": "user", "content": "What is the motto?"}]
    monkeypatch.setattr(real_model, "prompt_lookup", True)
    real_model.llama.reset()
    drafted = real_model.chat(messages, max_tokens=40)
    monkeypatch.setattr(real_model, "prompt_lookup", False)
    real_model.llama.reset()
    decoded = real_model.chat(messages, max_tokens=40)
    assert drafted.text == decoded.text
    assert "sawdust" in drafted.text
    assert 0 < drafted.usage.accepted_tokens <= drafted.usage.drafted_tokens
    assert decoded.usage.drafted_tokens == 0
    assert drafted.usage.completion_tokens == decoded.usage.completion_tokens
    monkeypatch.setattr(real_model, "prompt_lookup", True)
    call = real_model.chat([SYSTEM, {"role": "user", "content": "What's the weather in Paris?"}],
                           tools=[WEATHER], max_tokens=48)
    assert call.tool_calls and call.usage.drafted_tokens == 0
