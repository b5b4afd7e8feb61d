"""The demo catalog: sizes, name matching, search ranking, recipes, promotions, weather."""

from __future__ import annotations

import datetime as dt

import pytest

from kapibara.demo import Catalog
from kapibara.demo.catalog import normalize

NAMED_ITEMS = {
    "小米11 Ultra": ["小米11 Ultra", "小米11ultra", "xiaomi 11 ultra", "Xiaomi 11 Ultra", "小米11U", "ＸＩＡＯＭＩ １１ ＵＬＴＲＡ"],
    "vivo X60 Pro": ["vivo X60 Pro", "vivox60pro", "VIVO x60 pro"],
    "OPPO Ace2": ["OPPO Ace2", "oppo ace 2", "OPPOAce2"],
    "华为畅享20 Pro": ["华为畅享20 Pro", "华为畅享20pro", "huawei enjoy 20 pro", "畅享20 Pro"],
    "iPhone 15": ["iPhone 15", "iphone15", "IPHONE 15", "苹果15", "iphnoe 15"],
    "云南小粒咖啡豆": ["云南小粒咖啡豆", "云南咖啡豆", "yunnan coffee beans", "Yunnan Arabica Coffee Beans"],
    "蒙牛纯牛奶": ["蒙牛纯牛奶", "蒙牛牛奶", "mengniu milk", "Mengniu Pure Milk"],
    "五常大米": ["五常大米", "wuchang rice", "五常稻花香"],
    "车厘子": ["车厘子", "cherries", "樱桃", "智利车厘子"],
    "农夫山泉": ["农夫山泉", "nongfu spring", "Nongfu Spring Water"],
    "挪威三文鱼": ["挪威三文鱼", "三文鱼", "salmon", "Norwegian Salmon", "norwegian  salmon"],
    "华为Mate 60 Pro": ["华为Mate 60 Pro", "mate60pro", "HUAWEI Mate 60 Pro", "华为mate60 pro"],
    "小米14": ["小米14", "xiaomi 14", "Xiaomi14"],
    "荣耀X50": ["荣耀X50", "honor x50", "荣耀x50"],
    "三只松鼠每日坚果": ["三只松鼠坚果", "三只松鼠每日坚果", "three squirrels nuts"],
    "伊利安慕希希腊风味酸奶": ["安慕希", "伊利安慕希", "ambpoial"],
    "金龙鱼黄金比例食用调和油": ["金龙鱼", "金龙鱼调和油", "arawana oil"],
}


def test_catalog_is_big_enough(catalog: Catalog) -> None:
    counts = catalog.counts()
    assert counts["products"] >= 300
    assert counts["categories"] >= 15
    assert counts["recipes"] >= 50
    assert counts["cities"] >= 30
    assert counts["promotions"] >= 30


def test_every_category_has_products_with_both_names(catalog: Catalog) -> None:
    by_cat: dict[str, int] = {}
    for p in catalog.products:
        assert p.name_zh and p.name_en and p.price > 0 and p.attributes
        by_cat[p.category_id] = by_cat.get(p.category_id, 0) + 1
    assert set(by_cat) == {cid for cid, _, _ in catalog.categories()}
    assert min(by_cat.values()) >= 5


def test_phones_have_the_specs_users_ask_about(catalog: Catalog) -> None:
    p = catalog.find_product("小米11 Ultra")
    assert p is not None
    a = p.attributes
    assert a["camera"]["megapixels"] == 50 and "潜望" in a["camera"]["description"]
    assert a["battery_mah"] == 5000 and a["chip"] == "骁龙888" and "2K" in a["screen"]
    coffee = catalog.find_product("云南小粒咖啡豆")
    assert coffee is not None and {"origin", "roast", "weight"} <= set(coffee.attributes)


@pytest.mark.parametrize(("expected", "spelling"), [(k, s) for k, v in NAMED_ITEMS.items() for s in v])
def test_named_items_found_under_many_spellings(catalog: Catalog, expected: str, spelling: str) -> None:
    found = catalog.find_product(spelling)
    assert found is not None, spelling
    assert found.name_zh == expected


@pytest.mark.parametrize("other", ["iPhone 16", "小米14 Pro", "特斯拉", "xyz"])
def test_unknown_products_are_not_forced_onto_a_neighbour(catalog: Catalog, other: str) -> None:
    # A different model number is a different phone, not a typo.
    assert catalog.find_product(other) is None


def test_match_products_offers_close_matches_for_typos(catalog: Catalog) -> None:
    names = [p.name_zh for p, _ in catalog.match_products("三纹鱼")]
    assert names[0] == "挪威三文鱼"
    scores = [s for _, s in catalog.match_products("iphone")]
    assert scores == sorted(scores, reverse=True)


def test_normalize_folds_width_case_and_spaces() -> None:
    assert normalize("ｉＰｈｏｎｅ　１５") == normalize("iPhone 15") == "iphone15"


@pytest.mark.parametrize(
    ("text", "category", "kind"),
    [
        ("手机", "digital", "手机"), ("phone", "digital", "手机"), ("拍照手机", "digital", "手机"),
        ("智能手机", "digital", "手机"), ("手机数码", "digital", None), ("electronics", "digital", None),
        ("水果", "fruit", None), ("新鲜水果", "fruit", None), ("fruit", "fruit", None),
        ("牛奶", "dairy", "牛奶"), ("乳制品", "dairy", None), ("咖啡豆", "coffee", "咖啡豆"),
        ("零食", "snacks", None), ("大米", "grain", "大米"), ("海鲜", "seafood", None),
        ("household", "household", None), ("茶叶", "tea", None), ("母婴", "baby", None),
    ],
)
def test_categories_accept_zh_en_and_synonyms(catalog: Catalog, text: str, category: str, kind: str | None) -> None:
    resolved = catalog.resolve_category(text)
    assert resolved is not None
    assert resolved == ((category,), kind)


def test_category_groups_span_several_categories(catalog: Catalog) -> None:
    resolved = catalog.resolve_category("生鲜")
    assert resolved is not None and {"fruit", "seafood", "meat", "vegetables"} <= set(resolved[0])
    cats = {p.category_id for p in catalog.search("肉禽海鲜", limit=10)}
    assert cats <= {"meat", "seafood"} and cats


@pytest.mark.parametrize("cap", [1500, 3000, 5000])
def test_search_never_exceeds_the_price_cap(catalog: Catalog, cap: float) -> None:
    for scenario in ("", "拍照", "送礼", "高端"):
        items = catalog.search("手机", scenario, max_price=cap, limit=10)
        assert items, (scenario, cap)
        assert all(p.price <= cap for p in items)


def test_camera_scenario_puts_the_best_cameras_first(catalog: Catalog) -> None:
    phones = [p for p in catalog.products if p.kind == "手机"]
    best = max(p.attributes["camera"]["score"] for p in phones)
    ranked = catalog.search("手机", "拍照", limit=5)
    scores = [p.attributes["camera"]["score"] for p in ranked]
    assert scores[0] == best
    assert scores == sorted(scores, reverse=True)
    # The same intent in English, and inside the category text.
    assert [p.id for p in catalog.search("phone", "camera", limit=5)] == [p.id for p in ranked]
    assert [p.id for p in catalog.search("拍照手机", limit=5)] == [p.id for p in ranked]


def test_other_scenarios_rank_by_their_attribute(catalog: Catalog) -> None:
    battery = [p.attributes["battery_mah"] for p in catalog.search("手机", "续航", limit=4)]
    assert battery == sorted(battery, reverse=True)
    assert battery[0] == max(p.attributes["battery_mah"] for p in catalog.products if p.kind == "手机")
    cheap = [p.price for p in catalog.search("手机", "便宜", limit=4)]
    assert cheap == sorted(cheap)
    gifts = catalog.search("水果", "送礼", limit=3)
    assert all("送礼" in p.tags for p in gifts)


def test_brand_words_filter_and_negations_do_not_flip_the_ranking(catalog: Catalog) -> None:
    assert {p.brand for p in catalog.search("苹果手机", limit=5)} == {"Apple"}
    assert {p.brand for p in catalog.search("手机", "华为 拍照", limit=5)} == {"华为"}
    # "别太贵" is about price going down, not a premium request.
    not_expensive = [p.price for p in catalog.search("手机", "别太贵", limit=3)]
    assert not_expensive == sorted(not_expensive) and not_expensive[0] < 2000


def test_search_shows_one_pack_size_per_product_and_only_stock(catalog: Catalog) -> None:
    items = catalog.search("饮料", limit=10)
    families = [p.family_id for p in items]
    assert len(families) == len(set(families))
    assert all(p.stock > 0 for p in catalog.search("水果", limit=50))


def test_search_by_product_word_when_not_a_category(catalog: Catalog) -> None:
    items = catalog.search("苹果", limit=5)
    assert items and all("苹果" in p.name_zh for p in items)


def test_recipes_by_dish_and_by_ingredient(catalog: Catalog) -> None:
    dish = catalog.recipes("番茄炒蛋", limit=1)
    assert dish[0].name_zh == "西红柿炒鸡蛋"
    salmon = catalog.find_product("挪威三文鱼")
    assert salmon is not None
    by_ingredient = catalog.recipes("三文鱼", limit=3)
    assert by_ingredient and all(any(i.product_id == salmon.id for i in r.ingredients) for r in by_ingredient)
    beef = catalog.recipes("牛肉", limit=5)
    assert beef and all(any(catalog.product(i.product_id).kind == "牛肉" for i in r.ingredients) for r in beef)
    assert catalog.recipes("佛跳墙") == []


def test_every_recipe_links_to_catalog_products(catalog: Catalog) -> None:
    recipes = catalog.all_recipes()
    assert len(recipes) >= 50
    for r in recipes:
        assert r.name_zh and r.name_en and r.steps and r.ingredients
        for i in r.ingredients:
            assert catalog.product(i.product_id).name_zh == i.name


def test_promotions_respect_their_dates(catalog: Catalog) -> None:
    cherries = catalog.find_product("车厘子")
    assert cherries is not None
    every = catalog.promotions(cherries, active_only=False)
    assert len(every) == 2
    assert [p.title for p in catalog.promotions(cherries, dt.date(2026, 11, 29))] == ["满减"]
    assert len(catalog.promotions(cherries, dt.date(2027, 1, 20))) == 2
    assert catalog.promotions(cherries, dt.date(2031, 1, 1)) == []


@pytest.mark.parametrize(
    ("text", "days"),
    [("today", 0), ("今天", 0), ("tomorrow", 1), ("明天", 1), ("后天", 2), ("Day after tomorrow", 2), ("", 0)],
)
def test_relative_dates_resolve_against_the_injected_today(catalog: Catalog, text: str, days: int) -> None:
    assert catalog.resolve_date(text) == dt.date(2026, 11, 29) + dt.timedelta(days=days)


def test_absolute_dates_and_bad_dates(catalog: Catalog) -> None:
    assert catalog.resolve_date("2026-12-25") == dt.date(2026, 12, 25)
    assert catalog.resolve_date("2026/12/03") == dt.date(2026, 12, 3)
    assert catalog.resolve_date("12月1日") == dt.date(2026, 12, 1)
    for bad in ("下周", "2026-13-01", "someday"):
        with pytest.raises(ValueError):
            catalog.resolve_date(bad)


def test_weather_is_deterministic_and_plausible(catalog: Catalog) -> None:
    beijing, sanya = catalog.find_city("北京"), catalog.find_city("sanya")
    assert beijing is not None and sanya is not None
    day = dt.date(2026, 1, 15)
    first = catalog.weather(beijing, day)
    again = Catalog(today=dt.date(2020, 1, 1)).weather(beijing, day)
    assert first == again
    assert first.low_c <= first.high_c
    # Climate shows: Beijing in January is far colder than Sanya.
    assert catalog.weather(sanya, day).low_c > first.high_c
    days = {catalog.weather(beijing, day + dt.timedelta(days=i)).condition for i in range(30)}
    assert len(days) > 1  # not the same answer every day
    assert first.tip and first.in_season


def test_cities_match_zh_en_and_aliases(catalog: Catalog) -> None:
    for name, expected in [("北京", "北京"), ("Beijing", "北京"), ("北京市", "北京"), ("new york", "纽约"), ("NYC", "纽约"), ("东京", "东京")]:
        city = catalog.find_city(name)
        assert city is not None and city.name_zh == expected
    assert catalog.find_city("火星") is None
