"""The seven grocery-assistant tools, as plain typed functions over the demo catalog.

Outputs are short JSON-able dicts (a small model reads them in a 4k window) holding real
catalog values. An unknown product or city is an answer the model can act on (an
``error`` plus close matches), not an exception; arguments out of range raise
``ToolArgumentError``, which the executor turns into an "invalid arguments" observation.
The messages are zh/en templates (``prompts/templates/demo_tools.yaml``).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

from kapibara.demo import source
from kapibara.demo.catalog import Catalog, DateError, Product, normalize, scenario_names
from kapibara.prompts import Prompt, render_template
from kapibara.tools import ToolArgumentError, ToolContext, ToolSet, tool_from_function

MAX_QUANTITY = 99
MAX_LIMIT = 10
#: get_weather answers for dates this many days back / ahead of today.
WEATHER_DAYS_BACK, WEATHER_DAYS_AHEAD = 7, 14
#: The language of the tools' messages. ToolContext carries no language of the run yet,
#: so the tools answer in Chinese (as they always did); every message takes ``lang``.
LANGUAGE = "zh"
#: The scenario word that ranks cheapest first (scenarios.yaml: cheap), for "nothing fits".
CHEAP_WORD = "便宜"

_catalog: Catalog | None = None
_catalog_lock = threading.Lock()


def get_catalog() -> Catalog:
    """The catalog the tools read (the packaged one unless ``set_catalog`` replaced it)."""
    global _catalog
    with _catalog_lock:
        if _catalog is None:
            _catalog = Catalog()
        return _catalog


def set_catalog(catalog: Catalog | None) -> Catalog | None:
    """Use ``catalog`` for the tools (e.g. one with a fixed ``today``); returns the old one."""
    global _catalog
    with _catalog_lock:
        old, _catalog = _catalog, catalog
        return old


# -- formatting helpers ------------------------------------------------------------------
def _msg(name: str, lang: str, /, **variables: Any) -> str:
    """Template ``demo_<name>`` from demo_tools.yaml in ``lang``."""
    return render_template(f"demo_{name}", lang, **variables)


def _bad_argument(tool_name: str, param: str, message: str) -> ToolArgumentError:
    return ToolArgumentError(tool_name, [f"parameter '{param}': {message}"])


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 2)


def _yuan(x: float) -> str:
    return f"{_num(x)}元"


def _summary(p: Product, lang: str) -> str:
    """The few specs that tell products of this kind apart."""
    a = p.attributes
    if "camera" in a:
        return _msg("phone_summary", lang, chip=a["chip"], screen=a["screen"], mah=a["battery_mah"],
                    megapixels=a["camera"]["megapixels"], storage=a["storage"])
    parts = [str(a[k]) for k in ("origin", "weight", "roast", "spec", "battery_life", "chip", "screen") if k in a]
    return "｜".join(parts[:3])


def _highlight(p: Product, scenarios: list[str], lang: str) -> str:
    a = p.attributes
    if "camera" in scenarios and "camera" in a:
        return str(a["camera"]["description"])
    if "battery" in scenarios:
        if "battery_mah" in a:
            return _msg("highlight_battery", lang, mah=a["battery_mah"], charging=a.get("charging", ""))
        if "battery_life" in a:
            return _msg("highlight_battery_life", lang, life=a["battery_life"])
    if "performance" in scenarios and "chip" in a:
        return _msg("highlight_performance", lang, chip=a["chip"], score=a.get("performance_score", "-"))
    return _summary(p, lang)


def _item(p: Product, scenarios: list[str], catalog: Catalog, lang: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name_zh, "name_en": p.name_en, "price": _yuan(p.price),
                           "rating": p.rating, "highlight": _highlight(p, scenarios, lang)}
    promos = catalog.promotions(p)
    if promos:
        out["promotion"] = promos[0].description
    return out


def _not_found(catalog: Catalog, name: str, lang: str) -> dict[str, Any]:
    similar = [p.name_zh for p, _ in catalog.match_products(name, limit=5, min_score=60) if not p.is_variant]
    base = re.sub(r"\d+", "", name).strip()
    if not similar and base and base != name:
        # A model number we do not sell ("iPhone 16"): offer the line we do sell.
        similar = [p.name_zh for p, _ in catalog.match_products(base, limit=5, min_score=80) if not p.is_variant]
    out: dict[str, Any] = {"error": _msg("product_not_found", lang, name=name)}
    if similar:
        out["similar"] = similar
    else:
        out["hint"] = _msg("product_not_found_hint", lang)
    return out


def _check_limit(tool_name: str, limit: int, lang: str) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad_argument(tool_name, "limit", _msg("arg_range", lang, low=1, high=MAX_LIMIT, value=limit))


# -- tools -------------------------------------------------------------------------------
def recommend_products(
    category: str, scenario: str = "", max_price: float | None = None, limit: int = 3
) -> dict[str, Any]:
    """按商品分类和使用场景推荐商品，可限制最高价格。

    Args:
        category: 商品分类，例如“手机”、“水果”、“咖啡”、“牛奶”、“零食”
        scenario: 使用场景或偏好，例如“拍照”、“续航”、“送礼”、“便宜”、“早餐”；没有可不填
        max_price: 最高价格（元）；只有用户明确说出预算时才填，否则不要填
        limit: 推荐数量，默认3
    """
    lang = LANGUAGE
    _check_limit("recommend_products", limit, lang)
    if max_price is not None and max_price <= 0:
        raise _bad_argument("recommend_products", "max_price", _msg("arg_positive", lang, value=max_price))
    catalog = get_catalog()
    resolved = catalog.resolve_category(category)
    if resolved is None and catalog.find_product(category) is None:
        return {"error": _msg("unknown_category", lang, category=category),
                "categories": [zh for _, zh, _ in catalog.categories()]}
    scenarios = scenario_names(f"{scenario} {category}")
    items = catalog.search(category, scenario, max_price, limit)
    out: dict[str, Any] = {"category": category}
    if scenario:
        out["scenario"] = scenario
    if max_price is not None:
        out["max_price"] = _yuan(max_price)
    out["items"] = [_item(p, scenarios, catalog, lang) for p in items]
    if not items:
        cheapest = catalog.search(category, CHEAP_WORD, None, 1)
        if cheapest:
            out["message"] = _msg("no_match_cheapest", lang, name=cheapest[0].name_zh, price=_yuan(cheapest[0].price))
        else:
            out["message"] = _msg("none_in_stock", lang)
    return out


# Property words a user or model may ask for -> attribute keys, first present wins.
_PROPERTY_KEYS: dict[str, list[str]] = {}
for _keys, _words in [
    (["price"], ["价格", "价钱", "多少钱", "售价", "单价", "price", "cost"]),
    (["stock"], ["库存", "有货", "有没有货", "现货", "stock", "availability", "instock", "inventory"]),
    (["camera"], ["摄像头", "相机", "拍照", "像素", "摄像", "镜头", "影像", "camera", "cameras", "photo"]),
    (["battery_mah", "battery_life", "capacity_mah"], ["电池", "电池容量", "续航", "电量", "battery", "batterylife", "batterycapacity", "容量"]),
    (["screen"], ["屏幕", "显示屏", "屏幕尺寸", "屏", "screen", "display"]),
    (["chip"], ["芯片", "处理器", "cpu", "soc", "chip", "processor"]),
    (["storage"], ["存储", "内存", "存储空间", "运行内存", "storage", "memory", "ram", "rom"]),
    (["charging", "output"], ["充电", "快充", "充电功率", "charging", "输出", "功率"]),
    (["performance_score"], ["性能", "跑分", "performance"]),
    (["origin"], ["产地", "原产地", "产自", "哪里产", "来源", "origin", "from", "country"]),
    (["weight", "spec"], ["重量", "规格", "净含量", "份量", "分量", "包装", "大小", "多重", "几斤", "多少斤", "多少克", "size", "weight", "netweight", "spec", "specs", "specification"]),
    (["shelf_life"], ["保质期", "保鲜期", "有效期", "shelflife", "expiry", "expiration"]),
    (["storage_method"], ["储存", "保存", "储存方式", "保存方法", "怎么保存", "储藏", "storagemethod", "howtostore"]),
    (["roast"], ["烘焙度", "烘焙", "烘焙程度", "烘培", "roast", "roastlevel"]),
    (["flavor"], ["风味", "口味", "味道", "口感", "flavor", "flavour", "taste"]),
    (["variety"], ["品种", "variety"]),
    (["brand"], ["品牌", "牌子", "厂家", "brand", "maker"]),
    (["rating"], ["评分", "好评", "评价", "rating", "score"]),
    (["category"], ["分类", "类别", "品类", "category"]),
    (["season"], ["季节", "时令", "上市时间", "产季", "season"]),
    (["abv"], ["度数", "酒精度", "abv", "alcohol"]),
    (["protein"], ["蛋白质", "蛋白", "protein"]),
    (["age"], ["适用年龄", "年龄", "段数", "age"]),
    (["noise_cancelling"], ["降噪", "noisecancelling", "anc"]),
    (["features"], ["功能", "特点", "features"]),
    (["scent"], ["香型", "香味", "scent"]),
    (["promotion"], ["优惠", "促销", "活动", "折扣", "promotion", "promotions", "discount", "deal"]),
    (["name_en"], ["英文名", "englishname"]),
]:
    for _w in _words:
        _PROPERTY_KEYS[_w] = _keys

_LABELS = {
    "price": "价格", "stock": "库存", "camera": "摄像头", "battery_mah": "电池", "screen": "屏幕",
    "chip": "芯片", "storage": "存储", "charging": "充电", "origin": "产地", "weight": "规格",
    "spec": "规格", "shelf_life": "保质期", "storage_method": "储存方式", "roast": "烘焙度",
    "flavor": "风味", "brand": "品牌", "rating": "评分", "season": "产季", "abv": "酒精度",
    "battery_life": "续航", "age": "适用年龄", "features": "功能", "promotion": "优惠",
}


def _property_keys(prop: str) -> list[str]:
    """Attribute keys a property word may mean: "电池" / "battery_mah" / "拍照效果"."""
    word = normalize(prop)
    if word in _PROPERTY_KEYS:
        return _PROPERTY_KEYS[word]
    raw = prop.strip().lower()
    contained = [w for w in _PROPERTY_KEYS if len(w) >= 2 and w in word]
    # The raw attribute key itself ("battery_mah"), then the longest known word inside it.
    return [raw] + (_PROPERTY_KEYS[max(contained, key=len)] if contained else [])


def _property_value(p: Product, prop: str, catalog: Catalog, lang: str) -> Any:
    keys = _property_keys(prop)
    a = p.attributes
    for key in keys:
        if key == "price":
            return f"{_yuan(p.price)}/{p.unit}"
        if key == "stock":
            return _msg("in_stock", lang, stock=p.stock, unit=p.unit) if p.stock > 0 else _msg("out_of_stock", lang)
        if key == "brand":
            return p.brand or _msg("no_brand", lang)
        if key == "rating":
            return p.rating
        if key == "category":
            return p.category_zh
        if key == "name_en":
            return p.name_en
        if key == "promotion":
            promos = catalog.promotions(p)
            return [x.description for x in promos] or _msg("no_promotion", lang)
        if key in a:
            value = a[key]
            if key == "camera":
                return value["description"]
            if key in ("battery_mah", "capacity_mah"):
                return f"{value}mAh"
            return value
    return None


def get_product_info(product_name: str, properties: list[str]) -> dict[str, Any]:
    """查询某个商品的具体信息，例如价格、库存、摄像头、电池、产地、保质期。

    Args:
        product_name: 商品名称，例如“小米11 Ultra”、“车厘子”
        properties: 要查询的属性列表，例如["价格", "摄像头"]；为空则返回主要信息
    """
    lang = LANGUAGE
    catalog = get_catalog()
    p = catalog.find_product(product_name)
    if p is None:
        return _not_found(catalog, product_name, lang)
    out: dict[str, Any] = {"product": p.name_zh}
    if not properties:
        out.update({"price": f"{_yuan(p.price)}/{p.unit}", "stock": p.stock, "category": p.category_zh})
        for key in p.attributes:
            label = _LABELS.get(key)
            if label:
                out[label] = _property_value(p, label, catalog, lang)
        return out
    missing = []
    for prop in properties:
        value = _property_value(p, prop, catalog, lang)
        if value is None:
            missing.append(prop)
        else:
            out[prop] = value
    if missing:
        out["unknown_properties"] = missing
        out["available"] = ["价格", "库存", "品牌", "评分"] + [_LABELS[k] for k in p.attributes if k in _LABELS]
    return out


def get_promotions(product_name: str) -> dict[str, Any]:
    """查询商品当前的优惠促销活动；也可以传分类名（如“水果”）查看该分类的优惠商品。

    Args:
        product_name: 商品名称，例如“车厘子”；或分类名称
    """
    lang = LANGUAGE
    catalog = get_catalog()
    p = catalog.find_product(product_name)
    if p is None:
        resolved = catalog.resolve_category(product_name)
        if resolved is None:
            return _not_found(catalog, product_name, lang)
        cids, kind = resolved
        deals = []
        for q in catalog.products:
            if q.category_id in cids and (kind is None or q.kind == kind) and not q.is_variant:
                for promo in catalog.promotions(q):
                    deals.append({"product": q.name_zh, "price": _yuan(q.price), "promotion": promo.description})
        return {"category": product_name, "deals": deals[:5]} if deals else {
            "category": product_name, "deals": [], "message": _msg("category_no_promotions", lang)}
    promos = catalog.promotions(p)
    out: dict[str, Any] = {"product": p.name_zh, "price": _yuan(p.price)}
    if not promos:
        out["promotions"] = []
        out["message"] = _msg("product_no_promotions", lang)
        return out
    listed = []
    for promo in promos:
        entry: dict[str, Any] = {"title": promo.title, "description": promo.description,
                                 "valid_until": promo.end_date.isoformat()}
        if promo.discount is not None:
            entry["price_after"] = _yuan(round(p.price * promo.discount, 1))
        listed.append(entry)
    out["promotions"] = listed
    return out


def recommend_recipes(dish_or_ingredient: str, limit: int = 3) -> dict[str, Any]:
    """按菜名或食材推荐菜谱，返回所需食材（可在本店购买）和简要步骤。

    Args:
        dish_or_ingredient: 菜名或食材，例如“红烧肉”、“三文鱼”、“鸡蛋”
        limit: 菜谱数量，默认3
    """
    lang = LANGUAGE
    _check_limit("recommend_recipes", limit, lang)
    catalog = get_catalog()
    recipes = catalog.recipes(dish_or_ingredient, limit)
    if not recipes:
        return {"recipes": [], "message": _msg("no_recipes", lang, query=dish_or_ingredient)}
    return {"recipes": [
        {
            "name": r.name_zh,
            "name_en": r.name_en,
            "minutes": r.minutes,
            "difficulty": r.difficulty,
            "ingredients": [f"{i.name} {i.amount}" for i in r.ingredients],
            "steps": list(r.steps),
        }
        for r in recipes
    ]}


def _cart(ctx: ToolContext | None) -> list[dict[str, Any]]:
    if ctx is None:
        return []
    return [dict(line) for line in ctx.state.get("cart", [])]


def add_to_cart(product_name: str, quantity: int = 1, ctx: ToolContext | None = None) -> dict[str, Any]:
    """把商品加入购物车。

    Args:
        product_name: 商品名称，例如“五常大米”
        quantity: 数量，1到99，默认1
    """
    lang = LANGUAGE
    if not 1 <= quantity <= MAX_QUANTITY:
        raise _bad_argument("add_to_cart", "quantity", _msg("arg_range", lang, low=1, high=MAX_QUANTITY, value=quantity))
    catalog = get_catalog()
    p = catalog.find_product(product_name)
    if p is None:
        return _not_found(catalog, product_name, lang)
    if p.stock <= 0:
        others = [q.name_zh for q in catalog.products if q.family_id == p.family_id and q.stock > 0]
        out: dict[str, Any] = {"error": _msg("sold_out", lang, name=p.name_zh)}
        if others:
            out["in_stock_alternatives"] = others[:3]
        return out
    cart = _cart(ctx)
    line = next((x for x in cart if x["product_id"] == p.id), None)
    new_qty = quantity + (line["quantity"] if line else 0)
    if new_qty > MAX_QUANTITY:
        return {"error": _msg("cart_limit", lang, max=MAX_QUANTITY, unit=p.unit, have=new_qty - quantity)}
    if new_qty > p.stock:
        return {"error": _msg("low_stock", lang, name=p.name_zh, stock=p.stock, unit=p.unit)}
    if line:
        line["quantity"] = new_qty
    else:
        cart.append({"product_id": p.id, "name": p.name_zh, "price": p.price, "unit": p.unit, "quantity": quantity})
    if ctx is not None:
        # Assign a new list so stores that compare state before/after see the change.
        ctx.state["cart"] = cart
    return {
        "ok": True,
        "added": f"{p.name_zh} ×{quantity}",
        "in_cart": new_qty,
        "cart_total": _yuan(round(sum(x["price"] * x["quantity"] for x in cart), 2)),
    }


def view_cart(ctx: ToolContext | None = None) -> dict[str, Any]:
    """查看购物车里的商品、数量和总价。"""
    cart = _cart(ctx)
    if not cart:
        return {"items": [], "message": _msg("cart_empty", LANGUAGE)}
    items = [
        {"name": x["name"], "quantity": x["quantity"], "price": _yuan(x["price"]),
         "subtotal": _yuan(round(x["price"] * x["quantity"], 2))}
        for x in cart
    ]
    return {
        "items": items,
        "total_quantity": sum(x["quantity"] for x in cart),
        "total": _yuan(round(sum(x["price"] * x["quantity"] for x in cart), 2)),
    }


def get_weather(city: str, date: str = "today") -> dict[str, Any]:
    """查询城市某天的天气，并给出买菜建议。

    Args:
        city: 城市名，例如“北京”、“上海”、“Tokyo”
        date: 日期："today"、"tomorrow"、"今天"、"明天"、"后天" 或 "YYYY-MM-DD"，默认今天
    """
    lang = LANGUAGE
    catalog = get_catalog()
    try:
        day = catalog.resolve_date(date)
    except DateError as exc:
        raise _bad_argument("get_weather", "date", exc.message(lang)) from None
    today = catalog.today()
    if not today - dt.timedelta(days=WEATHER_DAYS_BACK) <= day <= today + dt.timedelta(days=WEATHER_DAYS_AHEAD):
        raise _bad_argument("get_weather", "date", _msg(
            "date_out_of_range", lang, back=WEATHER_DAYS_BACK, ahead=WEATHER_DAYS_AHEAD, today=today.isoformat()))
    found = catalog.find_city(city)
    if found is None:
        similar = [c.name_zh for c, _ in catalog.match_cities(city)]
        out: dict[str, Any] = {"error": _msg("city_unsupported", lang, city=city)}
        if similar:
            out["similar"] = similar
        else:
            out["supported_examples"] = [c.name_zh for c in catalog.cities[:10]]
        return out
    w = catalog.weather(found, day)
    return {
        "city": w.city,
        "date": w.date.isoformat(),
        "weather": w.condition,
        "temperature": f"{w.low_c}~{w.high_c}°C",
        "tip": w.tip,
        "in_season": list(w.in_season),
    }


TOOL_FUNCTIONS = (
    recommend_products,
    get_product_info,
    get_promotions,
    recommend_recipes,
    add_to_cart,
    view_cart,
    get_weather,
)


#: The tools whose calls change state: the agent's side-effect policy gates them.
SIDE_EFFECTS = (add_to_cart,)


_CJK = re.compile(r"[\u4e00-\u9fff]")


def recommendation_answer(value: Any, language: str) -> str | None:
    """``recommend_products``' result as the answer, in the user's language (None when it
    found nothing or failed: the model explains that better than a template)."""
    if not isinstance(value, dict) or value.get("error") or not value.get("items"):
        return None
    lines = [_msg("direct_recommend_head", language)]
    en = language == "en"
    for i, item in enumerate(value["items"], 1):
        name = item.get("name_en") or item["name"] if en else item["name"]
        price = str(item["price"]).removesuffix("元") if en else item["price"]
        line = _msg("direct_recommend_item", language, i=i, name=name, price=price, rating=item.get("rating", "-"))
        for key in ("highlight", "promotion"):
            text = str(item.get(key) or "")
            if text and (not en or not _CJK.search(text)):  # the catalog's text is Chinese
                line += _msg(f"direct_recommend_{key}", language, **{key: text})
        lines.append(line.rstrip())
    lines.append(_msg("direct_recommend_tail", language))
    return "\n".join(lines)


def cart_answer(value: Any, language: str) -> str | None:
    """``add_to_cart``'s result as the answer (None when it failed: sold out, not found, a
    limit; the model explains those). The 0.5B, asked to answer from the result, wrote the
    product's description with the cart total as its price, or added it a second time."""
    if not isinstance(value, dict) or not value.get("ok"):
        return None
    added, total = str(value.get("added", "")), str(value.get("cart_total", ""))
    if language == "en":  # the result names the product in Chinese
        name, _, count = added.rpartition(" ×")
        p = get_catalog().find_product(name) if name else None
        added = f"{p.name_en} ×{count}" if p is not None and p.name_en else added
        total = "¥" + total.removesuffix("元") if total.endswith("元") else total
    return _msg("direct_cart", language, added=added, in_cart=value.get("in_cart", ""), total=total)


#: Tools whose results are the answer, rendered (``Tool.direct_answer``).
DIRECT_ANSWERS: dict[Any, Any] = {recommend_products: recommendation_answer, add_to_cart: cart_answer}


def scenario_vocabulary() -> dict[str, list[str]]:
    """The scenarios ``recommend_products`` ranks by, as ``Tool.vocabulary`` terms
    (``scenarios.yaml``: camera -> 拍照, 摄影, camera, ...)."""
    return {s.name: list(s.words) for s in source.scenarios()}


def date_vocabulary() -> dict[str, list[str]]:
    """The relative days ``get_weather`` understands, as ``Tool.vocabulary`` terms
    (``dates.yaml``: "+1" -> 明天, 明日, 明儿, tomorrow)."""
    out: dict[str, list[str]] = {}
    for word, days in source.day_offsets().items():
        out.setdefault(f"{days:+d}", []).append(word)
    return out


def property_vocabulary() -> dict[str, list[str]]:
    """The properties ``get_product_info`` understands, as ``Tool.vocabulary`` terms
    (battery_mah -> 电池, 续航, battery, ...)."""
    out: dict[str, list[str]] = {}
    for word, keys in _PROPERTY_KEYS.items():
        out.setdefault(keys[0], []).append(word)
    return out


def product_entities(catalog: Catalog | None = None) -> dict[str, list[str]]:
    """Every product's names as ``Tool.entities``: its Chinese name, then its English name
    and aliases (pack-size variants too, so "蒙牛纯牛奶家庭装" is a name, not a typo)."""
    return {p.name_zh: [p.name_en, *p.aliases] for p in (catalog or get_catalog()).products}


def city_entities(catalog: Catalog | None = None) -> dict[str, list[str]]:
    """Every city's names as ``Tool.entities`` (北京: Beijing, peking, 北京市)."""
    return {c.name_zh: [c.name_en, *c.aliases] for c in (catalog or get_catalog()).cities}


def demo_toolset() -> ToolSet:
    """The seven grocery tools as a ``ToolSet`` (cart tools get the session's ``ToolContext``;
    ``add_to_cart`` declares its side effect; ``recommend_products`` renders its own answer;
    the scenarios, relative days and product properties the tools understand are their
    vocabularies; the tools naming a product or a city declare
    the catalog's names, so a misspelt one is resolved before the call)."""
    vocabularies: dict[Any, dict[str, dict[str, list[str]]]] = {
        recommend_products: {"scenario": scenario_vocabulary()}, get_weather: {"date": date_vocabulary()},
        get_product_info: {"properties": property_vocabulary()}}
    products = product_entities()
    entities: dict[Any, dict[str, dict[str, list[str]]]] = {
        get_product_info: {"product_name": products}, get_promotions: {"product_name": products},
        add_to_cart: {"product_name": products}, get_weather: {"city": city_entities()}}
    return ToolSet([tool_from_function(fn, side_effect=fn in SIDE_EFFECTS, direct_answer=DIRECT_ANSWERS.get(fn),
                                       vocabulary=vocabularies.get(fn), entities=entities.get(fn))
                    for fn in TOOL_FUNCTIONS])


def demo_prompt(language: str = "zh") -> Prompt:
    """The grocery-assistant prompt shipped with the prompt templates (``zh`` or ``en``)."""
    return Prompt.builtin("grocery_assistant", language)
