"""One short check that the raw configuration works on the real bundled model."""

from __future__ import annotations

import pytest

from kapibara.evals.adapters import bfcl_cases
from kapibara.evals.runner import run_case


@pytest.mark.model
def test_raw_bundled_model_on_one_bfcl_case(real_model, shared_data):
    case = bfcl_cases("simple_python", shared_data)[0]
    r = run_case(case, real_model, "raw", max_tokens=96)
    assert r.raw and r.decision_s > 0 and r.prompt_tokens > 0
    assert r.error is None
    # greedy decoding; the 0.5B calls the one offered function for this easy case
    assert [c["name"] for c in r.calls] == ["calculate_triangle_area"], r.raw


@pytest.mark.model
def test_constrained_config_decodes_the_call_under_the_chosen_tools_schema(real_model, shared_data):
    """Two stages on llama.cpp: the free decision picks the tool, the schema decodes it."""
    from kapibara.agent import Agent
    from kapibara.evals.runner import build_toolset

    case = bfcl_cases("simple_python", shared_data)[0]
    agent = Agent(real_model, build_toolset(case.tools), constrained=True, max_tokens=96)
    d = agent.decide(case.messages)
    assert [c.name for c in d.calls] == ["calculate_triangle_area"], d.raw
    assert d.calls[0].arguments["base"] == 10 and d.calls[0].arguments["height"] == 5
    rungs = [r["rung"] for r in d.trace if r["type"] == "model_call"]
    assert rungs == [None, "constrained_args"], rungs
    second = [r for r in d.trace if r["type"] == "model_call"][1]
    names = [o["properties"]["name"]["const"] for o in second["constraint"]["json_schema"]["anyOf"]]
    assert names == ["calculate_triangle_area"] and d.raw.lstrip().startswith("{")
