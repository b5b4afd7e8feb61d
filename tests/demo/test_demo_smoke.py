"""The committed smoke set: loads as evaluation cases, and every expected call is one the
demo tools answer with real catalog data."""

from __future__ import annotations

import importlib.resources
import itertools
import json

import pytest

from kapibara.demo import Catalog, demo_toolset
from kapibara.models.base import ToolCall
from kapibara.tools import ToolContext, execute_call

SMOKE = importlib.resources.files("kapibara.demo").joinpath("data/smoke.jsonl")
CASES = [json.loads(line) for line in SMOKE.read_text(encoding="utf-8").splitlines() if line.strip()]

pytestmark = pytest.mark.usefixtures("tools_catalog")


def test_smoke_set_shape() -> None:
    assert 25 <= len(CASES) <= 40
    assert len({c["id"] for c in CASES}) == len(CASES)
    no_call = [c for c in CASES if c["expected"] == "no_call"]
    assert len(no_call) >= 5
    texts = " ".join(c["messages"][0]["content"] for c in no_call)
    assert "我配喝一杯咖啡吗" in texts and "机票" in texts
    english = [c for c in CASES if c["messages"][0]["content"].isascii()]
    assert 3 <= len(english) < len(CASES) / 2  # mostly Chinese, some English
    called = {name for c in CASES if c["expected"] != "no_call" for call in c["expected"] for name in call}
    assert called == set(demo_toolset().names)


def test_smoke_set_loads_with_the_evaluation_loader(tmp_path) -> None:
    evals = pytest.importorskip("kapibara.evals")
    path = tmp_path / "smoke.jsonl"
    path.write_text(SMOKE.read_text(encoding="utf-8"), encoding="utf-8")
    assert len(evals.load_cases(path)) == len(CASES)


def _first_allowed(allowed: list) -> object:
    return next((v for v in allowed if v not in ("", None)), None)


@pytest.mark.parametrize("case", [c for c in CASES if c["expected"] != "no_call"], ids=lambda c: c["id"])
def test_expected_calls_use_real_parameters_and_get_real_answers(case: dict) -> None:
    tools = demo_toolset()
    for call in case["expected"]:
        ((name, params),) = call.items()
        schema = tools.get(name).parameters  # type: ignore[union-attr]
        assert set(params) <= set(schema.get("properties", {})), name
        assert set(schema.get("required", [])) <= set(params), name
        args = {p: v for p, allowed in params.items() if (v := _first_allowed(allowed)) is not None}
        result = execute_call(tools, ToolCall(name=name, arguments=args, id="s"), ToolContext())
        assert result.ok, result.output
        assert "error" not in json.loads(result.output), (args, result.output)


@pytest.mark.parametrize("case", [c for c in CASES if c["expected"] != "no_call"], ids=lambda c: c["id"])
def test_every_allowed_name_means_the_same_thing(case: dict, catalog: Catalog) -> None:
    for call in case["expected"]:
        ((_, params),) = call.items()
        if "product_name" in params:
            found = {catalog.find_product(v).name_zh for v in params["product_name"]}  # type: ignore[union-attr]
            assert len(found) == 1, found
        if "city" in params:
            assert len({catalog.find_city(v).name_zh for v in params["city"]}) == 1  # type: ignore[union-attr]
        if "category" in params:
            resolved = [catalog.resolve_category(v) for v in params["category"]]
            assert all(r is not None for r in resolved), list(itertools.compress(params["category"], [r is None for r in resolved]))
