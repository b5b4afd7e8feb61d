"""The seven demo tools as the model sees them: schemas, outputs, the cart, errors."""

from __future__ import annotations

import json

import pytest

from kapibara.demo import Catalog, demo_prompt, demo_toolset
from kapibara.demo.tools import (
    add_to_cart,
    get_product_info,
    get_promotions,
    get_weather,
    recommend_products,
    recommend_recipes,
    view_cart,
)
from kapibara.models.base import ToolCall
from kapibara.tools import ToolArgumentError, ToolContext, execute_call

pytestmark = pytest.mark.usefixtures("tools_catalog")

EXACT_PARAMS = {
    "recommend_products": ["category", "scenario", "max_price", "limit"],
    "get_product_info": ["product_name", "properties"],
    "get_promotions": ["product_name"],
    "recommend_recipes": ["dish_or_ingredient", "limit"],
    "add_to_cart": ["product_name", "quantity"],
    "view_cart": [],
    "get_weather": ["city", "date"],
}


def test_toolset_has_exactly_the_agreed_names_and_parameters() -> None:
    tools = demo_toolset()
    assert sorted(tools.names) == sorted(EXACT_PARAMS)
    for spec in tools.specs():
        fn = spec["function"]
        assert list(fn["parameters"]["properties"]) == EXACT_PARAMS[fn["name"]]
        assert "ctx" not in json.dumps(fn)  # the cart context is injected, never shown
        assert fn["description"]
    required = {s["function"]["name"]: s["function"]["parameters"].get("required", []) for s in tools.specs()}
    assert required["recommend_products"] == ["category"]
    assert required["get_product_info"] == ["product_name", "properties"]
    assert required["get_weather"] == ["city"]


def _run(name: str, args: dict, ctx: ToolContext | None = None):
    return execute_call(demo_toolset(), ToolCall(name=name, arguments=args, id="t"), ctx or ToolContext())


def test_recommend_products_returns_real_catalog_items(catalog: Catalog) -> None:
    out = recommend_products("手机", "拍照")
    assert len(out["items"]) == 3
    for item in out["items"]:
        p = catalog.find_product(item["name"])
        assert p is not None and item["price"] == f"{p.price:g}元"
        assert item["highlight"] == p.attributes["camera"]["description"]


def test_recommend_products_respects_price_and_limit() -> None:
    out = recommend_products("phone", "camera", max_price=3000, limit=2)
    assert len(out["items"]) == 2
    assert all(float(i["price"].rstrip("元")) <= 3000 for i in out["items"])
    empty = recommend_products("手机", max_price=500)
    assert empty["items"] == [] and "最便宜" in empty["message"]


def test_recommend_products_unknown_category_lists_the_real_ones() -> None:
    out = recommend_products("汽车")
    assert "error" in out and "手机数码" in out["categories"] and "新鲜水果" in out["categories"]


def test_invalid_limits_and_prices_are_argument_errors() -> None:
    with pytest.raises(ToolArgumentError):
        recommend_products("手机", limit=0)
    with pytest.raises(ToolArgumentError):
        recommend_products("手机", max_price=-5)
    with pytest.raises(ToolArgumentError):
        recommend_recipes("鸡蛋", limit=50)


def test_get_product_info_answers_the_asked_properties() -> None:
    out = get_product_info("xiaomi 11 ultra", ["价格", "摄像头", "battery"])
    assert out["product"] == "小米11 Ultra"
    assert out["价格"] == "5999元/台"
    assert "5000万像素" in out["摄像头"]
    assert out["battery"] == "5000mAh"
    coffee = get_product_info("云南小粒咖啡豆", ["产地", "烘焙度", "规格"])
    assert coffee == {"product": "云南小粒咖啡豆", "产地": "云南普洱", "烘焙度": "中度烘焙", "规格": "500g"}


def test_get_product_info_empty_properties_and_unknown_ones() -> None:
    summary = get_product_info("车厘子", [])
    assert summary["price"] == "129元/份" and summary["产地"] == "智利"
    out = get_product_info("车厘子", ["颜色", "产地"])
    assert out["产地"] == "智利" and out["unknown_properties"] == ["颜色"] and "保质期" in out["available"]


def test_unknown_product_gives_close_matches_not_an_exception() -> None:
    out = get_product_info("iphone16", ["价格"])
    assert "error" in out and "iPhone 15" in out["similar"]
    assert "error" in get_promotions("完全不存在的东西xyz")


def test_get_promotions_for_product_and_category() -> None:
    out = get_promotions("车厘子")
    assert out["promotions"][0]["description"] == "满199减30"
    milk = get_promotions("蒙牛纯牛奶")
    assert milk["promotions"][0]["price_after"] == "33.4元"  # 49.9 x 0.67
    assert get_promotions("香蕉")["promotions"] == []
    fruit = get_promotions("水果")
    assert fruit["deals"] and all("promotion" in d for d in fruit["deals"])


def test_recommend_recipes_links_ingredients_to_products(catalog: Catalog) -> None:
    out = recommend_recipes("三文鱼", limit=2)
    assert [r["name"] for r in out["recipes"]] == ["香煎三文鱼", "三文鱼刺身拼盘"]
    assert any(i.startswith("挪威三文鱼") for i in out["recipes"][0]["ingredients"])
    assert recommend_recipes("佛跳墙")["recipes"] == []


def test_cart_add_view_and_accumulate() -> None:
    ctx = ToolContext(session_id="s1")
    assert view_cart(ctx)["items"] == []
    first = add_to_cart("五常大米", 2, ctx)
    assert first["ok"] and first["in_cart"] == 2
    add_to_cart("wuchang rice", 1, ctx)  # same product under its English name
    add_to_cart("车厘子", ctx=ctx)
    cart = view_cart(ctx)
    assert [(i["name"], i["quantity"]) for i in cart["items"]] == [("五常大米", 3), ("车厘子", 1)]
    assert cart["total"] == "338.7元"  # 3 x 69.9 + 129
    assert json.loads(json.dumps(ctx.state))["cart"][0]["quantity"] == 3  # state stays JSON


def test_cart_is_per_session() -> None:
    a, b = ToolContext(session_id="a"), ToolContext(session_id="b")
    add_to_cart("农夫山泉", 1, a)
    assert view_cart(b)["items"] == []


def test_cart_limits() -> None:
    ctx = ToolContext()
    for bad in (0, -1, 100):
        with pytest.raises(ToolArgumentError):
            add_to_cart("农夫山泉", bad, ctx)
    assert add_to_cart("农夫山泉", 99, ctx)["ok"]
    over = add_to_cart("农夫山泉", 1, ctx)
    assert "error" in over and "99" in over["error"]
    assert view_cart(ctx)["total_quantity"] == 99


def test_cart_unknown_and_sold_out_products(catalog: Catalog) -> None:
    ctx = ToolContext()
    unknown = add_to_cart("三纹鱼", 1, ctx)
    assert "error" in unknown and "挪威三文鱼" in unknown["similar"]
    sold_out = next(p for p in catalog.products if p.stock == 0)
    out = add_to_cart(sold_out.name_zh, 1, ctx)
    assert "缺货" in out["error"]
    assert view_cart(ctx)["items"] == []


def test_invalid_quantity_becomes_an_invalid_arguments_observation() -> None:
    result = _run("add_to_cart", {"product_name": "五常大米", "quantity": 120})
    assert result.error_kind == "invalid_arguments"
    assert "quantity" in result.output


def test_cart_through_the_executor_uses_the_session_state() -> None:
    ctx = ToolContext(session_id="s")
    assert _run("add_to_cart", {"product_name": "iphone15"}, ctx).ok
    shown = json.loads(_run("view_cart", {}, ctx).output)
    assert shown["items"][0]["name"] == "iPhone 15"


def test_get_weather_is_deterministic_and_relative_to_today() -> None:
    out = get_weather("北京", "明天")
    assert out["date"] == "2026-11-30" and out["city"] == "北京"
    assert out == get_weather("beijing", "2026-11-30") == get_weather("北京市", "tomorrow")
    assert out["tip"] and "°C" in out["temperature"]
    assert get_weather("上海")["date"] == "2026-11-29"


def test_get_weather_unknown_city_and_bad_dates() -> None:
    out = get_weather("火星")
    assert "error" in out and "北京" in out["supported_examples"]
    for bad in ("下周", "2030-01-01"):
        with pytest.raises(ToolArgumentError):
            get_weather("北京", bad)
    result = _run("get_weather", {"city": "北京", "date": "下周"})
    assert result.error_kind == "invalid_arguments"


def test_observations_are_short_enough_for_a_small_model() -> None:
    outputs = [
        _run("recommend_products", {"category": "手机", "scenario": "拍照"}).output,
        _run("get_product_info", {"product_name": "小米11 Ultra", "properties": []}).output,
        _run("recommend_recipes", {"dish_or_ingredient": "鸡蛋"}).output,
        _run("get_weather", {"city": "上海"}).output,
    ]
    assert all(len(o) < 1200 for o in outputs), [len(o) for o in outputs]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_demo_prompt_uses_the_packaged_template(language: str) -> None:
    prompt = demo_prompt(language)
    assert prompt.language == language and prompt.role


def test_tool_messages_are_zh_en_templates_with_the_same_variables() -> None:
    import jinja2
    from jinja2 import meta

    from kapibara.prompts import load_template, render_template, template_names

    env = jinja2.Environment()
    names = [n for n in template_names() if n.startswith("demo_")]
    assert len(names) >= 20
    for name in names:
        needs = {lang: meta.find_undeclared_variables(env.parse(load_template(name, lang))) for lang in ("zh", "en")}
        assert needs["zh"] == needs["en"], name
        for lang in ("zh", "en"):
            assert render_template(name, lang, **dict.fromkeys(needs[lang], "x")), (name, lang)


def test_zh_messages_read_as_before_and_en_ones_exist(catalog: Catalog) -> None:
    from kapibara.demo.catalog import DateError
    from kapibara.demo.tools import _not_found

    assert get_product_info("特斯拉", [])["error"] == "未找到商品「特斯拉」"
    assert _not_found(catalog, "特斯拉", "en")["error"] == 'No product named "特斯拉"'
    assert view_cart(ToolContext())["message"] == "购物车是空的"
    with pytest.raises(ToolArgumentError) as info:
        get_weather("北京", "下周")
    assert info.value.problems == ["parameter 'date': 无法识别日期 '下周'：请用 today/tomorrow/今天/明天/后天 或 YYYY-MM-DD"]
    with pytest.raises(DateError) as bad:
        catalog.resolve_date("2026-02-30")
    assert bad.value.message("en") == "'2026-02-30' is not a valid date: use YYYY-MM-DD"
    with pytest.raises(ToolArgumentError) as limit:
        recommend_products("手机", limit=0)
    assert limit.value.problems == ["parameter 'limit': 必须在1到10之间，收到 0"]
