"""The compact prompt profile a tuned model declares."""

from __future__ import annotations

import pytest

from kapibara.agent import Agent
from kapibara.agent.profile import compact_prompt, compact_spec, model_profile
from kapibara.errors import ConfigError
from kapibara.models.fake import FakeModel
from kapibara.prompts import Prompt
from kapibara.tools import ToolSet, tool


@tool
def get_weather(city: str, date: str = "today") -> str:
    """Look up the weather.

    Args:
        city: the city name, e.g. Beijing
        date: today, tomorrow, ...
    """
    return f"{city}: sunny"


def tuned(profile: str = "compact", tools: tuple[str, ...] = ()) -> FakeModel:
    m = FakeModel(default="ok")
    m.profile = profile  # type: ignore[attr-defined]
    m.tuned_tools = tools  # type: ignore[attr-defined]
    return m


def test_compact_spec_drops_every_description_and_keeps_the_signature() -> None:
    spec = ToolSet([get_weather]).specs()[0]
    small = compact_spec(spec)
    text = str(small)
    assert "description" not in text
    params = small["function"]["parameters"]
    assert params["required"] == ["city"] and set(params["properties"]) == {"city", "date"}
    assert "description" in str(spec), "the original spec is not modified"


def test_compact_prompt_keeps_the_role_only() -> None:
    p = Prompt.builtin("grocery_assistant", "en")
    c = compact_prompt(p)
    assert c.role == p.role and not c.constraints and not c.examples and c.language == "en"


def test_profile_applies_only_to_the_tools_the_model_learned() -> None:
    tools = ToolSet([get_weather])
    assert model_profile(FakeModel(), tools) == "default"
    assert model_profile(tuned(), tools) == "compact"
    assert model_profile(tuned(tools=("get_weather",)), tools) == "compact"
    assert model_profile(tuned(tools=("add_to_cart",)), tools) == "default"
    assert model_profile(tuned(profile="nonsense"), tools) == "default"


def test_agent_sends_a_tuned_model_the_compact_prompt() -> None:
    tools = ToolSet([get_weather])
    prompt = Prompt.builtin("grocery_assistant", "en")
    full = Agent(FakeModel(), tools, prompt=prompt, shots=4)
    small = Agent(tuned(tools=("get_weather",)), tools, prompt=prompt, shots=4)
    assert "description" in str(full.tools.specs()) and "description" not in str(small.tools.specs())
    assert small.shots == 0 and small.examples is None
    f, s = full.system_messages("en"), small.system_messages("en")
    assert len(str(s)) < len(str(f)) and prompt.role in str(s[0]["content"])
    # the tools still run
    assert small.tools.get("get_weather") is not None


def test_a_tuned_model_keeps_the_router() -> None:
    """The router adds no prompt tokens; the compact profile leaves it in place."""
    from kapibara.agent.router import Route

    class Always:
        def route(self, messages, tool_names):  # type: ignore[no-untyped-def]
            return Route("call", ["get_weather"], 1.0)

    tools = ToolSet([get_weather])
    small = Agent(tuned(tools=("get_weather",)), tools, prompt=Prompt.builtin("grocery_assistant", "en"),
                  router=Always())
    assert isinstance(small.router, Always)
    assert small.route([{"role": "user", "content": "weather in Paris?"}]).tools == ["get_weather"]


def test_a_routed_call_whose_start_the_backend_writes_gets_no_format_instruction() -> None:
    """The format instruction (~75 tokens to prefill) only says what the written call start
    and the grammar already fix; a backend that cannot write the start still gets it."""
    from kapibara.agent.router import Route

    class Always:
        def route(self, messages, tool_names):  # type: ignore[no-untyped-def]
            return Route("call", ["get_weather"], 1.0)

    call_text = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    for writes, instructed in ((True, False), (False, True)):
        model = FakeModel([call_text])
        model.write_prefix = writes  # type: ignore[attr-defined]
        agent = Agent(model, ToolSet([get_weather]), router=Always())
        d = agent.decide([{"role": "user", "content": "weather in Paris?"}])
        assert [c.name for c in d.calls] == ["get_weather"] and "routed" in d.repairs
        request = model.calls[0]
        assert request.constraint is not None and request.constraint.prefix.startswith('{"name": "get_weather"')
        assert (request.messages[-1]["content"] != "weather in Paris?") is instructed


def test_tools_are_shown_as_signatures_except_to_a_model_tuned_on_them() -> None:
    tools = ToolSet([get_weather])
    plain, learned = FakeModel(default="ok"), tuned(tools=("get_weather",))
    Agent(plain, tools).run("weather?")
    Agent(learned, tools).run("weather?")
    Agent(plain, tools, tool_format="json").run("weather?")
    assert [c.tool_format for c in plain.calls] == ["signature", "json"]
    assert [c.tool_format for c in learned.calls] == ["json"]
    with pytest.raises(ConfigError, match="tool_format"):
        Agent(plain, tools, tool_format="yaml")
