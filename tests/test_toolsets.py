"""Named tool sets: the demo registers itself, eval code finds any registered name, and
nothing generic imports the demo."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kapibara.errors import DataError
from kapibara.evals.cases import Case, resolve_tools
from kapibara.evals.runner import run_case, toolset_prompt
from kapibara.models.fake import FakeModel
from kapibara.prompts import Prompt
from kapibara.tools import ToolSet, tool
from kapibara.toolsets import register_toolset, toolset_entry, toolset_names, unregister_toolset


def ping(host: str) -> str:
    """Ping a host.

    Args:
        host: the host name
    """
    return f"pong from {host}"


PROMPT = Prompt(role="You are a network helper.", language="en")


@pytest.fixture
def ping_set() -> Iterator[ToolSet]:
    tools = ToolSet([tool(ping)])
    register_toolset("test-ping", tools.specs, toolset_factory=lambda: tools, prompt_factory=lambda: PROMPT)
    yield tools
    unregister_toolset("test-ping")


def test_importing_the_demo_registers_its_tools_and_prompt() -> None:
    from kapibara.demo import demo_prompt, demo_toolset

    entry = toolset_entry("demo")
    assert [s["function"]["name"] for s in resolve_tools("demo")] == demo_toolset().names
    assert entry.toolset is not None and entry.toolset().names == demo_toolset().names
    assert entry.prompt is not None and entry.prompt() == demo_prompt("zh")
    assert toolset_prompt("demo") == demo_prompt("zh")


def test_a_registered_name_resolves_in_the_eval_code(ping_set: ToolSet) -> None:
    assert "test-ping" in toolset_names()
    assert resolve_tools("test-ping") == ping_set.specs()
    assert toolset_prompt("test-ping") is PROMPT
    assert toolset_prompt(ping_set.specs()) is None  # inline tools: the agent's default prompt


def test_an_episode_gets_the_registered_functions_and_prompt(ping_set: ToolSet) -> None:
    seen: dict[str, Any] = {}

    def factory(model: Any, toolset: Any, config: str, prompt: Any) -> Any:
        seen.update(toolset=toolset, prompt=prompt)
        raise RuntimeError("only the arguments matter here")

    case = Case("p1", "net", [{"role": "user", "content": "ping example.org"}], "test-ping",
                [[{"ping": {"host": ["example.org"]}}]])
    run_case(case, FakeModel(["x"]), "native", episodes=True, agent_factory=factory)
    assert seen["toolset"] is ping_set and seen["prompt"] is PROMPT


def test_an_unknown_name_says_which_names_exist() -> None:
    with pytest.raises(DataError, match="unknown tool set 'nope'") as info:
        resolve_tools("nope")
    assert "demo" in str(info.value) and "inline tool specs" in str(info.value)


def test_the_evals_package_still_offers_register_toolset() -> None:
    import kapibara.evals

    assert kapibara.evals.register_toolset is register_toolset


def test_registering_again_replaces_and_unregistering_forgets(ping_set: ToolSet) -> None:
    register_toolset("test-ping", lambda: [])
    assert resolve_tools("test-ping") == [] and toolset_entry("test-ping").prompt is None
    unregister_toolset("test-ping")
    assert "test-ping" not in toolset_names()


def test_loading_and_running_cases_does_not_import_the_demo() -> None:
    code = (
        "import sys, kapibara.evals, kapibara.evals.cases, kapibara.evals.runner, kapibara.toolsets\n"
        "print(sorted(m for m in sys.modules if m.startswith('kapibara.demo')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
