"""The bundled grocery-assistant domain set: size, coverage, split, self-consistency."""

from __future__ import annotations

import pytest

from kapibara.evals.adapters import domain_path, load_dataset
from kapibara.evals.checker import check_calls
from kapibara.models.base import ToolCall

S, INT, A = {"type": "string"}, {"type": "integer"}, {"type": "array", "items": {"type": "string"}}
# The demo tools as the contract (issue 3) defines them.
CONTRACT = {
    "recommend_products": ({"category": S, "scenario": S, "max_price": {"type": ["number", "null"]}, "limit": INT}, ["category"]),
    "get_product_info": ({"product_name": S, "properties": A}, ["product_name", "properties"]),
    "get_promotions": ({"product_name": S}, ["product_name"]),
    "recommend_recipes": ({"dish_or_ingredient": S, "limit": INT}, ["dish_or_ingredient"]),
    "add_to_cart": ({"product_name": S, "quantity": INT}, ["product_name"]),
    "view_cart": ({}, []),
    "get_weather": ({"city": S, "date": S}, ["city"]),
}
SPECS = [{"type": "function", "function": {"name": n, "description": "", "parameters": {"type": "object", "properties": p, "required": r}}}
         for n, (p, r) in CONTRACT.items()]
REAL_PRODUCTS = ["小米11 Ultra", "vivo X60 Pro", "OPPO Ace2", "华为畅享20 Pro", "iPhone 15", "云南小粒咖啡豆",
                 "蒙牛纯牛奶", "五常大米", "车厘子", "农夫山泉", "挪威三文鱼"]


@pytest.fixture(scope="module")
def split():
    return load_dataset("domain:dev"), load_dataset("domain:test")


def test_size_coverage_and_split(split):
    dev, test = split
    cases = dev + test
    assert len(cases) >= 200
    assert sum(not c.expects_call for c in cases) >= 40
    assert 0.25 <= len(test) / len(cases) <= 0.35
    assert not {c.id for c in dev} & {c.id for c in test}
    called = {next(iter(call)) for c in cases for alt in c.expected for call in alt}
    assert called == set(CONTRACT)
    assert any(len(c.messages) > 1 for c in test) and any(len(c.messages) > 1 for c in dev)
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in c.messages[-1]["content"]) for c in cases) > 0.8 * len(cases)
    assert any(c.messages[-1]["content"].isascii() for c in cases)
    assert {c.category for c in dev} == {c.category for c in test}


def _first(vals):
    return next(v for v in vals if v != "")


def test_first_allowed_values_pass_the_checker(split):
    """Every expected call, made with its first allowed values, is judged right."""
    for case in split[0] + split[1]:
        if not case.expected:
            assert check_calls(case.expected, [], SPECS).correct
            continue
        calls = []
        for exp in case.expected[0]:
            (name, params), = exp.items()
            calls.append(ToolCall(name, {k: _first(v) for k, v in params.items() if any(x != "" for x in v)}))
        r = check_calls(case.expected, calls, SPECS)
        assert r.correct, (case.id, r.rule, r.detail)


def test_first_allowed_values_pass_with_the_real_demo_schemas(split):
    demo = pytest.importorskip("kapibara.demo")
    if not hasattr(demo, "demo_toolset"):
        pytest.skip("demo tool set not built yet")
    specs = demo.demo_toolset().specs()
    for case in split[0] + split[1]:
        for alt in case.expected:
            calls = [ToolCall(n, {k: _first(v) for k, v in ps.items() if any(x != "" for x in v)})
                     for call in alt for n, ps in call.items()]
            r = check_calls(case.expected, calls, specs)
            assert r.correct, (case.id, r.rule, r.detail)


def test_product_names_are_catalog_items(split):
    for case in split[0] + split[1]:
        for alt in case.expected:
            for call in alt:
                (_, params), = call.items()
                if "product_name" in params:
                    assert params["product_name"][0] in REAL_PRODUCTS, case.id


def test_product_names_exist_in_the_demo_catalog():
    demo = pytest.importorskip("kapibara.demo")
    if not hasattr(demo, "demo_toolset"):
        pytest.skip("demo tool set not built yet")
    ts = demo.demo_toolset()
    assert set(CONTRACT) <= set(ts.names)
    from kapibara.tools import execute_call

    for name in REAL_PRODUCTS:
        out = execute_call(ts, ToolCall("get_product_info", {"product_name": name, "properties": ["价格"]}), None)
        assert out.error is None, (name, out.output)


def test_domain_files_are_package_data():
    assert domain_path("dev").is_file() and domain_path("test").is_file()


@pytest.fixture(scope="module")
def builder():
    """``evals/data/domain/build.py`` loaded as a module (building the cases, writing nothing)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("domain_build", domain_path("dev").parent / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_files_are_what_build_py_writes(builder, tmp_path):
    from kapibara.fileio import write_jsonl_atomic

    for name, rows in zip(("dev", "test"), builder.build(), strict=True):
        write_jsonl_atomic(tmp_path / f"{name}.jsonl", rows)
        assert (tmp_path / f"{name}.jsonl").read_bytes() == domain_path(name).read_bytes(), (
            "run: python src/kapibara/evals/data/domain/build.py")


def test_build_py_stops_on_words_the_demo_data_does_not_know(builder):
    assert builder.category(["fruit"], ["水果", "Fresh Fruit", "生鲜"]) == ["水果", "Fresh Fruit", "生鲜"]
    with pytest.raises(builder.UnknownWord, match="汽车"):
        builder.category(["fruit"], ["水果", "汽车"])
    with pytest.raises(builder.UnknownWord, match="手机"):
        builder.category(["fruit"], ["手机"])  # a word, but of another category
    assert builder.city("西安", "Xian") == ["西安", "Xi'an", "Xian"]
    with pytest.raises(builder.UnknownWord, match="火星"):
        builder.city("火星")
    with pytest.raises(builder.UnknownWord, match="后天"):
        builder.days(1, ["明天", "后天"])
