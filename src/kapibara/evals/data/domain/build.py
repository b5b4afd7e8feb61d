"""Build the grocery-assistant domain eval set: ``dev.jsonl`` and ``test.jsonl``.

Run ``python src/kapibara/evals/data/domain/build.py`` to regenerate both files. Cases are
written by hand below (compact helpers only save typing). The split is fixed and
stratified by category: within each category, cases 2, 5 and 8 of every ten go to
``test`` (30%). The test split is never used for tuning prompts or models.

The demo's words come from its data files (``kapibara/demo/data/source/``): city names
are read from ``cities.yaml``; the allowed category words, product names and date words
written below are checked against ``categories.yaml``, ``products/`` and ``dates.yaml``,
and the build stops naming any word the demo does not know.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kapibara.demo.catalog import normalize
from kapibara.demo.source import Source, day_offsets, load_source
from kapibara.fileio import write_jsonl_atomic

HERE = Path(__file__).resolve().parent
SOURCE: Source = load_source()


class UnknownWord(ValueError):
    """An allowed value the demo's data does not know: fix the case or the data file."""


def _check(what: str, words: Iterable[str], known: set[str]) -> None:
    unknown = [w for w in words if w and normalize(w) not in known]
    if unknown:
        raise UnknownWord(f"{what}: {unknown} not in kapibara/demo/data/source/")


def category(ids: list[str], words: list[str]) -> list[str]:
    """``words`` after checking each names one of the categories ``ids`` in categories.yaml:
    a category's names or synonyms, a kind in it, or a group spanning it."""
    known = {w for c in SOURCE.categories if c.id in ids for w in (c.zh, c.en, *c.synonyms)}
    known |= {w for k in SOURCE.kinds if k.category in ids for w in (k.zh, k.en, *k.synonyms)}
    known |= {w for g in SOURCE.groups if set(g.categories) & set(ids) for w in (g.name, *g.synonyms)}
    _check(f"category words for {ids}", words, {normalize(w) for w in known})
    return words


def days(offset: int, words: list[str]) -> list[str]:
    """``words`` after checking each is a dates.yaml word for ``offset`` days from today."""
    _check(f"date words for today+{offset}", words, {normalize(w) for w, d in day_offsets().items() if d == offset})
    return words


def city(zh: str, *aliases: str) -> list[str]:
    """A city's Chinese and English names from cities.yaml, then the given aliases of it."""
    found = next((c for c in SOURCE.cities if c.zh == zh), None)
    if found is None:
        raise UnknownWord(f"city {zh!r} not in cities.yaml")
    _check(f"aliases of {zh}", aliases, {normalize(a) for a in found.aliases})
    return [found.zh, found.en, *aliases]


# -- allowed-value variants ---------------------------------------------------------

PHONE = ["手机", "Phones & Electronics", "手机数码", "智能手机", "数码", "手机通讯", "phone", "phones", "smartphone", "electronics", "手机/数码"]
FRUIT = ["水果", "fruits", "鲜果", "新鲜水果", "生鲜水果", "fruit", "fresh fruit", "生鲜"]
SEAFOOD = ["海鲜", "fish", "鱼类", "鱼", "水产", "肉禽海鲜", "海鲜水产", "生鲜海鲜", "肉类海鲜", "seafood", "meat and seafood", "生鲜"]
MEAT = ["肉", "禽肉", "poultry", "肉类", "肉禽", "肉禽蛋", "肉禽海鲜", "肉类海鲜", "meat", "meat and seafood", "生鲜"]
DAIRY = ["乳品", "奶", "纯牛奶", "奶制品", "牛奶", "乳制品", "dairy", "milk", "牛奶乳品", "乳饮"]
DRINKS = ["饮料", "饮料酒水", "酒水", "Drinks & Alcohol", "soft drinks", "软饮料", "饮品", "酒水饮料", "drinks", "beverages", "饮用水", "水饮"]
COFFEE = ["咖啡", "coffee beans", "咖啡豆", "coffee", "咖啡饮品", "冲调"]
SNACKS = ["零食", "零嘴", "snack", "休闲零食", "snacks", "零食小吃", "小吃"]
RICE = ["大米", "主食", "grain", "grains", "米面", "Rice, Flour & Oil", "米面粮油", "粮油", "米", "rice", "rice and grain", "粮油米面", "谷物"]
HOUSEHOLD = ["日用品", "日用百货", "百货", "家居用品", "个护清洁", "家居日用", "家居", "household", "日化", "清洁用品", "家庭清洁"]
VEG = ["蔬菜", "青菜", "蔬果", "veggies", "新鲜蔬菜", "生鲜蔬菜", "vegetables", "蔬菜水果", "生鲜"]

PHONE = category(["digital"], PHONE)
FRUIT = category(["fruit"], FRUIT)
SEAFOOD = category(["seafood"], SEAFOOD)
MEAT = category(["meat"], MEAT)
DAIRY = category(["dairy"], DAIRY)
DRINKS = category(["drinks"], DRINKS)
COFFEE = category(["coffee"], COFFEE)
SNACKS = category(["snacks"], SNACKS)
RICE = category(["grain"], RICE)
HOUSEHOLD = category(["household", "care"], HOUSEHOLD)
VEG = category(["vegetables"], VEG)

PRODUCTS: dict[str, list[str]] = {
    "小米11 Ultra": ["小米11 Ultra", "小米11U", "小米11至尊版", "小米11Ultra", "Xiaomi 11 Ultra", "Mi 11 Ultra", "小米 11 Ultra"],
    "vivo X60 Pro": ["vivo X60 Pro", "vivoX60Pro", "X60 Pro", "vivo X60Pro"],
    "OPPO Ace2": ["OPPO Ace2", "OPPO Ace 2", "Ace2", "oppo ace2"],
    "华为畅享20 Pro": ["华为畅享20 Pro", "华为畅享20Pro", "畅享20 Pro", "HUAWEI 畅享20 Pro", "Huawei Enjoy 20 Pro"],
    "iPhone 15": ["iPhone 15", "苹果手机15", "爱疯15", "iPhone15", "苹果iPhone 15", "Apple iPhone 15", "苹果15"],
    "云南小粒咖啡豆": ["云南小粒咖啡豆", "小粒咖啡", "Yunnan Arabica Coffee Beans", "云南小粒咖啡", "云南咖啡豆", "Yunnan coffee beans"],
    "蒙牛纯牛奶": ["蒙牛纯牛奶", "蒙牛牛奶", "蒙牛 纯牛奶", "Mengniu pure milk"],
    "五常大米": ["五常大米", "五常稻花香大米", "五常稻花香", "Wuchang rice"],
    "车厘子": ["车厘子", "智利车厘子", "樱桃", "cherries", "cherry"],
    "农夫山泉": ["农夫山泉", "Nongfu Spring Water", "农夫山泉饮用天然水", "农夫山泉矿泉水", "Nongfu Spring"],
    "挪威三文鱼": ["挪威三文鱼", "三文鱼", "挪威冰鲜三文鱼", "Norwegian salmon", "salmon"],
}

# Spellings a model may use that are not catalog names or aliases (its fuzzy match finds them).
PARAPHRASES = {"苹果iPhone 15", "五常稻花香大米", "农夫山泉矿泉水"}
for _name, _names in PRODUCTS.items():
    _p = next((p for p in SOURCE.products if p.zh == _name), None)
    if _p is None:
        raise UnknownWord(f"product {_name!r} not in products/*.yaml")
    _check(f"names of {_name}", set(_names) - PARAPHRASES, {normalize(n) for n in (_p.zh, _p.en, *_p.aliases)})

PROPS: dict[str, list[str]] = {
    "电池": ["电池", "battery_mah", "battery", "电池容量", "续航", "电量"],
    "屏幕": ["屏幕", "屏幕参数", "screen", "display", "屏幕尺寸"],
    "拍照": ["拍照", "拍照效果", "camera", "摄像头", "相机"],
    "价格": ["价格", "price", "售价"],
    "产地": ["产地", "origin", "原产地"],
    "保质期": ["保质期", "shelf life", "shelf_life", "保存期"],
    "烘焙度": ["烘焙度", "roast", "roast level", "roast", "烘焙程度", "roast_level"],
    "重量": ["重量", "容量", "volume", "weight", "净含量", "规格"],
    "库存": ["库存", "stock", "有货", "库存量"],
    "处理器": ["处理器", "chip", "processor", "chip", "芯片", "cpu"],
    "充电": ["充电", "charging", "快充", "充电功率"],
}

PROPS = {k: list(dict.fromkeys(v)) for k, v in PROPS.items()}

TODAY = days(0, ["", "today", "今天", "今日"])
TOMORROW = days(1, ["明天", "tomorrow"])


def U(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def A(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


_n = itertools.count(1)


def turn(question: str, name: str, args: dict[str, Any], result: str, answer: str) -> list[dict[str, Any]]:
    """A finished earlier turn: the question, the assistant's call, the tool result, the answer."""
    cid = f"call_{next(_n)}"
    return [
        U(question),
        {"role": "assistant", "content": "", "tool_calls": [{"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}]},
        {"role": "tool", "tool_call_id": cid, "name": name, "content": result},
        A(answer),
    ]


def opt(*vals: Any) -> list[Any]:
    return ["", *vals]


def p(name: str) -> list[str]:
    return PRODUCTS[name]


def props(*keys: str) -> list[list[str]]:
    """Every order and every synonym of the requested properties (lists compare in order)."""
    out = []
    for order in itertools.permutations(keys):
        for combo in itertools.product(*(PROPS[k] for k in order)):
            out.append(list(combo))
    return out


def rec(category: list[str], scenario: list[str] | None = None, max_price: list[Any] | None = None, limit: list[Any] | None = None) -> dict[str, Any]:
    return {"recommend_products": {
        "category": category,
        "scenario": scenario if scenario is not None else opt(),
        "max_price": max_price if max_price is not None else ["", None],
        "limit": limit if limit is not None else opt(3),
    }}


def info(product: str, *keys: str) -> dict[str, Any]:
    return {"get_product_info": {"product_name": p(product), "properties": props(*keys)}}


def promo(product: str) -> dict[str, Any]:
    return {"get_promotions": {"product_name": p(product)}}


def recipes(dish: list[str], limit: list[Any] | None = None) -> dict[str, Any]:
    return {"recommend_recipes": {"dish_or_ingredient": dish, "limit": limit if limit is not None else opt(3)}}


def cart(product: str, qty: list[Any] | None = None) -> dict[str, Any]:
    return {"add_to_cart": {"product_name": p(product), "quantity": qty if qty is not None else opt(1)}}


VIEW: dict[str, Any] = {"view_cart": {}}


def weather(cities: list[str], date: list[Any] | None = None) -> dict[str, Any]:
    return {"get_weather": {"city": cities, "date": date if date is not None else TODAY}}


CASES: list[dict[str, Any]] = []


def add(category: str, messages: str | list[dict[str, Any]], *expected: dict[str, Any], one_of: list[list[dict[str, Any]]] | None = None, answer: dict[str, Any] | None = None) -> None:
    msgs = [U(messages)] if isinstance(messages, str) else messages
    exp: Any
    if one_of:
        exp = {"one_of": one_of}
    elif expected:
        exp = list(expected)
    else:
        exp = "no_call"
    case: dict[str, Any] = {"id": "", "category": category, "messages": msgs, "tools": "demo", "expected": exp}
    if answer:
        case["answer"] = answer
    CASES.append(case)


# -- recommend: one category, maybe a count -----------------------------------------
add("recommend", "有什么手机推荐吗？", rec(PHONE))
add("recommend", "最近想换个手机，给我推荐推荐", rec(PHONE))
add("recommend", "推荐几款水果吧", rec(FRUIT))
add("recommend", "家里没米了，有啥好大米推荐", rec(RICE))
add("recommend", "给我推荐5款零食", rec(SNACKS, limit=[5]))
add("recommend", "想买点海鲜，推荐一下", rec(SEAFOOD))
add("recommend", "牛奶哪个牌子好？推荐两款", rec(DAIRY, limit=[2]))
add("recommend", "推荐一款咖啡豆", rec(COFFEE, limit=opt(1, 3)))
add("recommend", "有没有好喝的饮料推荐", rec(DRINKS))
add("recommend", "日用品推荐几个", rec(HOUSEHOLD))
add("recommend", "推荐一些新鲜蔬菜", rec(VEG))
add("recommend", "肉类有什么推荐的", rec(MEAT))
add("recommend", "只要一款，推荐个最值得买的手机", rec(PHONE, limit=[1]))
add("recommend", "推荐十个零食，越多越好", rec(SNACKS, limit=[10]))
add("recommend", "你们这儿咖啡卖得最好的是哪几种？", rec(COFFEE, scenario=opt("畅销", "卖得最好", "热销", "销量", "最畅销", "销量最好", "bestseller", "best selling")))
add("recommend", "水果来四样推荐", rec(FRUIT, limit=[4]))
add("recommend", "有啥乳制品可以推荐", rec(DAIRY))
add("recommend", "周末想囤点零食，有推荐吗", rec(SNACKS, scenario=opt("囤货", "周末", "囤零食")))
add("recommend", "帮我挑三款饮料", rec(DRINKS, limit=opt(3)))
add("recommend", "想吃海鲜了，来几个推荐", rec(SEAFOOD))

# -- multi-constraint: category + price + scenario ---------------------------------
SC_PHOTO = ["拍照", "拍照好", "拍照好的", "摄影", "camera", "拍照手机", "photography"]
SC_GAME = ["游戏", "打游戏", "玩游戏", "gaming", "手游", "游戏性能"]
SC_ELDER = ["老人", "老人用", "给老人", "老年人", "父母", "长辈", "elderly", "老人使用"]
SC_GIFT = ["送礼", "礼物", "送人", "gift", "送礼物", "礼品"]
SC_BATTERY = ["续航", "续航好", "长续航", "电池", "大电池", "battery", "续航长"]
SC_KID = ["孩子", "小孩", "儿童", "宝宝", "kids", "children", "给孩子"]
SC_FIT = ["减肥", "健身", "减脂", "低卡", "fitness", "健康"]
add("multi_constraint", "推荐一款三千以内拍照好的手机", rec(PHONE, SC_PHOTO, [3000]))
add("multi_constraint", "预算2000块，想要个打游戏流畅的手机", rec(PHONE, SC_GAME, [2000]))
add("multi_constraint", "给我爸妈买手机，别超过1500", rec(PHONE, SC_ELDER, [1500]))
add("multi_constraint", "想送女朋友水果，200以内的有哪些？", rec(FRUIT, SC_GIFT, [200]))
add("multi_constraint", "推荐两款100元以下适合早餐的牛奶", rec(DAIRY, ["早餐", "早饭", "breakfast", "早上喝"], [100], [2]))
add("multi_constraint", "5000以内续航最好的手机推荐3个", rec(PHONE, SC_BATTERY, [5000], opt(3)))
add("multi_constraint", "有没有适合小孩吃的零食，五十块钱以内", rec(SNACKS, SC_KID, [50]))
add("multi_constraint", "减肥期间能吃的零食，不要超过30块", rec(SNACKS, SC_FIT, [30]))
add("multi_constraint", "办公室提神用的咖啡，一百以内，推荐一款", rec(COFFEE, ["提神", "办公室", "办公", "上班", "办公室提神"], [100], [1]))
add("multi_constraint", "过年送礼的海鲜，预算八百", rec(SEAFOOD, ["送礼", "过年送礼", "礼物", "gift", "过年", "年货"], [800]))
add("multi_constraint", "想要个1000块左右的备用机，主要看续航", rec(PHONE, SC_BATTERY, [1000, 1200, 1100]))
add("multi_constraint", "价格别超2k5，拍照要好，手机", rec(PHONE, SC_PHOTO, [2500]))
add("multi_constraint", "宝宝辅食用的大米有吗，一百块内", rec(RICE, ["宝宝辅食", "辅食", "宝宝", "婴儿", "baby food", "儿童"], [100]))
add("multi_constraint", "露营带的饮料推荐几款，单价20以内", rec(DRINKS, ["露营", "户外", "camping", "野营"], [20]))
add("multi_constraint", "健身后喝的牛奶，不超过80，推荐4个", rec(DAIRY, ["健身", "健身后", "运动后", "fitness", "运动"], [80], [4]))
add("multi_constraint", "聚会用的零食来5款，每款不超过40元", rec(SNACKS, ["聚会", "派对", "party", "朋友聚会"], [40], [5]))
add("multi_constraint", "给爷爷买个字大声音大的手机，八百以内", rec(PHONE, SC_ELDER + ["字大声音大", "大字大声"], [800]))
add("multi_constraint", "学生党，预算1500，想要玩游戏不卡的手机", rec(PHONE, SC_GAME + ["学生", "学生党"], [1500]))
add("multi_constraint", "请客吃饭用的海鲜，价格500以内的推荐下", rec(SEAFOOD, ["请客", "宴请", "请客吃饭", "招待客人", "聚餐"], [500]))
add("multi_constraint", "手冲用的咖啡豆，150以内，要两款", rec(COFFEE, ["手冲", "手冲咖啡", "pour over", "pour-over"], [150], [2]))
add("multi_constraint", "孕妇能吃的水果推荐下，一百以内", rec(FRUIT, ["孕妇", "孕期", "pregnant", "孕妇吃"], [100]))
add("multi_constraint", "Recommend a phone under 4000 yuan that is good for taking photos", rec(PHONE, SC_PHOTO, [4000]))
add("multi_constraint", "I need cheap snacks for kids, under 20 yuan, show me 2", rec(SNACKS, SC_KID, [20], [2]))
add("multi_constraint", "想要一台六千以内的拍照旗舰，推荐一款就行", rec(PHONE, SC_PHOTO + ["拍照旗舰", "旗舰"], [6000], [1]))
add("multi_constraint", "夏天解暑的饮料，十块以内", rec(DRINKS, ["解暑", "夏天", "消暑", "夏天解暑", "summer"], [10]))

# -- product info ---------------------------------------------------------------------
add("product_info", "小米11 Ultra的电池多大？", info("小米11 Ultra", "电池"))
add("product_info", "vivo X60 Pro屏幕怎么样", info("vivo X60 Pro", "屏幕"))
add("product_info", "iPhone 15 的拍照和续航如何？", info("iPhone 15", "拍照", "电池"))
add("product_info", "OPPO Ace2用的什么处理器", info("OPPO Ace2", "处理器"))
add("product_info", "华为畅享20 Pro多少钱", info("华为畅享20 Pro", "价格"))
add("product_info", "云南小粒咖啡豆是什么烘焙度的", info("云南小粒咖啡豆", "烘焙度"))
add("product_info", "蒙牛纯牛奶保质期多久", info("蒙牛纯牛奶", "保质期"))
add("product_info", "五常大米产地是哪里？一袋多重？", info("五常大米", "产地", "重量"))
add("product_info", "车厘子是哪里产的", info("车厘子", "产地"))
add("product_info", "农夫山泉一瓶多少毫升", info("农夫山泉", "重量"))
add("product_info", "挪威三文鱼还有货吗", info("挪威三文鱼", "库存"))
add("product_info", "小米11 Ultra支持多少瓦快充", info("小米11 Ultra", "充电"))
add("product_info", "vivo X60 Pro 的摄像头参数给我看看", info("vivo X60 Pro", "拍照"))
add("product_info", "iPhone 15现在卖多少", info("iPhone 15", "价格"))
add("product_info", "挪威三文鱼的保质期和产地", info("挪威三文鱼", "保质期", "产地"))
add("product_info", "OPPO Ace2屏幕多大，电池多少毫安", info("OPPO Ace2", "屏幕", "电池"))
add("product_info", "华为畅享20 Pro的处理器是麒麟吗", info("华为畅享20 Pro", "处理器"))
add("product_info", "蒙牛纯牛奶现在还有库存吗？", info("蒙牛纯牛奶", "库存"))
add("product_info", "云南小粒咖啡豆一包多少克", info("云南小粒咖啡豆", "重量"))
add("product_info", "车厘子多少钱一斤", info("车厘子", "价格"))

# -- promotions ------------------------------------------------------------------------
add("promotions", "小米11 Ultra有优惠吗", promo("小米11 Ultra"))
add("promotions", "iPhone 15最近有没有活动", promo("iPhone 15"))
add("promotions", "车厘子打折吗？", promo("车厘子"))
add("promotions", "五常大米有满减没", promo("五常大米"))
add("promotions", "蒙牛纯牛奶现在买有什么促销", promo("蒙牛纯牛奶"))
add("promotions", "农夫山泉有没有买一送一", promo("农夫山泉"))
add("promotions", "挪威三文鱼能用优惠券吗", promo("挪威三文鱼"))
add("promotions", "vivo X60 Pro降价了没？", promo("vivo X60 Pro"))
add("promotions", "OPPO Ace2有啥优惠活动", promo("OPPO Ace2"))
add("promotions", "华为畅享20 Pro有赠品吗", promo("华为畅享20 Pro"))
add("promotions", "云南小粒咖啡豆有折扣吗", promo("云南小粒咖啡豆"))
add("promotions", "帮我查下小米11 Ultra的促销信息", promo("小米11 Ultra"))
add("promotions", "车厘子和三文鱼哪个有优惠？都帮我看看", promo("车厘子"), promo("挪威三文鱼"))
add("promotions", "iPhone 15跟OPPO Ace2有没有优惠，一起查", promo("iPhone 15"), promo("OPPO Ace2"))
add("promotions", "Any discount on Norwegian salmon?", promo("挪威三文鱼"))

# -- recipes ----------------------------------------------------------------------------
SALMON_D = ["三文鱼", "挪威三文鱼", "salmon"]
add("recipes", "三文鱼怎么做好吃", recipes(SALMON_D))
add("recipes", "红烧肉怎么做", recipes(["红烧肉", "braised pork"]))
add("recipes", "有什么用牛奶做的甜品", recipes(["牛奶", "牛奶甜品", "milk", "甜品"]))
add("recipes", "给我几个西红柿炒蛋的做法", recipes(["西红柿炒蛋", "番茄炒蛋", "西红柿炒鸡蛋", "番茄炒鸡蛋"]))
add("recipes", "大米除了煮饭还能做什么，给我5个菜谱", recipes(["大米", "米", "rice", "五常大米"], [5]))
add("recipes", "车厘子能做什么甜点", recipes(["车厘子", "樱桃", "cherry", "车厘子甜点"]))
add("recipes", "教我做宫保鸡丁", recipes(["宫保鸡丁", "kung pao chicken"], opt(1, 3)))
add("recipes", "晚饭想吃鱼，推荐两个菜谱", recipes(["鱼", "fish", "鱼类"], [2]))
add("recipes", "鸡胸肉有啥低脂吃法", recipes(["鸡胸肉", "chicken breast", "低脂鸡胸肉"]))
add("recipes", "土豆能做哪些菜", recipes(["土豆", "马铃薯", "potato"]))
add("recipes", "咖啡可以用来做什么甜品吗", recipes(["咖啡", "coffee", "咖啡甜品"]))
add("recipes", "可乐鸡翅的做法", recipes(["可乐鸡翅", "coke chicken wings"]))
add("recipes", "想做个清蒸鲈鱼", recipes(["清蒸鲈鱼", "鲈鱼", "steamed sea bass"], opt(1, 3)))
add("recipes", "How do I cook salmon? Give me one recipe", recipes(SALMON_D, [1]))
add("recipes", "有没有适合减肥吃的沙拉做法", recipes(["沙拉", "减肥沙拉", "salad", "减脂沙拉"]))
add("recipes", "鸡蛋能做啥早餐，来三个", recipes(["鸡蛋", "egg", "eggs", "鸡蛋早餐"], opt(3)))
add("recipes", "麻婆豆腐咋做", recipes(["麻婆豆腐", "mapo tofu"], opt(1, 3)))
add("recipes", "我买了三文鱼，教我做个简单的", recipes(SALMON_D, opt(1, 3)))

# -- cart ---------------------------------------------------------------------------------
add("cart", "把小米11 Ultra加到购物车", cart("小米11 Ultra"))
add("cart", "来两箱农夫山泉", cart("农夫山泉", [2]))
add("cart", "车厘子给我加3斤", cart("车厘子", [3]))
add("cart", "五常大米加入购物车，要两袋", cart("五常大米", [2]))
add("cart", "买一部iPhone 15", cart("iPhone 15", opt(1)))
add("cart", "蒙牛纯牛奶来6箱", cart("蒙牛纯牛奶", [6]))
add("cart", "挪威三文鱼加一份", cart("挪威三文鱼", opt(1)))
add("cart", "我购物车里都有啥", VIEW)
add("cart", "看看我的购物车", VIEW)
add("cart", "购物车里现在多少钱了？", VIEW)
add("cart", "帮我把云南小粒咖啡豆放进购物车，两包", cart("云南小粒咖啡豆", [2]))
add("cart", "vivo X60 Pro我要了", cart("vivo X60 Pro", opt(1)))
add("cart", "OPPO Ace2，来一台", cart("OPPO Ace2", opt(1)))
add("cart", "华为畅享20 Pro加购两台，给爸妈一人一台", cart("华为畅享20 Pro", [2]))
add("cart", "农夫山泉和五常大米各来一份", cart("农夫山泉", opt(1)), cart("五常大米", opt(1)))
add("cart", "车厘子2斤，三文鱼1份，都加购物车", cart("车厘子", [2]), cart("挪威三文鱼", opt(1)))
add("cart", "我之前加了哪些东西来着", VIEW)
add("cart", "Add two bottles of Nongfu Spring to my cart", cart("农夫山泉", [2]))
add("cart", "Show me my cart", VIEW)
add("cart", "十箱农夫山泉，公司团建用", cart("农夫山泉", [10]))
add("cart", "加购物车：蒙牛纯牛奶 x4", cart("蒙牛纯牛奶", [4]))
add("cart", "结账前让我再确认下购物车", VIEW)

# -- weather --------------------------------------------------------------------------------
add("weather", "北京今天天气怎么样", weather(city("北京")))
add("weather", "上海明天下雨吗", weather(city("上海"), TOMORROW))
add("weather", "广州天气", weather(city("广州")))
add("weather", "深圳明天热不热", weather(city("深圳"), TOMORROW))
add("weather", "杭州今天适合出门吗，看下天气", weather(city("杭州")))
add("weather", "成都明天要带伞吗", weather(city("成都"), TOMORROW))
add("weather", "What's the weather in Wuhan today?", weather(city("武汉")))
add("weather", "南京天气咋样", weather(city("南京")))
add("weather", "西安明天气温多少度", weather(city("西安", "Xian"), TOMORROW))
add("weather", "重庆今天会下雨吗", weather(city("重庆")))
add("weather", "帮我看看天津明天的天气", weather(city("天津"), TOMORROW))
add("weather", "苏州现在冷吗", weather(city("苏州"), TODAY + days(0, ["现在", "now"])))
add("weather", "北京和上海今天天气分别怎么样", weather(city("北京")), weather(city("上海")))
add("weather", "长沙明天晴天吗，想去岳麓山", weather(city("长沙"), TOMORROW))
add("weather", "Is it going to rain in Shanghai tomorrow?", weather(city("上海"), TOMORROW))
add("weather", "郑州今儿天气", weather(city("郑州")))
add("weather", "青岛明天海边风大不大", weather(city("青岛"), TOMORROW))
add("weather", "厦门今天天气好吗，想去鼓浪屿", weather(city("厦门")))

# -- follow-ups that depend on earlier turns ---------------------------------------------------
MI = turn("小米11 Ultra多少钱？", "get_product_info", {"product_name": "小米11 Ultra", "properties": ["价格"]},
          '{"name": "小米11 Ultra", "price": 5999}', "小米11 Ultra 售价 5999 元。")
VIVO = turn("vivo X60 Pro屏幕怎么样", "get_product_info", {"product_name": "vivo X60 Pro", "properties": ["屏幕"]},
            '{"name": "vivo X60 Pro", "screen": "6.56英寸 AMOLED 120Hz"}', "vivo X60 Pro 是 6.56 英寸 AMOLED 屏，120Hz 刷新率。")
REC_PH = turn("三千以内拍照好的手机有哪些", "recommend_products", {"category": "手机", "scenario": "拍照", "max_price": 3000},
              '[{"name": "OPPO Ace2", "price": 2999}, {"name": "华为畅享20 Pro", "price": 1999}]',
              "推荐 OPPO Ace2（2999 元）和华为畅享20 Pro（1999 元）。")
CHERRY = turn("车厘子多少钱", "get_product_info", {"product_name": "车厘子", "properties": ["价格"]},
              '{"name": "车厘子", "price": 89.9, "unit": "500g"}', "车厘子 89.9 元一斤（500g）。")
SALMON_R = turn("三文鱼怎么做", "recommend_recipes", {"dish_or_ingredient": "三文鱼"},
                '[{"name": "香煎三文鱼", "ingredients": ["挪威三文鱼", "柠檬", "黑胡椒"]}]', "可以做香煎三文鱼，需要挪威三文鱼、柠檬和黑胡椒。")
W_BJ = turn("北京今天天气怎么样", "get_weather", {"city": "北京"}, '{"city": "北京", "date": "today", "weather": "晴", "temp": "3~12℃"}', "北京今天晴，3 到 12 度。")
COFFEE_I = turn("云南小粒咖啡豆是什么烘焙度", "get_product_info", {"product_name": "云南小粒咖啡豆", "properties": ["烘焙度"]},
                '{"name": "云南小粒咖啡豆", "roast_level": "中度烘焙"}', "云南小粒咖啡豆是中度烘焙。")
CART_ADD = turn("来两箱农夫山泉", "add_to_cart", {"product_name": "农夫山泉", "quantity": 2}, '{"ok": true, "cart_size": 1}', "已为你加入 2 箱农夫山泉。")
IP = turn("iPhone 15有优惠吗", "get_promotions", {"product_name": "iPhone 15"}, '[{"title": "以旧换新最高抵800元"}]', "iPhone 15 目前有以旧换新，最高抵 800 元。")

add("follow_up", MI + [U("那它的电池呢？")], info("小米11 Ultra", "电池"))
add("follow_up", MI + [U("有优惠吗")], promo("小米11 Ultra"))
add("follow_up", MI + [U("行，帮我加到购物车")], cart("小米11 Ultra", opt(1)))
add("follow_up", VIVO + [U("拍照怎么样")], info("vivo X60 Pro", "拍照"))
add("follow_up", VIVO + [U("那就买它吧，来一台")], cart("vivo X60 Pro", opt(1)))
add("follow_up", REC_PH + [U("第一个有没有优惠")], promo("OPPO Ace2"))
add("follow_up", REC_PH + [U("第二款的电池多大？")], info("华为畅享20 Pro", "电池"))
add("follow_up", REC_PH + [U("第一个加购物车")], cart("OPPO Ace2", opt(1)))
add("follow_up", REC_PH + [U("还有没有更便宜的，一千五以内的")], rec(PHONE, SC_PHOTO + [""], [1500]))
add("follow_up", CHERRY + [U("来两斤")], cart("车厘子", [2]))
add("follow_up", CHERRY + [U("有打折吗")], promo("车厘子"))
add("follow_up", CHERRY + [U("哪里产的？")], info("车厘子", "产地"))
add("follow_up", SALMON_R + [U("三文鱼有优惠吗")], promo("挪威三文鱼"))
add("follow_up", SALMON_R + [U("好的，把三文鱼加到购物车")], cart("挪威三文鱼", opt(1)))
add("follow_up", W_BJ + [U("那明天呢")], weather(city("北京"), TOMORROW))
add("follow_up", W_BJ + [U("上海呢？")], weather(city("上海")))
add("follow_up", COFFEE_I + [U("保质期呢")], info("云南小粒咖啡豆", "保质期"))
add("follow_up", COFFEE_I + [U("这个咖啡豆能做什么甜品")], recipes(["咖啡", "咖啡豆", "云南小粒咖啡豆", "coffee", "咖啡甜品", "咖啡豆甜品", "咖啡甜点"]))
add("follow_up", COFFEE_I + [U("给我来一包")], cart("云南小粒咖啡豆", opt(1)))
add("follow_up", CART_ADD + [U("现在购物车里有什么了")], VIEW)
add("follow_up", CART_ADD + [U("再加一袋五常大米")], cart("五常大米", opt(1)))
add("follow_up", IP + [U("那它屏幕多大")], info("iPhone 15", "屏幕"))
add("follow_up", IP + [U("挺好，加购")], cart("iPhone 15", opt(1)))
add("follow_up", MI + VIVO + [U("这两个哪个电池大？")], info("小米11 Ultra", "电池"), info("vivo X60 Pro", "电池"))
add("follow_up", W_BJ + [U("天冷了，推荐点适合冬天吃的水果")], rec(FRUIT, ["冬天", "冬季", "winter", "天冷", "适合冬天"]))

# -- colloquial and typo-laden ---------------------------------------------------------------------
add("typo_colloquial", "小米11 ultar电池咋样", info("小米11 Ultra", "电池"))
add("typo_colloquial", "iphone15有木有优惠啊", promo("iPhone 15"))
add("typo_colloquial", "vivo x60pro 屏幕咋样啊亲", info("vivo X60 Pro", "屏幕"))
add("typo_colloquial", "整点车厘子，来个三斤", cart("车厘子", [3]))
add("typo_colloquial", "蒙牛存牛奶保质期多久啊", info("蒙牛纯牛奶", "保质期"))
add("typo_colloquial", "五长大米有活动没", promo("五常大米"))
add("typo_colloquial", "oppo aec2 啥处理器", info("OPPO Ace2", "处理器"))
add("typo_colloquial", "华为畅想20pro多少钱", info("华为畅享20 Pro", "价格"))
add("typo_colloquial", "俺想买个手机拍照贼好的那种，三千块以内中不", rec(PHONE, SC_PHOTO + ["拍照贼好"], [3000]))
add("typo_colloquial", "挪威三纹鱼怎么做好吃", recipes(SALMON_D + ["挪威三纹鱼"]))
add("typo_colloquial", "北京明儿个天儿咋样", weather(city("北京"), TOMORROW))
add("typo_colloquial", "购物车瞅一眼", VIEW)
add("typo_colloquial", "农夫三泉给我整两箱", cart("农夫山泉", [2]))
add("typo_colloquial", "云南小粒咖啡斗啥烘焙度", info("云南小粒咖啡豆", "烘焙度"))
add("typo_colloquial", "有啥便宜的零嘴，二十块以下的，给娃吃", rec(SNACKS, SC_KID + ["给娃吃"], [20]))

# -- no tool fits -------------------------------------------------------------------------------------
for text in [
    "你好",
    "你是谁？",
    "谢谢你，今天就到这吧",
    "给我讲个笑话",
    "帮我订一张明天去上海的机票",
    "我的快递到哪了？",
    "帮我把订单取消了",
    "今天A股大盘怎么样",
    "帮我写一首关于咖啡的诗",
    "把'我爱吃车厘子'翻译成英文",
    "37乘以48等于多少",
    "帮我付款结账",
    "把购物车清空",
    "从购物车里删掉农夫山泉",
    "我要退货，怎么操作",
    "你们客服电话是多少",
    "帮我叫个外卖",
    "能帮我预约明天下午的理发吗",
    "推荐一部好看的电影",
    "Python怎么读文件",
    "我心情不好，陪我聊聊",
    "帮我设置一个明早7点的闹钟",
    "我的会员积分有多少",
    "修改一下收货地址",
    "帮我开张发票",
    "小米的创始人是谁",
    "上周五北京的空气质量怎么样",
    "帮我给妈妈打个电话",
    "iPhone 15 怎么截屏",
    "Hi, who are you?",
    "Can you book a taxi to the airport?",
    "What is the capital of France?",
    "Write me a haiku about rice",
    "Thanks, that's all I needed",
]:
    add("no_call", text)
# Earlier turns already hold the answer, or the user only reacts: no new call is needed.
add("no_call", MI + [U("好的，谢谢")])
add("no_call", MI + [U("你刚才说它多少钱来着？")], answer={"contains": ["5999"]})
add("no_call", VIVO + [U("嗯，120Hz挺好的")])
add("no_call", REC_PH + [U("这两款里哪个更便宜？")], answer={"contains": ["畅享"]})
add("no_call", W_BJ + [U("那我多穿点")])
add("no_call", CHERRY + [U("太贵了，算了")])
add("no_call", CART_ADD + [U("好的没问题")])
add("no_call", IP + [U("以旧换新要怎么弄？你们门店在哪")])
add("no_call", SALMON_R + [U("听起来不错，我周末试试")])
add("no_call", "帮我比较一下特斯拉和比亚迪哪个好")
add("no_call", "下单后多久能送到")

# -- added later (appended so that earlier ids and the split stay stable) ---------------------
add("recommend", "Can you recommend some fresh fruit?", rec(FRUIT))
add("multi_constraint", "Looking for coffee beans for pour-over, max 120 yuan", rec(COFFEE, ["手冲", "手冲咖啡", "pour over", "pour-over", "pourover"], [120]))
add("product_info", "How big is the battery of the vivo X60 Pro?", info("vivo X60 Pro", "电池"))
add("product_info", "Where does the Wuchang rice come from?", info("五常大米", "产地"))
add("promotions", "Is there any deal on the iPhone 15 right now?", promo("iPhone 15"))
add("recipes", "What can I make with eggs and tomatoes?", recipes(["西红柿炒鸡蛋", "番茄炒蛋", "西红柿炒蛋", "番茄炒鸡蛋", "eggs and tomatoes", "tomato and egg", "tomatoes and eggs", "egg and tomato"]))
add("cart", "Put 3 boxes of Mengniu milk in my cart please", cart("蒙牛纯牛奶", [3]))
add("weather", "Will it be sunny in Hangzhou tomorrow?", weather(city("杭州"), TOMORROW))
add("follow_up", MI + [U("What about its screen?")], info("小米11 Ultra", "屏幕"))
add("follow_up", CHERRY + [U("ok add 2 of them to my cart")], cart("车厘子", [2]))
add("no_call", "Can you help me file my taxes?")
add("no_call", "Tell me a fun fact about capybaras")
add("typo_colloquial", "wanna c my cart real quick", VIEW)
add("typo_colloquial", "iphnoe 15 promos??", promo("iPhone 15"))


def build() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Give ids and split 70/30 per category (positions 1, 4, 7 (0-based) of every ten go to test)."""
    dev: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    for case in CASES:
        cat = case["category"]
        i = counters.get(cat, 0)
        counters[cat] = i + 1
        case["id"] = f"{cat}-{i + 1:03d}"
        (test if i % 10 in (1, 4, 7) else dev).append(case)
    return dev, test


if __name__ == "__main__":
    dev_rows, test_rows = build()
    write_jsonl_atomic(HERE / "dev.jsonl", dev_rows)
    write_jsonl_atomic(HERE / "test.jsonl", test_rows)
    print(f"{len(CASES)} cases: dev {len(dev_rows)}, test {len(test_rows)}")
