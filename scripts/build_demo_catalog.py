#!/usr/bin/env python3
"""Build the grocery-assistant demo catalog: ``src/kapibara/demo/data/catalog.db``.

Deterministic: the hand-written data below (real products with plausible specs,
categories, recipes, cities) plus seeded variations for volume always give the same
rows. The database is written to a temp file and moved into place atomically.

Usage::

    python scripts/build_demo_catalog.py            # rebuild the committed db
    python scripts/build_demo_catalog.py --out x.db # write elsewhere (tests do this)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

SEED = 20240611
SCHEMA_VERSION = "1"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "kapibara" / "demo" / "data" / "catalog.db"

# --------------------------------------------------------------------------------------
# Categories: id, Chinese name, English name, synonyms (zh/en words users say)
# --------------------------------------------------------------------------------------
CATEGORIES: list[tuple[str, str, str, list[str]]] = [
    ("digital", "手机数码", "Phones & Electronics", ["数码", "电子产品", "electronics", "digital", "数码产品", "3c", "手机通讯", "数码电器", "phones and electronics"]),
    ("fruit", "新鲜水果", "Fresh Fruit", ["水果", "fruit", "fruits", "鲜果", "生鲜水果", "fresh fruit", "时令水果"]),
    ("meat", "肉禽蛋", "Meat, Poultry & Eggs", ["肉", "肉类", "禽肉", "meat", "poultry", "肉禽", "生鲜肉类", "禽蛋"]),
    ("seafood", "海鲜水产", "Seafood", ["海鲜", "水产", "seafood", "fish", "鱼类", "生鲜海鲜", "水产品"]),
    ("dairy", "乳品", "Dairy", ["乳制品", "奶制品", "dairy", "奶", "乳饮", "牛奶乳品", "dairy products"]),
    ("drinks", "饮料酒水", "Drinks & Alcohol", ["饮料", "酒水", "酒", "drinks", "beverages", "alcohol", "饮品", "酒水饮料", "水饮", "drink"]),
    ("coffee", "咖啡", "Coffee", ["coffee", "咖啡饮品", "冲调", "冲调饮品"]),
    ("snacks", "零食", "Snacks", ["休闲零食", "小吃", "snacks", "snack", "零嘴", "零食小吃"]),
    ("grain", "米面粮油", "Rice, Flour & Oil", ["粮油", "主食", "grain", "grains", "米面", "粮油米面", "谷物", "rice and grain", "rice & grain"]),
    ("household", "日用百货", "Household", ["日用品", "百货", "household", "家居用品", "家居日用", "家居", "日用"]),
    ("vegetables", "蔬菜", "Vegetables", ["青菜", "vegetables", "vegetable", "veggies", "菜", "新鲜蔬菜", "生鲜蔬菜"]),
    ("frozen", "冷冻食品", "Frozen Food", ["速冻", "速冻食品", "冻品", "frozen", "frozen food"]),
    ("seasoning", "调味品", "Condiments", ["调料", "调味料", "佐料", "condiments", "seasoning", "spices", "厨房调料"]),
    ("care", "个护清洁", "Personal Care & Cleaning", ["个人护理", "清洁用品", "洗护", "personal care", "cleaning", "日化", "家庭清洁", "洗护用品"]),
    ("baby", "母婴", "Mother & Baby", ["婴儿用品", "宝宝用品", "baby", "母婴用品"]),
    ("tea", "茶叶", "Tea", ["茶", "tea", "茗茶"]),
    ("bakery", "烘焙早餐", "Bakery & Breakfast", ["面包", "早餐", "bakery", "breakfast", "烘焙"]),
]

# Words that span several categories ("生鲜" = fresh food): name, category ids, synonyms.
CATEGORY_GROUPS: list[tuple[str, list[str], list[str]]] = [
    ("生鲜", ["fruit", "vegetables", "meat", "seafood"], ["fresh food", "fresh", "生鲜食品"]),
    ("肉禽海鲜", ["meat", "seafood"], ["肉类海鲜", "meat and seafood", "meat & seafood", "肉禽水产"]),
    ("蔬菜水果", ["fruit", "vegetables"], ["果蔬", "蔬果", "fruit and vegetables", "水果蔬菜"]),
    ("食品", ["fruit", "vegetables", "meat", "seafood", "dairy", "snacks", "grain", "frozen", "bakery"], ["food", "吃的"]),
]

# kind (product type inside a category): zh, en, category, synonyms
KINDS: list[tuple[str, str, str, list[str]]] = [
    ("手机", "phone", "digital", ["智能手机", "phone", "phones", "smartphone", "mobile phone", "拍照手机", "游戏手机", "5g手机", "cellphone"]),
    ("耳机", "earphones", "digital", ["蓝牙耳机", "无线耳机", "earbuds", "headphones", "earphones"]),
    ("智能手表", "smartwatch", "digital", ["手表", "手环", "智能手环", "watch", "smartwatch", "band"]),
    ("平板电脑", "tablet", "digital", ["平板", "tablet", "ipad", "pad"]),
    ("充电配件", "charging accessories", "digital", ["充电宝", "充电器", "数据线", "charger", "power bank", "cable"]),
    ("牛奶", "milk", "dairy", ["纯牛奶", "鲜牛奶", "milk"]),
    ("酸奶", "yogurt", "dairy", ["yogurt", "yoghurt", "酸牛奶"]),
    ("奶酪黄油", "cheese & butter", "dairy", ["奶酪", "黄油", "cheese", "butter"]),
    ("咖啡豆", "coffee beans", "coffee", ["coffee beans", "beans", "咖啡粉"]),
    ("速溶咖啡", "instant coffee", "coffee", ["instant coffee", "冻干咖啡", "挂耳咖啡", "速溶"]),
    ("饮用水", "water", "drinks", ["矿泉水", "水", "water", "纯净水", "mineral water"]),
    ("软饮料", "soft drinks", "drinks", ["碳酸饮料", "汽水", "可乐", "soda", "soft drink", "果汁", "juice", "茶饮料"]),
    ("酒", "alcohol", "drinks", ["啤酒", "白酒", "葡萄酒", "红酒", "beer", "wine", "liquor"]),
    ("坚果", "nuts", "snacks", ["nuts", "干果", "坚果炒货"]),
    ("大米", "rice", "grain", ["米", "rice", "香米"]),
    ("食用油", "cooking oil", "grain", ["油", "cooking oil", "花生油", "调和油"]),
    ("面粉面条", "flour & noodles", "grain", ["面粉", "面条", "挂面", "noodles", "flour", "pasta"]),
    ("纸品", "paper", "household", ["纸巾", "抽纸", "卷纸", "tissue", "paper towels"]),
    ("奶粉", "formula", "baby", ["婴儿奶粉", "formula", "infant formula"]),
    ("纸尿裤", "diapers", "baby", ["尿不湿", "diapers", "nappies"]),
    ("绿茶", "green tea", "tea", ["green tea"]),
    ("红茶", "black tea", "tea", ["black tea"]),
    ("乌龙茶", "oolong", "tea", ["oolong", "岩茶", "铁观音"]),
    ("牛肉", "beef", "meat", ["beef", "牛排", "steak"]),
    ("猪肉", "pork", "meat", ["pork"]),
    ("禽肉", "poultry", "meat", ["鸡肉", "鸭肉", "chicken", "duck"]),
    ("蛋", "eggs", "meat", ["鸡蛋", "eggs", "egg"]),
    ("鱼", "fish", "seafood", ["fish", "鲜鱼"]),
    ("虾蟹贝", "shellfish", "seafood", ["虾", "蟹", "贝", "shrimp", "crab", "shellfish"]),
]

# --------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------
PRODUCTS: list[dict[str, Any]] = []


def P(  # noqa: N802 - a short constructor keeps the hand-written tables readable
    cat: str,
    zh: str,
    en: str,
    price: float,
    *,
    kind: str = "",
    brand: str = "",
    unit: str = "件",
    aliases: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    variants: bool = False,
    **attrs: Any,
) -> None:
    """Register one hand-written product."""
    PRODUCTS.append(
        {
            "category": cat,
            "name_zh": zh,
            "name_en": en,
            "price": float(price),
            "kind": kind,
            "brand": brand,
            "unit": unit,
            "aliases": list(aliases),
            "tags": list(tags),
            "variants": variants,
            "attributes": attrs,
        }
    )


def phone(
    zh: str,
    en: str,
    price: float,
    brand: str,
    chip: str,
    screen: str,
    battery: int,
    mp: int,
    cam_desc: str,
    cam_score: int,
    perf: int,
    storage: str,
    charging: str,
    aliases: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
) -> None:
    """A phone: camera (megapixels + description + score), battery, screen, chip, storage."""
    P(
        "digital", zh, en, price, kind="手机", brand=brand, unit="台", aliases=aliases, tags=tags,
        camera={"megapixels": mp, "description": cam_desc, "score": cam_score},
        battery_mah=battery, screen=screen, chip=chip, storage=storage,
        performance_score=perf, charging=charging,
    )


# Phones: launch prices (CNY) and specs as announced; scores are the catalog's own 0-100 ratings.
phone("小米11 Ultra", "Xiaomi 11 Ultra", 5999, "小米", "骁龙888", "6.81英寸 2K AMOLED 120Hz", 5000, 50,
      "5000万像素GN2大底主摄+4800万超广角+4800万5倍潜望长焦，背屏自拍", 94, 86, "12GB+256GB", "67W有线/67W无线",
      aliases=("小米11U", "mi 11 ultra", "xiaomi mi 11 ultra", "小米11至尊版"), tags=("拍照", "旗舰", "送礼"))
phone("小米14", "Xiaomi 14", 3999, "小米", "骁龙8 Gen 3", "6.36英寸 1.5K OLED 120Hz", 4610, 50,
      "徕卡光影猎人900主摄+5000万超广角+5000万3.2倍长焦", 90, 95, "12GB+256GB", "90W有线/50W无线",
      aliases=("xiaomi14", "mi 14", "小米十四"), tags=("拍照", "小屏", "旗舰"))
phone("Redmi K70", "Redmi K70", 2499, "小米", "骁龙8 Gen 2", "6.67英寸 2K OLED 120Hz", 5000, 50,
      "5000万像素光影猎人800主摄+800万超广角+200万微距", 78, 90, "12GB+256GB", "120W有线",
      aliases=("红米K70", "redmi k70", "k70"), tags=("性价比", "游戏"))
phone("Redmi Note 13 Pro", "Redmi Note 13 Pro", 1399, "小米", "骁龙7s Gen 2", "6.67英寸 1.5K OLED 120Hz", 5100, 200,
      "2亿像素主摄（OIS）+800万超广角+200万微距", 76, 70, "8GB+128GB", "67W有线",
      aliases=("红米note13pro", "redmi note13 pro"), tags=("性价比", "长续航"))
phone("vivo X60 Pro", "vivo X60 Pro", 4498, "vivo", "三星Exynos 1080", "6.56英寸 AMOLED 120Hz", 4200, 48,
      "4800万像素微云台主摄+1300万人像+1300万超广角，蔡司光学", 88, 80, "12GB+256GB", "33W有线",
      aliases=("vivox60pro", "维沃X60 Pro", "x60 pro", "vivo x60pro"), tags=("拍照", "防抖", "轻薄"))
phone("vivo X100 Pro", "vivo X100 Pro", 4999, "vivo", "天玑9300", "6.78英寸 2.8K AMOLED 120Hz", 5400, 50,
      "5000万像素一英寸主摄+5000万超广角+5000万APO 4.3倍长焦，蔡司", 97, 94, "12GB+256GB", "100W有线/50W无线",
      aliases=("vivox100pro", "x100 pro", "维沃X100 Pro"), tags=("拍照", "旗舰", "长续航"))
phone("vivo Y78", "vivo Y78", 1599, "vivo", "天玑7020", "6.78英寸 OLED 120Hz", 5000, 64,
      "6400万像素主摄+200万景深", 62, 58, "8GB+256GB", "44W有线",
      aliases=("vivoy78", "y78"), tags=("性价比", "长续航", "长辈"))
phone("OPPO Ace2", "OPPO Ace2", 3999, "OPPO", "骁龙865", "6.55英寸 AMOLED 90Hz", 4000, 48,
      "4800万像素主摄+800万超广角+200万黑白+200万人像", 74, 78, "8GB+256GB", "65W有线/40W无线",
      aliases=("oppo ace 2", "欧珀Ace2", "ace2", "oppoace2"), tags=("游戏", "快充"))
phone("OPPO Find X7 Ultra", "OPPO Find X7 Ultra", 5999, "OPPO", "骁龙8 Gen 3", "6.82英寸 2K OLED 120Hz", 5000, 50,
      "哈苏影像，5000万一英寸主摄+双潜望长焦（3倍/6倍）+5000万超广角", 98, 95, "12GB+256GB", "100W有线/50W无线",
      aliases=("find x7 ultra", "findx7ultra", "欧珀Find X7 Ultra"), tags=("拍照", "旗舰", "送礼"))
phone("OPPO Reno11", "OPPO Reno11", 2499, "OPPO", "天玑8200", "6.7英寸 OLED 120Hz", 4800, 50,
      "5000万像素主摄+3200万人像长焦+800万超广角", 80, 76, "12GB+256GB", "67W有线",
      aliases=("reno11", "oppo reno 11"), tags=("人像", "轻薄", "自拍"))
phone("华为畅享20 Pro", "HUAWEI Enjoy 20 Pro", 2299, "华为", "天玑800", "6.5英寸 LCD 90Hz", 4000, 48,
      "4800万像素主摄+800万超广角+200万微距", 64, 60, "6GB+128GB", "22.5W有线",
      aliases=("huawei enjoy 20 pro", "畅享20pro", "华为畅享20pro", "畅享20 Pro", "HUAWEI畅享20 Pro"), tags=("性价比", "5G"))
phone("华为Mate 60 Pro", "HUAWEI Mate 60 Pro", 6999, "华为", "麒麟9000S", "6.82英寸 OLED 120Hz", 5000, 50,
      "5000万像素超光变主摄（F1.4-F4.0）+1200万超广角+4800万微距长焦", 95, 85, "12GB+512GB", "88W有线/50W无线",
      aliases=("mate60pro", "huawei mate 60 pro", "华为mate60 pro", "mate 60 pro", "华为Mate60Pro"), tags=("拍照", "旗舰", "卫星通话", "送礼"))
phone("华为P60 Pro", "HUAWEI P60 Pro", 6988, "华为", "骁龙8+ Gen 1 4G", "6.67英寸 OLED 120Hz", 4815, 48,
      "4800万像素超聚光可变光圈主摄+1300万超广角+4800万超聚光长焦", 96, 84, "8GB+256GB", "88W有线/50W无线",
      aliases=("p60pro", "huawei p60 pro", "华为p60pro"), tags=("拍照", "夜景", "旗舰"))
phone("华为nova 12", "HUAWEI nova 12", 2999, "华为", "麒麟8000", "6.7英寸 OLED 120Hz", 4600, 50,
      "5000万像素超光变主摄+800万超广角，6000万前置自拍", 79, 68, "8GB+256GB", "100W有线",
      aliases=("nova12", "华为nova12", "huawei nova12"), tags=("自拍", "轻薄"))
phone("荣耀X50", "HONOR X50", 1399, "荣耀", "骁龙6 Gen 1", "6.78英寸 1.5K 曲面OLED 120Hz", 5800, 108,
      "1亿像素主摄+200万景深", 66, 62, "8GB+128GB", "35W有线",
      aliases=("honor x50", "荣耀x50", "x50"), tags=("长续航", "抗摔", "性价比", "长辈"))
phone("荣耀Magic6 Pro", "HONOR Magic6 Pro", 5699, "荣耀", "骁龙8 Gen 3", "6.8英寸 OLED 120Hz", 5600, 50,
      "5000万鹰眼主摄+1.8亿像素潜望长焦+5000万超广角", 96, 95, "12GB+256GB", "80W有线/66W无线",
      aliases=("honor magic6 pro", "magic6pro", "荣耀magic 6 pro"), tags=("拍照", "旗舰", "长续航"))
phone("iPhone 15", "iPhone 15", 5999, "Apple", "A16仿生", "6.1英寸 OLED 60Hz", 3349, 48,
      "4800万像素主摄（2倍光学品质变焦）+1200万超广角", 86, 88, "128GB", "20W有线/15W MagSafe",
      aliases=("苹果15", "苹果手机15", "apple iphone 15", "iphone15", "爱疯15"), tags=("送礼", "拍照"))
phone("iPhone 15 Pro Max", "iPhone 15 Pro Max", 9999, "Apple", "A17 Pro", "6.7英寸 OLED 120Hz", 4441, 48,
      "4800万像素主摄+1200万超广角+1200万5倍四重反射棱镜长焦", 95, 96, "256GB", "27W有线/15W MagSafe",
      aliases=("苹果15 Pro Max", "iphone15promax", "15pm", "苹果15promax"), tags=("拍照", "旗舰", "送礼"))
phone("iPhone 14", "iPhone 14", 5199, "Apple", "A15仿生", "6.1英寸 OLED 60Hz", 3279, 12,
      "1200万像素主摄+1200万超广角", 80, 82, "128GB", "20W有线",
      aliases=("苹果14", "iphone14", "apple iphone 14"), tags=("送礼",))
phone("三星Galaxy S24 Ultra", "Samsung Galaxy S24 Ultra", 9699, "三星", "骁龙8 Gen 3 for Galaxy", "6.8英寸 2K AMOLED 120Hz", 5000, 200,
      "2亿像素主摄+5000万5倍长焦+1000万3倍长焦+1200万超广角，S Pen", 94, 95, "12GB+256GB", "45W有线",
      aliases=("s24 ultra", "samsung s24 ultra", "三星s24u", "galaxy s24 ultra"), tags=("拍照", "旗舰", "商务"))
phone("一加12", "OnePlus 12", 4299, "一加", "骁龙8 Gen 3", "6.82英寸 2K OLED 120Hz", 5400, 50,
      "哈苏影像，5000万LYT-808主摄+6400万3倍潜望长焦+4800万超广角", 88, 96, "12GB+256GB", "80W有线/50W无线",
      aliases=("oneplus 12", "一加 12", "oneplus12"), tags=("游戏", "长续航", "快充"))
phone("realme GT Neo5", "realme GT Neo5", 2499, "realme", "骁龙8+ Gen 1", "6.74英寸 1.5K OLED 144Hz", 5000, 50,
      "5000万像素IMX890主摄（OIS）+800万超广角+200万微距", 74, 88, "12GB+256GB", "150W有线",
      aliases=("真我GT Neo5", "gt neo5", "realme gt neo 5"), tags=("游戏", "快充", "性价比"))

# Other electronics
P("digital", "AirPods Pro 2", "AirPods Pro (2nd generation)", 1899, kind="耳机", brand="Apple", unit="副",
  aliases=("airpods pro", "苹果耳机", "airpodspro2"), tags=("降噪", "送礼"),
  battery_life="单次6小时/配合充电盒30小时", noise_cancelling="主动降噪", connection="蓝牙5.3")
P("digital", "华为FreeBuds Pro 3", "HUAWEI FreeBuds Pro 3", 1499, kind="耳机", brand="华为", unit="副",
  aliases=("freebuds pro 3", "华为耳机"), tags=("降噪",),
  battery_life="单次6.5小时/配合充电盒31小时", noise_cancelling="智慧动态降噪", connection="蓝牙5.2")
P("digital", "小米手环8", "Xiaomi Smart Band 8", 239, kind="智能手表", brand="小米", unit="个",
  aliases=("mi band 8", "小米手环", "xiaomi band 8"), tags=("运动", "性价比", "送礼"),
  battery_life="16天", screen="1.62英寸 AMOLED", features="心率血氧监测、150+运动模式")
P("digital", "Apple Watch Series 9", "Apple Watch Series 9", 2999, kind="智能手表", brand="Apple", unit="块",
  aliases=("苹果手表", "apple watch s9", "iwatch"), tags=("送礼", "运动"),
  battery_life="18小时", screen="45mm 视网膜OLED", features="心电图、血氧、双指互点")
P("digital", "华为Watch GT 4", "HUAWEI WATCH GT 4", 1488, kind="智能手表", brand="华为", unit="块",
  aliases=("watch gt4", "华为手表"), tags=("长续航", "送礼", "运动"),
  battery_life="14天", screen="1.43英寸 AMOLED", features="心率、血氧、睡眠监测")
P("digital", "iPad Air", "iPad Air (M2)", 4799, kind="平板电脑", brand="Apple", unit="台",
  aliases=("ipadair", "苹果平板"), tags=("学习", "送礼"),
  chip="M2", screen="11英寸 Liquid视网膜屏", storage="128GB", battery_life="10小时")
P("digital", "小米平板6", "Xiaomi Pad 6", 1999, kind="平板电脑", brand="小米", unit="台",
  aliases=("xiaomi pad 6", "小米平板"), tags=("学习", "性价比"),
  chip="骁龙870", screen="11英寸 2.8K 144Hz", storage="8GB+128GB", battery_mah=8840)
P("digital", "小米充电宝20000mAh", "Xiaomi Power Bank 20000mAh", 129, kind="充电配件", brand="小米", unit="个",
  aliases=("小米移动电源", "充电宝", "power bank"), tags=("出行", "性价比"),
  capacity_mah=20000, output="22.5W快充", weight="440g")
P("digital", "Anker安克65W氮化镓充电器", "Anker 65W GaN Charger", 199, kind="充电配件", brand="Anker", unit="个",
  aliases=("安克充电器", "anker charger", "氮化镓充电器"), tags=("出行",),
  output="65W 2C1A", weight="112g")
P("digital", "漫步者W820NB", "Edifier W820NB", 399, kind="耳机", brand="漫步者", unit="副",
  aliases=("漫步者耳机", "edifier"), tags=("降噪", "性价比"),
  battery_life="49小时", noise_cancelling="主动降噪", connection="蓝牙5.2")


def food(cat: str, zh: str, en: str, price: float, origin: str, weight: str, shelf: str,
         storage: str = "常温", **kw: Any) -> None:
    """A food product: origin, weight, shelf life, storage method."""
    kw.setdefault("unit", "份")
    P(cat, zh, en, price, origin=origin, weight=weight, shelf_life=shelf, storage_method=storage, **kw)


F = "fruit"
food(F, "车厘子", "Cherries", 129, "智利", "1kg（JJ级）", "7天", "冷藏", aliases=("樱桃", "智利车厘子", "cherry", "chile cherries"), tags=("送礼", "进口", "新鲜"), variants=True, season="11月-次年2月")
food(F, "阳光玫瑰葡萄", "Shine Muscat Grapes", 59.9, "云南", "1kg", "7天", "冷藏", aliases=("阳光玫瑰", "青提", "shine muscat"), tags=("送礼", "新鲜"), season="8月-12月")
food(F, "赣南脐橙", "Gannan Navel Oranges", 39.9, "江西赣州", "5kg", "20天", "阴凉", aliases=("脐橙", "橙子", "orange", "navel orange"), tags=("性价比", "维C"), variants=True, season="11月-次年2月")
food(F, "烟台红富士苹果", "Yantai Fuji Apples", 49.9, "山东烟台", "5kg", "30天", "冷藏", aliases=("红富士", "苹果", "apple", "apples", "fuji apple"), tags=("家庭", "性价比"), variants=True, season="10月-次年3月")
food(F, "香蕉", "Bananas", 12.9, "云南", "1.5kg", "5天", "常温", aliases=("banana", "bananas", "芭蕉"), tags=("早餐", "性价比"))
food(F, "丹东草莓", "Dandong Strawberries", 69.9, "辽宁丹东", "1.5kg", "3天", "冷藏", aliases=("草莓", "strawberry", "strawberries", "99草莓"), tags=("送礼", "新鲜"), season="12月-次年4月")
food(F, "贵妃芒", "Guifei Mangoes", 45.9, "海南", "2.5kg", "7天", "常温", aliases=("芒果", "海南芒果", "mango", "mangoes"), tags=("热带",), season="3月-6月")
food(F, "哈密瓜", "Hami Melon", 35.9, "新疆", "2个约3kg", "10天", "阴凉", aliases=("新疆哈密瓜", "hami melon", "melon"), tags=("夏季",), season="6月-9月")
food(F, "麒麟西瓜", "Kirin Watermelon", 29.9, "海南", "1个约3kg", "7天", "阴凉", aliases=("西瓜", "watermelon"), tags=("夏季", "解暑"), season="5月-9月")
food(F, "佳沛金奇异果", "Zespri SunGold Kiwifruit", 99, "新西兰", "22个装", "14天", "冷藏", brand="佳沛", aliases=("奇异果", "猕猴桃", "kiwi", "kiwifruit", "zespri"), tags=("进口", "维C", "送礼"))
food(F, "蓝莓", "Blueberries", 39.9, "云南", "125g×4盒", "7天", "冷藏", aliases=("blueberry", "blueberries"), tags=("护眼", "新鲜"), variants=True)
food(F, "红心火龙果", "Red Dragon Fruit", 32.9, "广西", "2.5kg", "10天", "阴凉", aliases=("火龙果", "dragon fruit", "pitaya"), tags=("热带",))
food(F, "金枕榴莲", "Monthong Durian", 199, "泰国", "1个约3kg", "5天", "常温", aliases=("榴莲", "durian", "泰国榴莲"), tags=("进口", "热带"))
food(F, "山竹", "Mangosteen", 89.9, "泰国", "1.5kg", "5天", "冷藏", aliases=("mangosteen",), tags=("进口", "热带"), season="5月-9月")
food(F, "砂糖橘", "Shatang Mandarins", 29.9, "广西", "2.5kg", "10天", "阴凉", aliases=("沙糖桔", "橘子", "mandarin", "tangerine"), tags=("性价比",), season="11月-次年2月")
food(F, "库尔勒香梨", "Korla Fragrant Pears", 39.9, "新疆库尔勒", "2.5kg", "20天", "冷藏", aliases=("香梨", "梨", "pear", "pears"), tags=("润燥",), season="9月-次年3月")
food(F, "安岳柠檬", "Anyue Lemons", 19.9, "四川安岳", "1kg", "30天", "阴凉", aliases=("柠檬", "lemon", "lemons"), tags=("维C",))
food(F, "牛油果", "Avocados", 39.9, "墨西哥", "6个装", "7天", "常温", aliases=("avocado", "鳄梨"), tags=("进口", "健身", "早餐"))
food(F, "海南菠萝", "Hainan Pineapple", 24.9, "海南", "2个约2kg", "7天", "常温", aliases=("菠萝", "凤梨", "pineapple"), tags=("热带",), season="2月-6月")

M = "meat"
food(M, "土鸡蛋", "Free-range Eggs", 32.9, "湖北", "30枚", "30天", "冷藏", kind="蛋", aliases=("鸡蛋", "eggs", "egg", "柴鸡蛋"), tags=("早餐", "家庭"), variants=True)
food(M, "黑猪五花肉", "Black Pork Belly", 45.9, "吉林", "500g", "冷藏3天", "冷藏", kind="猪肉", aliases=("五花肉", "猪五花", "pork belly"), tags=("家常",))
food(M, "猪里脊", "Pork Tenderloin", 29.9, "河南", "500g", "冷藏3天", "冷藏", kind="猪肉", aliases=("里脊肉", "pork loin", "pork tenderloin"), tags=("家常",))
food(M, "猪肋排", "Pork Spare Ribs", 49.9, "河南", "500g", "冷藏3天", "冷藏", kind="猪肉", aliases=("排骨", "肋排", "spare ribs", "ribs"), tags=("家常", "炖汤"))
food(M, "猪肉馅", "Ground Pork", 24.9, "河南", "500g", "冷藏2天", "冷藏", kind="猪肉", aliases=("肉馅", "绞肉", "ground pork", "minced pork"), tags=("饺子",))
food(M, "澳洲西冷牛排", "Australian Sirloin Steak", 89.9, "澳大利亚", "200g×2片", "冷冻12个月", "冷冻", kind="牛肉", aliases=("西冷牛排", "牛排", "sirloin steak", "steak"), tags=("进口", "健身", "送礼"))
food(M, "牛腩", "Beef Brisket", 59.9, "内蒙古", "500g", "冷藏3天", "冷藏", kind="牛肉", aliases=("牛腩肉", "beef brisket", "brisket"), tags=("炖煮",))
food(M, "牛腱子", "Beef Shank", 69.9, "内蒙古", "500g", "冷藏3天", "冷藏", kind="牛肉", aliases=("牛腱", "beef shank"), tags=("卤味",))
food(M, "雪花肥牛卷", "Marbled Beef Slices", 49.9, "内蒙古", "500g", "冷冻12个月", "冷冻", kind="牛肉", aliases=("肥牛", "肥牛卷", "beef slices", "hot pot beef"), tags=("火锅",))
food(M, "鸡胸肉", "Chicken Breast", 19.9, "山东", "1kg", "冷冻12个月", "冷冻", kind="禽肉", aliases=("鸡胸", "chicken breast"), tags=("健身", "低脂", "性价比"), variants=True)
food(M, "鸡翅中", "Chicken Mid Wings", 39.9, "山东", "1kg", "冷冻12个月", "冷冻", kind="禽肉", aliases=("鸡翅", "翅中", "chicken wings"), tags=("家常",))
food(M, "三黄鸡", "Sanhuang Chicken", 49.9, "广东清远", "1只约1.2kg", "冷藏3天", "冷藏", kind="禽肉", aliases=("整鸡", "土鸡", "whole chicken", "chicken"), tags=("炖汤",))
food(M, "羔羊肉卷", "Lamb Slices", 59.9, "内蒙古锡林郭勒", "500g", "冷冻12个月", "冷冻", kind="羊肉", aliases=("羊肉卷", "羊肉", "lamb", "mutton", "lamb slices"), tags=("火锅",))
food(M, "鸭腿", "Duck Legs", 29.9, "山东", "1kg", "冷冻12个月", "冷冻", kind="禽肉", aliases=("duck legs", "鸭肉"), tags=("性价比",))

S = "seafood"
food(S, "挪威三文鱼", "Norwegian Salmon", 168, "挪威", "500g 中段刺身级", "冷藏3天", "冷藏", kind="鱼", aliases=("三文鱼", "salmon", "norway salmon", "三文鱼刺身", "大西洋鲑", "冰鲜三文鱼", "挪威冰鲜三文鱼"), tags=("进口", "刺身", "送礼", "健身"))
food(S, "厄瓜多尔白虾", "Ecuadorian White Shrimp", 99, "厄瓜多尔", "1.65kg（40-50只/kg）", "冷冻12个月", "冷冻", kind="虾蟹贝", aliases=("白虾", "大虾", "white shrimp", "prawns"), tags=("进口", "家庭"), variants=True)
food(S, "阳澄湖大闸蟹", "Yangcheng Lake Hairy Crabs", 398, "江苏阳澄湖", "8只装（公4两母3两）", "鲜活3天", "冷藏", kind="虾蟹贝", aliases=("大闸蟹", "螃蟹", "hairy crab", "crab"), tags=("送礼", "时令"), season="9月-11月")
food(S, "鲜活鲈鱼", "Live Sea Bass", 39.9, "广东", "1条约600g", "冷藏1天", "冷藏", kind="鱼", aliases=("鲈鱼", "sea bass", "bass"), tags=("清蒸", "新鲜"))
food(S, "鲜活基围虾", "Live Greasyback Shrimp", 59.9, "广东湛江", "500g", "冷藏1天", "冷藏", kind="虾蟹贝", aliases=("基围虾", "活虾", "shrimp"), tags=("新鲜",))
food(S, "舟山带鱼", "Zhoushan Hairtail", 69.9, "浙江舟山", "1kg 中段", "冷冻12个月", "冷冻", kind="鱼", aliases=("带鱼", "hairtail", "ribbonfish"), tags=("家常",))
food(S, "獐子岛扇贝", "Scallops", 79.9, "辽宁大连", "1kg", "冷冻12个月", "冷冻", kind="虾蟹贝", aliases=("扇贝", "scallop", "scallops"), tags=("烧烤",))
food(S, "花蛤", "Manila Clams", 19.9, "福建", "500g", "鲜活1天", "冷藏", kind="虾蟹贝", aliases=("蛤蜊", "花甲", "clams"), tags=("家常",))
food(S, "鱿鱼", "Squid", 39.9, "福建", "500g", "冷冻12个月", "冷冻", kind="鱼", aliases=("squid", "鱿鱼须"), tags=("烧烤",))
food(S, "盱眙小龙虾", "Xuyi Crayfish", 99, "江苏盱眙", "1.5kg（4-6钱）", "鲜活1天", "冷藏", kind="虾蟹贝", aliases=("小龙虾", "crayfish", "麻小"), tags=("夏季", "夜宵"), season="5月-9月")
food(S, "银鳕鱼", "Black Cod", 158, "智利", "400g", "冷冻18个月", "冷冻", kind="鱼", aliases=("鳕鱼", "cod", "black cod"), tags=("进口", "宝宝辅食"))
food(S, "淡干海带", "Dried Kelp", 15.9, "山东荣成", "250g", "12个月", "常温", kind="海藻", aliases=("海带", "kelp", "seaweed"), tags=("炖汤", "性价比"))
food(S, "鲜活草鱼", "Live Grass Carp", 29.9, "湖北", "1条约1.5kg", "冷藏1天", "冷藏", kind="鱼", aliases=("草鱼", "grass carp"), tags=("家常", "性价比"))

D = "dairy"
food(D, "蒙牛纯牛奶", "Mengniu Pure Milk", 49.9, "内蒙古", "250ml×24盒", "6个月", "常温", kind="牛奶", brand="蒙牛", aliases=("蒙牛牛奶", "mengniu milk", "mengniu pure milk"), tags=("早餐", "家庭", "性价比"), variants=True, protein="3.2g/100ml")
food(D, "伊利纯牛奶", "Yili Pure Milk", 52.9, "内蒙古", "250ml×24盒", "6个月", "常温", kind="牛奶", brand="伊利", aliases=("伊利牛奶", "yili milk"), tags=("早餐", "家庭"), variants=True, protein="3.2g/100ml")
food(D, "特仑苏纯牛奶", "Deluxe Pure Milk", 65, "内蒙古", "250ml×12盒", "6个月", "常温", kind="牛奶", brand="蒙牛", aliases=("特仑苏", "telunsu"), tags=("送礼", "高蛋白"), protein="3.6g/100ml")
food(D, "金典有机纯牛奶", "Satine Organic Milk", 69.9, "内蒙古", "250ml×12盒", "6个月", "常温", kind="牛奶", brand="伊利", aliases=("金典", "金典有机奶", "satine"), tags=("送礼", "有机"), protein="3.8g/100ml")
food(D, "光明优倍鲜牛奶", "Bright Youbei Fresh Milk", 15.9, "上海", "950ml", "15天", "冷藏", kind="牛奶", brand="光明", aliases=("光明鲜奶", "鲜牛奶", "bright fresh milk"), tags=("新鲜", "早餐"))
food(D, "伊利安慕希希腊风味酸奶", "Yili Ambpoial Greek Yogurt", 59.9, "内蒙古", "205g×12瓶", "5个月", "常温", kind="酸奶", brand="伊利", aliases=("安慕希", "ambpoial", "安慕希酸奶"), tags=("早餐", "送礼"), variants=True)
food(D, "君乐宝简醇酸奶", "Junlebao Jianchun Yogurt", 39.9, "河北", "150g×10袋", "21天", "冷藏", kind="酸奶", brand="君乐宝", aliases=("简醇", "零蔗糖酸奶"), tags=("低糖", "健身"))
food(D, "蒙牛真果粒", "Mengniu Fruit Yogurt Drink", 45.9, "内蒙古", "250g×12盒", "6个月", "常温", kind="酸奶", brand="蒙牛", aliases=("真果粒",), tags=("早餐",))
food(D, "安佳黄油", "Anchor Butter", 39.9, "新西兰", "454g", "12个月", "冷藏", kind="奶酪黄油", brand="安佳", aliases=("黄油", "butter", "anchor butter"), tags=("烘焙", "进口"))
food(D, "妙可蓝多奶酪棒", "Milkground Cheese Sticks", 49.9, "上海", "20g×25支", "6个月", "冷藏", kind="奶酪黄油", brand="妙可蓝多", aliases=("奶酪棒", "cheese sticks"), tags=("儿童", "零食"))
food(D, "养乐多", "Yakult", 25.9, "广东", "100ml×10瓶", "21天", "冷藏", kind="酸奶", brand="养乐多", aliases=("yakult", "益生菌饮品"), tags=("益生菌",))
food(D, "卡士鲜酪乳", "CLASSY.KISS Yogurt", 35.9, "广东", "120g×6杯", "21天", "冷藏", kind="酸奶", brand="卡士", aliases=("卡士酸奶", "classy kiss"), tags=("高端",))

DR = "drinks"
food(DR, "农夫山泉", "Nongfu Spring Water", 29.9, "浙江千岛湖", "550ml×24瓶", "24个月", kind="饮用水", brand="农夫山泉", aliases=("农夫山泉饮用天然水", "nongfu spring", "矿泉水", "nongfu water"), tags=("家庭", "性价比", "出行"), variants=True)
food(DR, "怡宝纯净水", "C'estbon Purified Water", 27.9, "广东", "555ml×24瓶", "24个月", kind="饮用水", brand="怡宝", aliases=("怡宝", "cestbon", "纯净水"), tags=("家庭", "性价比"), variants=True)
food(DR, "可口可乐", "Coca-Cola", 45.9, "中国", "330ml×24罐", "12个月", kind="软饮料", brand="可口可乐", aliases=("可乐", "coke", "coca cola"), tags=("聚会",), variants=True)
food(DR, "百事可乐", "Pepsi", 43.9, "中国", "330ml×24罐", "12个月", kind="软饮料", brand="百事", aliases=("pepsi", "百事"), tags=("聚会",))
food(DR, "元气森林苏打气泡水", "Genki Forest Sparkling Water", 59.9, "中国", "480ml×15瓶", "9个月", kind="软饮料", brand="元气森林", aliases=("元气森林", "气泡水", "genki forest", "sparkling water"), tags=("0糖", "健身"))
food(DR, "红牛维生素功能饮料", "Red Bull", 119, "中国", "250ml×24罐", "18个月", kind="软饮料", brand="红牛", aliases=("红牛", "red bull"), tags=("提神",))
food(DR, "王老吉凉茶", "Wong Lo Kat Herbal Tea", 55.9, "广东", "310ml×24罐", "24个月", kind="软饮料", brand="王老吉", aliases=("王老吉", "凉茶", "wanglaoji"), tags=("火锅", "聚会"))
food(DR, "东方树叶乌龙茶", "Oriental Leaf Oolong Tea Drink", 59.9, "中国", "500ml×15瓶", "12个月", kind="软饮料", brand="农夫山泉", aliases=("东方树叶", "无糖茶"), tags=("0糖",))
food(DR, "青岛啤酒经典", "Tsingtao Classic Beer", 69.9, "山东青岛", "500ml×12罐", "12个月", kind="酒", brand="青岛啤酒", aliases=("青岛啤酒", "tsingtao", "啤酒", "beer"), tags=("聚会", "烧烤"), variants=True, abv="4.3%vol")
food(DR, "雪花啤酒勇闯天涯", "Snow Beer Brave the World", 45.9, "中国", "500ml×12罐", "12个月", kind="酒", brand="雪花", aliases=("雪花啤酒", "snow beer"), tags=("聚会",), abv="3.6%vol")
food(DR, "飞天茅台53度", "Kweichow Moutai 53%", 2999, "贵州茅台镇", "500ml", "长期", kind="酒", brand="贵州茅台", aliases=("茅台", "moutai", "飞天茅台"), tags=("送礼", "高端"), abv="53%vol")
food(DR, "五粮液第八代", "Wuliangye (8th Gen)", 1299, "四川宜宾", "500ml", "长期", kind="酒", brand="五粮液", aliases=("五粮液", "wuliangye"), tags=("送礼", "高端"), abv="52%vol")
food(DR, "张裕解百纳干红", "Changyu Cabernet Dry Red", 128, "山东烟台", "750ml", "10年", kind="酒", brand="张裕", aliases=("张裕干红", "红酒", "葡萄酒", "red wine", "changyu"), tags=("送礼",), abv="12%vol")
food(DR, "椰树椰汁", "Coconut Palm Coconut Juice", 49.9, "海南", "245ml×24罐", "18个月", kind="软饮料", brand="椰树", aliases=("椰汁", "coconut juice", "椰树"), tags=("聚会",))
food(DR, "汇源100%橙汁", "Huiyuan 100% Orange Juice", 29.9, "中国", "1L×2盒", "12个月", kind="软饮料", brand="汇源", aliases=("汇源果汁", "橙汁", "orange juice"), tags=("早餐",))
food(DR, "脉动维生素饮料", "Mizone", 49.9, "中国", "600ml×15瓶", "12个月", kind="软饮料", brand="脉动", aliases=("脉动", "mizone"), tags=("运动",))

C = "coffee"
food(C, "云南小粒咖啡豆", "Yunnan Arabica Coffee Beans", 68, "云南普洱", "500g", "12个月", "阴凉避光", kind="咖啡豆", aliases=("云南咖啡豆", "小粒咖啡", "yunnan coffee", "yunnan coffee beans", "云南小粒咖啡"), tags=("国产", "性价比"), variants=True, roast="中度烘焙", flavor="坚果、焦糖、柔和酸质", variety="卡蒂姆")
food(C, "埃塞俄比亚耶加雪菲咖啡豆", "Ethiopia Yirgacheffe Coffee Beans", 98, "埃塞俄比亚", "227g", "12个月", "阴凉避光", kind="咖啡豆", aliases=("耶加雪菲", "yirgacheffe", "耶加"), tags=("精品", "送礼"), roast="浅度烘焙", flavor="柑橘、茉莉花香、明亮酸质", variety="原生种")
food(C, "哥伦比亚咖啡豆", "Colombia Supremo Coffee Beans", 78, "哥伦比亚", "454g", "12个月", "阴凉避光", kind="咖啡豆", aliases=("哥伦比亚", "colombia coffee"), tags=("均衡",), roast="中度烘焙", flavor="焦糖、坚果、平衡", variety="卡杜拉")
food(C, "巴西喜拉多咖啡豆", "Brazil Cerrado Coffee Beans", 58, "巴西", "500g", "12个月", "阴凉避光", kind="咖啡豆", aliases=("巴西咖啡豆", "brazil coffee"), tags=("性价比",), roast="中深烘焙", flavor="可可、坚果、低酸", variety="波旁")
food(C, "印尼曼特宁咖啡豆", "Sumatra Mandheling Coffee Beans", 88, "印度尼西亚苏门答腊", "454g", "12个月", "阴凉避光", kind="咖啡豆", aliases=("曼特宁", "mandheling"), tags=("醇厚",), roast="深度烘焙", flavor="草本、黑巧克力、醇厚", variety="阿拉比卡")
food(C, "牙买加蓝山咖啡豆", "Jamaica Blue Mountain Coffee Beans", 398, "牙买加", "227g", "12个月", "阴凉避光", kind="咖啡豆", aliases=("蓝山咖啡", "blue mountain"), tags=("送礼", "高端"), roast="中度烘焙", flavor="均衡、花香、顺滑", variety="铁皮卡")
food(C, "星巴克家享浓缩烘焙咖啡豆", "Starbucks Espresso Roast Beans", 118, "拉丁美洲/亚太拼配", "450g", "12个月", "阴凉避光", kind="咖啡豆", brand="星巴克", aliases=("星巴克咖啡豆", "starbucks beans", "starbucks espresso roast"), tags=("送礼",), roast="深度烘焙", flavor="焦糖、浓郁", variety="拼配")
food(C, "意式拼配咖啡豆", "Espresso Blend Coffee Beans", 69, "巴西/哥伦比亚拼配", "1kg", "12个月", "阴凉避光", kind="咖啡豆", aliases=("意式咖啡豆", "espresso blend"), tags=("拿铁", "性价比"), roast="深度烘焙", flavor="黑巧克力、坚果、油脂丰富", variety="拼配")
food(C, "雀巢速溶咖啡1+2", "Nescafe 1+2 Instant Coffee", 39.9, "中国", "15g×30条", "18个月", kind="速溶咖啡", brand="雀巢", aliases=("雀巢咖啡", "nescafe", "速溶咖啡"), tags=("提神", "性价比"), roast="中度烘焙")
food(C, "三顿半超即溶咖啡", "Saturnbird Instant Coffee", 119, "中国", "3g×24颗", "18个月", kind="速溶咖啡", brand="三顿半", aliases=("三顿半", "saturnbird"), tags=("精品", "送礼"), roast="多种烘焙度")
food(C, "瑞幸冻干咖啡", "Luckin Freeze-dried Coffee", 69, "中国", "2g×24颗", "18个月", kind="速溶咖啡", brand="瑞幸", aliases=("瑞幸", "luckin", "luckin coffee"), tags=("提神",), roast="中深烘焙")
food(C, "隅田川挂耳咖啡", "Sumida River Drip Coffee", 49.9, "日本工艺/中国灌装", "10g×24片", "12个月", kind="速溶咖啡", brand="隅田川", aliases=("挂耳咖啡", "隅田川", "drip bag coffee"), tags=("办公",), roast="中度烘焙")
food(C, "麦斯威尔特浓咖啡", "Maxwell House Extra Strong", 35.9, "中国", "13g×30条", "18个月", kind="速溶咖啡", brand="麦斯威尔", aliases=("麦斯威尔", "maxwell house"), tags=("提神",), roast="深度烘焙")

SN = "snacks"
food(SN, "三只松鼠每日坚果", "Three Squirrels Daily Nuts", 79.9, "安徽芜湖", "25g×30袋", "6个月", kind="坚果", brand="三只松鼠", aliases=("三只松鼠坚果", "每日坚果", "three squirrels nuts", "daily nuts"), tags=("送礼", "健康", "办公"), variants=True)
food(SN, "三只松鼠夏威夷果", "Three Squirrels Macadamia Nuts", 39.9, "安徽芜湖", "500g", "8个月", kind="坚果", brand="三只松鼠", aliases=("夏威夷果", "macadamia"), tags=("坚果",))
food(SN, "良品铺子猪肉脯", "Bestore Pork Jerky", 29.9, "湖北武汉", "200g", "9个月", brand="良品铺子", aliases=("猪肉脯", "肉脯", "pork jerky"), tags=("办公", "追剧"))
food(SN, "卫龙大面筋辣条", "Weilong Latiao", 19.9, "河南漯河", "106g×6包", "6个月", brand="卫龙", aliases=("辣条", "卫龙", "latiao"), tags=("追剧", "辣"))
food(SN, "乐事原味薯片", "Lay's Classic Potato Chips", 9.9, "中国", "135g", "9个月", brand="乐事", aliases=("乐事", "薯片", "lays", "potato chips"), tags=("追剧", "聚会"), variants=True)
food(SN, "奥利奥夹心饼干", "Oreo Cookies", 15.9, "中国", "388g", "12个月", brand="奥利奥", aliases=("奥利奥", "oreo"), tags=("儿童",))
food(SN, "旺旺雪饼", "Want Want Snow Rice Crackers", 19.9, "中国", "520g", "9个月", brand="旺旺", aliases=("雪饼", "want want"), tags=("儿童", "怀旧"))
food(SN, "百草味芒果干", "Be&Cheery Dried Mango", 25.9, "中国", "500g", "12个月", brand="百草味", aliases=("芒果干", "dried mango"), tags=("果干",))
food(SN, "好丽友派", "Orion Choco Pie", 29.9, "中国", "12枚装", "9个月", brand="好丽友", aliases=("好丽友", "choco pie", "巧克力派"), tags=("早餐",))
food(SN, "德芙丝滑牛奶巧克力", "Dove Milk Chocolate", 39.9, "中国", "252g", "12个月", brand="德芙", aliases=("德芙", "dove chocolate", "巧克力", "chocolate"), tags=("送礼", "情人节"))
food(SN, "费列罗榛果巧克力", "Ferrero Rocher", 89, "意大利", "30粒礼盒", "12个月", brand="费列罗", aliases=("费列罗", "ferrero rocher", "ferrero"), tags=("送礼", "进口"))
food(SN, "洽洽香瓜子", "ChaCha Sunflower Seeds", 12.9, "安徽合肥", "308g", "8个月", brand="洽洽", aliases=("洽洽瓜子", "瓜子", "sunflower seeds"), tags=("追剧", "年货"))
food(SN, "徐福记酥心糖", "Hsu Fu Chi Crispy Candy", 35.9, "广东东莞", "500g", "12个月", brand="徐福记", aliases=("徐福记", "酥心糖", "糖果", "candy"), tags=("年货", "喜糖"))

G = "grain"
food(G, "五常大米", "Wuchang Rice", 69.9, "黑龙江五常", "5kg", "12个月", "阴凉干燥", kind="大米", aliases=("五常稻花香", "稻花香大米", "wuchang rice", "东北大米"), tags=("家庭", "送礼"), variants=True)
food(G, "泰国茉莉香米", "Thai Jasmine Rice", 59.9, "泰国", "5kg", "12个月", "阴凉干燥", kind="大米", aliases=("泰国香米", "jasmine rice", "thai rice"), tags=("进口",))
food(G, "东北珍珠米", "Northeast Pearl Rice", 39.9, "黑龙江", "5kg", "12个月", "阴凉干燥", kind="大米", aliases=("珍珠米", "大米", "rice", "pearl rice"), tags=("家庭", "性价比"), variants=True)
food(G, "金龙鱼黄金比例食用调和油", "Arawana Blended Cooking Oil", 79.9, "中国", "5L", "18个月", "阴凉避光", kind="食用油", brand="金龙鱼", aliases=("金龙鱼", "金龙鱼调和油", "arawana", "arawana oil", "调和油"), tags=("家庭",), variants=True)
food(G, "鲁花5S压榨花生油", "Luhua Peanut Oil", 149.9, "山东", "5L", "18个月", "阴凉避光", kind="食用油", brand="鲁花", aliases=("鲁花花生油", "花生油", "luhua", "peanut oil"), tags=("送礼", "家庭"))
food(G, "福临门非转基因大豆油", "Fulinmen Soybean Oil", 69.9, "中国", "5L", "18个月", "阴凉避光", kind="食用油", brand="福临门", aliases=("福临门", "大豆油", "soybean oil"), tags=("性价比",))
food(G, "金龙鱼高筋麦芯粉", "Arawana High-gluten Flour", 32.9, "中国", "2.5kg", "12个月", "阴凉干燥", kind="面粉面条", brand="金龙鱼", aliases=("面粉", "高筋面粉", "flour", "bread flour"), tags=("烘焙", "面食"))
food(G, "陈克明鸡蛋挂面", "Chenkeming Egg Noodles", 19.9, "湖南", "1kg", "12个月", "阴凉干燥", kind="面粉面条", brand="陈克明", aliases=("挂面", "面条", "noodles", "鸡蛋面"), tags=("家常", "性价比"))
food(G, "百味来意大利面", "Barilla Spaghetti", 19.9, "意大利", "500g", "24个月", "阴凉干燥", kind="面粉面条", brand="百味来", aliases=("意大利面", "意面", "spaghetti", "pasta", "barilla"), tags=("进口", "西餐"))
food(G, "山西黄小米", "Shanxi Millet", 25.9, "山西", "2.5kg", "12个月", "阴凉干燥", aliases=("小米", "黄小米", "millet"), tags=("养胃", "煮粥"))
food(G, "桂格即食燕麦片", "Quaker Instant Oats", 39.9, "中国", "1kg", "18个月", "阴凉干燥", brand="桂格", aliases=("燕麦片", "燕麦", "oatmeal", "oats", "quaker"), tags=("早餐", "健身"))
food(G, "东北红小豆", "Red Adzuki Beans", 15.9, "黑龙江", "1kg", "12个月", "阴凉干燥", aliases=("红豆", "红小豆", "red beans"), tags=("煮粥",))
food(G, "绿豆", "Mung Beans", 14.9, "吉林", "1kg", "12个月", "阴凉干燥", aliases=("mung beans",), tags=("解暑", "煮粥"))
food(G, "湾仔码头糯米粉", "Glutinous Rice Flour", 12.9, "中国", "500g", "12个月", "阴凉干燥", aliases=("糯米粉", "glutinous rice flour"), tags=("汤圆",))


def item(cat: str, zh: str, en: str, price: float, **kw: Any) -> None:
    """A non-food product (household, care, baby): specs go in keyword attributes."""
    P(cat, zh, en, price, **kw)


H = "household"
item(H, "维达超韧抽纸", "Vinda Facial Tissue", 39.9, kind="纸品", brand="维达", aliases=("维达抽纸", "抽纸", "vinda", "facial tissue", "纸巾"), tags=("家庭", "性价比"), variants=True, spec="3层100抽×24包")
item(H, "清风原木卷纸", "Breeze Toilet Roll", 45.9, kind="纸品", brand="清风", aliases=("卷纸", "卫生纸", "toilet paper", "清风"), tags=("家庭",), spec="4层140g×27卷")
item(H, "妙洁保鲜膜", "Miaojie Cling Film", 15.9, brand="妙洁", aliases=("保鲜膜", "cling film", "plastic wrap"), tags=("厨房",), spec="30cm×60m")
item(H, "加厚垃圾袋", "Heavy-duty Trash Bags", 19.9, aliases=("垃圾袋", "trash bags", "garbage bags"), tags=("性价比",), spec="45×50cm 150只")
item(H, "厨房用纸", "Kitchen Paper Towels", 19.9, kind="纸品", brand="维达", aliases=("厨房纸", "吸油纸", "kitchen paper"), tags=("厨房",), spec="75节×4卷")
item(H, "一次性手套", "Disposable Gloves", 9.9, aliases=("手套", "disposable gloves"), tags=("厨房",), spec="PE材质 200只")
item(H, "南孚5号电池", "Nanfu AA Batteries", 29.9, brand="南孚", aliases=("南孚电池", "5号电池", "电池", "aa batteries", "batteries"), tags=("家庭",), spec="碱性 12粒")
item(H, "不锈钢晾衣架", "Stainless Clothes Hangers", 39.9, aliases=("衣架", "晾衣架", "hangers"), tags=("家居",), spec="20个装")
item(H, "塑料收纳箱", "Storage Box", 49.9, aliases=("收纳箱", "收纳盒", "storage box"), tags=("家居",), spec="50L 带滑轮")
item(H, "洗碗海绵百洁布", "Dish Sponges", 9.9, aliases=("百洁布", "洗碗海绵", "sponge"), tags=("厨房", "性价比"), spec="10片装")
item(H, "乐扣乐扣保鲜盒", "Lock&Lock Food Containers", 69.9, brand="乐扣乐扣", aliases=("保鲜盒", "lock and lock", "food containers"), tags=("厨房", "送礼"), spec="玻璃 4件套")

CA = "care"
item(CA, "蓝月亮深层洁净洗衣液", "Blue Moon Laundry Detergent", 59.9, brand="蓝月亮", aliases=("蓝月亮", "洗衣液", "laundry detergent", "blue moon"), tags=("家庭",), variants=True, spec="3kg×2瓶", scent="薰衣草")
item(CA, "立白洗洁精", "Liby Dish Soap", 19.9, brand="立白", aliases=("洗洁精", "liby", "dish soap"), tags=("厨房", "性价比"), spec="1.45kg×2瓶")
item(CA, "舒肤佳香皂", "Safeguard Soap", 24.9, brand="舒肤佳", aliases=("香皂", "肥皂", "safeguard", "soap"), tags=("家庭",), spec="108g×6块", scent="纯白清香")
item(CA, "海飞丝去屑洗发水", "Head & Shoulders Shampoo", 69.9, brand="海飞丝", aliases=("海飞丝", "洗发水", "head and shoulders", "shampoo"), tags=("去屑",), spec="750ml")
item(CA, "佳洁士美白牙膏", "Crest Whitening Toothpaste", 29.9, brand="佳洁士", aliases=("佳洁士", "crest", "牙膏"), tags=("美白",), spec="180g×3支")
item(CA, "高露洁全效牙膏", "Colgate Total Toothpaste", 32.9, brand="高露洁", aliases=("高露洁", "colgate", "toothpaste"), tags=("防蛀",), spec="180g×3支")
item(CA, "云南白药牙膏", "Yunnan Baiyao Toothpaste", 49.9, brand="云南白药", aliases=("云南白药",), tags=("护龈",), spec="180g×2支")
item(CA, "飘柔洗发水", "Rejoice Shampoo", 39.9, brand="飘柔", aliases=("飘柔", "rejoice"), tags=("性价比",), spec="750ml")
item(CA, "滴露消毒液", "Dettol Disinfectant", 49.9, brand="滴露", aliases=("滴露", "消毒液", "dettol", "disinfectant"), tags=("家庭", "除菌"), spec="1.8L")
item(CA, "威露士洗手液", "Walch Hand Wash", 29.9, brand="威露士", aliases=("洗手液", "hand wash", "walch"), tags=("除菌",), spec="525ml×2瓶")
item(CA, "奥妙洗衣粉", "OMO Washing Powder", 35.9, brand="奥妙", aliases=("洗衣粉", "omo", "washing powder"), tags=("性价比",), spec="3kg")
item(CA, "黑人牙刷", "Darlie Toothbrush", 19.9, brand="好来", aliases=("牙刷", "toothbrush", "darlie"), tags=("家庭",), spec="软毛 4支")
item(CA, "妮维雅男士洗面奶", "Nivea Men Face Wash", 45.9, brand="妮维雅", aliases=("妮维雅", "洗面奶", "nivea", "face wash"), tags=("男士",), spec="150g")
item(CA, "大宝SOD蜜", "Dabao SOD Lotion", 19.9, brand="大宝", aliases=("大宝", "护肤霜", "lotion"), tags=("性价比", "国货"), spec="200ml")

B = "baby"
item(B, "飞鹤星飞帆幼儿配方奶粉3段", "Feihe Astrobaby Formula Stage 3", 258, kind="奶粉", brand="飞鹤", aliases=("飞鹤奶粉", "星飞帆", "feihe", "feihe formula"), tags=("国产",), spec="700g", age="1-3岁")
item(B, "惠氏启赋有机奶粉3段", "Wyeth Illuma Organic Stage 3", 368, kind="奶粉", brand="惠氏", aliases=("惠氏奶粉", "启赋", "wyeth", "illuma"), tags=("进口", "有机"), spec="810g", age="1-3岁")
item(B, "美赞臣蓝臻奶粉3段", "Enfamil Enspire Stage 3", 338, kind="奶粉", brand="美赞臣", aliases=("美赞臣", "蓝臻", "enfamil", "mead johnson"), tags=("进口",), spec="800g", age="1-3岁")
item(B, "爱他美卓萃奶粉3段", "Aptamil ProFutura Stage 3", 348, kind="奶粉", brand="爱他美", aliases=("爱他美", "aptamil"), tags=("进口",), spec="900g", age="1-3岁")
item(B, "帮宝适一级帮纸尿裤", "Pampers Premium Diapers", 159, kind="纸尿裤", brand="帮宝适", aliases=("帮宝适", "pampers"), tags=("透气",), variants=True, spec="L码 68片", size="L（9-14kg）")
item(B, "花王妙而舒纸尿裤", "Merries Diapers", 139, kind="纸尿裤", brand="花王", aliases=("花王纸尿裤", "merries", "花王"), tags=("进口", "透气"), spec="M码 64片", size="M（6-11kg）")
item(B, "好奇金装纸尿裤", "Huggies Gold Diapers", 119, kind="纸尿裤", brand="好奇", aliases=("好奇", "huggies"), tags=("性价比",), spec="L码 72片", size="L（9-14kg）")
item(B, "亨氏婴儿营养米粉", "Heinz Baby Rice Cereal", 45.9, brand="亨氏", aliases=("婴儿米粉", "米粉", "heinz rice cereal"), tags=("辅食",), spec="400g", age="6个月以上")
item(B, "全棉时代婴儿湿巾", "Purcotton Baby Wipes", 59.9, brand="全棉时代", aliases=("婴儿湿巾", "湿巾", "baby wipes", "purcotton"), tags=("温和",), spec="80抽×6包")
item(B, "宝宝营养面条", "Baby Noodles", 29.9, aliases=("宝宝面条", "婴儿面条", "baby noodles"), tags=("辅食",), spec="200g×2盒", age="8个月以上")
item(B, "贝亲奶瓶", "Pigeon Baby Bottle", 99, brand="贝亲", aliases=("奶瓶", "pigeon", "baby bottle"), tags=("新生儿",), spec="宽口径玻璃 240ml")

T = "tea"
food(T, "西湖龙井", "West Lake Longjing Tea", 298, "浙江杭州", "250g", "18个月", "密封冷藏", kind="绿茶", aliases=("龙井", "龙井茶", "longjing", "dragon well tea", "west lake longjing"), tags=("送礼", "明前"), variants=True)
food(T, "安溪铁观音", "Anxi Tieguanyin", 168, "福建安溪", "250g", "18个月", "密封", kind="乌龙茶", aliases=("铁观音", "tieguanyin"), tags=("送礼",))
food(T, "武夷山大红袍", "Wuyi Da Hong Pao", 238, "福建武夷山", "250g", "36个月", "密封", kind="乌龙茶", aliases=("大红袍", "da hong pao", "岩茶"), tags=("送礼",))
food(T, "云南普洱熟茶", "Yunnan Pu'er Tea (Ripe)", 158, "云南勐海", "357g饼", "长期", "通风干燥", kind="普洱茶", aliases=("普洱", "普洱茶", "puer", "pu'er", "pu-erh"), tags=("送礼", "收藏"))
food(T, "洞庭碧螺春", "Dongting Biluochun", 198, "江苏苏州", "250g", "18个月", "密封冷藏", kind="绿茶", aliases=("碧螺春", "biluochun"), tags=("送礼",))
food(T, "祁门红茶", "Keemun Black Tea", 128, "安徽祁门", "250g", "24个月", "密封", kind="红茶", aliases=("祁红", "keemun"), tags=("暖胃",))
food(T, "正山小种红茶", "Lapsang Souchong", 138, "福建武夷山", "250g", "24个月", "密封", kind="红茶", aliases=("正山小种", "lapsang souchong"), tags=("暖胃",))
food(T, "福鼎白茶白牡丹", "Fuding White Peony Tea", 188, "福建福鼎", "300g饼", "长期", "通风干燥", kind="白茶", aliases=("白茶", "白牡丹", "white tea", "white peony"), tags=("收藏",))
food(T, "茉莉花茶", "Jasmine Tea", 68, "广西横县", "250g", "18个月", "密封", kind="花茶", aliases=("花茶", "jasmine tea"), tags=("性价比",))
food(T, "黄山毛峰", "Huangshan Maofeng", 148, "安徽黄山", "250g", "18个月", "密封冷藏", kind="绿茶", aliases=("毛峰", "maofeng"), tags=("送礼",))
food(T, "信阳毛尖", "Xinyang Maojian", 128, "河南信阳", "250g", "18个月", "密封冷藏", kind="绿茶", aliases=("毛尖", "maojian"), tags=("性价比",))
food(T, "立顿黄牌精选红茶包", "Lipton Yellow Label Tea Bags", 29.9, "中国", "2g×100包", "24个月", kind="红茶", brand="立顿", aliases=("立顿", "lipton", "红茶包", "tea bags"), tags=("办公", "性价比"))

V = "vegetables"
for zh, en, price, origin, weight, aliases, tags in [
    ("西红柿", "Tomatoes", 9.9, "山东寿光", "1kg", ("番茄", "tomato", "tomatoes"), ("家常",)),
    ("黄瓜", "Cucumbers", 7.9, "山东寿光", "1kg", ("cucumber", "青瓜"), ("凉拌",)),
    ("土豆", "Potatoes", 5.9, "内蒙古", "2kg", ("马铃薯", "洋芋", "potato", "potatoes"), ("家常", "性价比")),
    ("胡萝卜", "Carrots", 5.9, "河北", "1kg", ("红萝卜", "carrot", "carrots"), ("护眼",)),
    ("青椒", "Green Peppers", 8.9, "山东", "500g", ("辣椒", "尖椒", "green pepper", "pepper"), ("家常",)),
    ("大白菜", "Napa Cabbage", 4.9, "山东", "1颗约2kg", ("白菜", "napa cabbage", "chinese cabbage"), ("性价比", "冬季")),
    ("西兰花", "Broccoli", 9.9, "云南", "500g", ("西蓝花", "broccoli"), ("健身",)),
    ("菠菜", "Spinach", 6.9, "河北", "500g", ("spinach",), ("补铁",)),
    ("生菜", "Lettuce", 5.9, "云南", "500g", ("lettuce", "球生菜"), ("沙拉",)),
    ("洋葱", "Onions", 4.9, "甘肃", "1kg", ("onion", "onions", "圆葱"), ("家常",)),
    ("大葱", "Scallions", 6.9, "山东章丘", "1kg", ("葱", "小葱", "scallion", "green onion"), ("调味",)),
    ("生姜", "Ginger", 9.9, "山东", "500g", ("姜", "ginger"), ("调味",)),
    ("大蒜", "Garlic", 8.9, "山东金乡", "500g", ("蒜", "蒜头", "garlic"), ("调味",)),
    ("鲜香菇", "Shiitake Mushrooms", 12.9, "河南", "500g", ("香菇", "shiitake", "mushrooms", "蘑菇"), ("炖汤",)),
    ("长茄子", "Eggplant", 7.9, "山东", "1kg", ("茄子", "eggplant", "aubergine"), ("家常",)),
    ("北豆腐", "Firm Tofu", 5.9, "北京", "400g", ("豆腐", "tofu"), ("家常", "素食")),
    ("甜玉米", "Sweet Corn", 12.9, "云南", "4根", ("玉米", "corn", "sweet corn"), ("早餐",)),
    ("西芹", "Celery", 6.9, "山东", "500g", ("芹菜", "celery"), ("减脂",)),
    ("韭菜", "Chinese Chives", 5.9, "山东", "500g", ("chives", "chinese chives"), ("饺子",)),
    ("冬瓜", "Winter Melon", 3.9, "广东", "1块约1.5kg", ("winter melon",), ("炖汤", "夏季")),
    ("贝贝南瓜", "Beibei Pumpkin", 19.9, "山东", "2.5kg", ("南瓜", "pumpkin"), ("早餐", "宝宝辅食")),
    ("莲藕", "Lotus Root", 12.9, "湖北", "1kg", ("藕", "lotus root"), ("炖汤",)),
    ("绿豆芽", "Mung Bean Sprouts", 3.9, "本地", "500g", ("豆芽", "bean sprouts"), ("性价比",)),
    ("山药", "Chinese Yam", 15.9, "河南焦作", "1kg", ("铁棍山药", "yam"), ("养胃",)),
]:
    food(V, zh, en, price, origin, weight, "冷藏3-7天", "冷藏", kind="蔬菜", aliases=aliases, tags=tags)

FR = "frozen"
food(FR, "思念猪肉白菜水饺", "Synear Pork & Cabbage Dumplings", 25.9, "河南郑州", "1kg（约54只）", "12个月", "冷冻", brand="思念", aliases=("思念水饺", "水饺", "饺子", "dumplings"), tags=("早餐", "家庭"), variants=True)
food(FR, "湾仔码头玉米猪肉水饺", "Wanchai Ferry Corn & Pork Dumplings", 35.9, "中国", "1.32kg", "12个月", "冷冻", brand="湾仔码头", aliases=("湾仔码头", "wanchai ferry"), tags=("家庭",))
food(FR, "三全黑芝麻汤圆", "Sanquan Black Sesame Tangyuan", 15.9, "河南郑州", "500g", "12个月", "冷冻", brand="三全", aliases=("汤圆", "元宵", "tangyuan", "sanquan"), tags=("节日",))
food(FR, "必品阁王饺子", "Bibigo Dumplings", 39.9, "中国", "840g", "12个月", "冷冻", brand="必品阁", aliases=("必品阁", "bibigo"), tags=("煎饺",))
food(FR, "正大鸡块", "CP Chicken Nuggets", 29.9, "中国", "1kg", "12个月", "冷冻", brand="正大", aliases=("鸡块", "chicken nuggets"), tags=("儿童", "空气炸锅"))
food(FR, "手抓饼", "Hand-pulled Pancakes", 19.9, "中国", "20片", "12个月", "冷冻", aliases=("手抓饼家庭装", "pancake"), tags=("早餐",))
food(FR, "梦龙香草冰淇淋", "Magnum Vanilla Ice Cream", 39.9, "中国", "4支装", "18个月", "冷冻", brand="梦龙", aliases=("梦龙", "magnum", "冰淇淋", "ice cream"), tags=("夏季",))
food(FR, "哈根达斯香草冰淇淋", "Haagen-Dazs Vanilla", 59, "法国", "392g", "18个月", "冷冻", brand="哈根达斯", aliases=("哈根达斯", "haagen dazs"), tags=("送礼", "夏季"))
food(FR, "麦肯冷冻薯条", "McCain Frozen Fries", 29.9, "中国", "1kg", "18个月", "冷冻", brand="麦肯", aliases=("薯条", "french fries", "fries"), tags=("空气炸锅",))
food(FR, "广州酒家虾饺", "Guangzhou Restaurant Har Gow", 32.9, "广东广州", "240g（12只）", "12个月", "冷冻", brand="广州酒家", aliases=("虾饺", "har gow"), tags=("早茶",))
food(FR, "速冻玉米粒", "Frozen Corn Kernels", 12.9, "中国", "500g", "12个月", "冷冻", aliases=("玉米粒", "corn kernels"), tags=("炒饭",))

SE = "seasoning"
for zh, en, price, weight, brand, aliases, tags in [
    ("海天金标生抽", "Haday Light Soy Sauce", 13.9, "1.28L", "海天", ("生抽", "酱油", "light soy sauce", "soy sauce", "海天酱油"), ("家常",)),
    ("海天老抽王", "Haday Dark Soy Sauce", 12.9, "500ml", "海天", ("老抽", "dark soy sauce"), ("红烧",)),
    ("恒顺镇江香醋", "Hengshun Zhenjiang Vinegar", 11.9, "500ml", "恒顺", ("香醋", "醋", "vinegar", "镇江香醋"), ("凉拌",)),
    ("王守义料酒", "Cooking Wine", 9.9, "500ml", "王守义", ("料酒", "cooking wine"), ("去腥",)),
    ("中盐精制盐", "Table Salt", 3.5, "400g", "中盐", ("盐", "食盐", "salt"), ("必备",)),
    ("太古白砂糖", "Taikoo White Sugar", 9.9, "1kg", "太古", ("白糖", "糖", "sugar", "白砂糖"), ("烘焙",)),
    ("李锦记蚝油", "Lee Kum Kee Oyster Sauce", 15.9, "510g", "李锦记", ("蚝油", "oyster sauce"), ("家常",)),
    ("丹丹郫县豆瓣酱", "Pixian Chili Bean Paste", 12.9, "500g", "丹丹", ("豆瓣酱", "郫县豆瓣", "doubanjiang", "chili bean paste"), ("川菜",)),
    ("老干妈风味豆豉", "Lao Gan Ma Chili Crisp", 10.9, "280g", "老干妈", ("老干妈", "lao gan ma", "辣椒酱", "chili sauce"), ("下饭",)),
    ("太太乐鸡精", "Totole Chicken Bouillon", 12.9, "454g", "太太乐", ("鸡精", "chicken bouillon"), ("提鲜",)),
    ("汉源花椒", "Sichuan Peppercorns", 19.9, "100g", "", ("花椒", "sichuan pepper", "peppercorns"), ("川菜",)),
    ("八角大料", "Star Anise", 9.9, "100g", "", ("八角", "大料", "star anise"), ("卤味",)),
    ("亨氏番茄酱", "Heinz Ketchup", 12.9, "369g", "亨氏", ("番茄酱", "ketchup"), ("儿童",)),
    ("鲁花芝麻香油", "Luhua Sesame Oil", 19.9, "160ml", "鲁花", ("香油", "芝麻油", "sesame oil"), ("凉拌",)),
    ("黑胡椒粉", "Black Pepper", 15.9, "100g", "味好美", ("黑胡椒", "胡椒粉", "black pepper"), ("西餐",)),
    ("玉米淀粉", "Corn Starch", 6.9, "400g", "", ("淀粉", "生粉", "corn starch"), ("勾芡",)),
    ("冰糖", "Rock Sugar", 9.9, "500g", "", ("rock sugar",), ("红烧",)),
]:
    food(SE, zh, en, price, "中国", weight, "18-24个月", "阴凉", brand=brand, aliases=aliases, tags=tags)

BK = "bakery"
food(BK, "桃李醇熟切片面包", "Toly Sliced Bread", 12.9, "中国", "400g", "7天", brand="桃李", aliases=("切片面包", "吐司", "面包", "bread", "toast"), tags=("早餐",), variants=True)
food(BK, "曼可顿全麦面包", "Mankattan Whole Wheat Bread", 15.9, "中国", "400g", "7天", brand="曼可顿", aliases=("全麦面包", "whole wheat bread"), tags=("早餐", "健身"))
food(BK, "达利园法式小面包", "Daliyuan French Rolls", 25.9, "中国", "1kg", "60天", brand="达利园", aliases=("小面包", "达利园"), tags=("早餐", "办公"))
food(BK, "港荣蒸蛋糕", "Ganso Steamed Cake", 29.9, "中国", "900g", "60天", brand="港荣", aliases=("蒸蛋糕", "蛋糕", "cake"), tags=("早餐",))
food(BK, "北京稻香村糕点礼盒", "Daoxiangcun Pastry Gift Box", 128, "北京", "1.4kg", "45天", brand="稻香村", aliases=("稻香村", "糕点", "pastry gift box"), tags=("送礼", "年货"))
food(BK, "广州酒家双黄莲蓉月饼", "Guangzhou Restaurant Mooncakes", 168, "广东广州", "750g礼盒", "90天", brand="广州酒家", aliases=("月饼", "mooncake", "莲蓉月饼"), tags=("送礼", "中秋"))

# --------------------------------------------------------------------------------------
# Volume: seeded pack-size variants of some products (e.g. "家庭装"), marked by family_id.
# --------------------------------------------------------------------------------------
VARIANT_STYLES = [
    ("家庭装", "Family Pack", 2, 1.8),
    ("尝鲜装", "Trial Pack", 0.5, 0.6),
    ("整箱装", "Case", 4, 3.4),
    ("礼盒装", "Gift Box", 1.5, 1.9),
]

# --------------------------------------------------------------------------------------
# Promotions: hand-written for named items; others are seeded.
# --------------------------------------------------------------------------------------
PROMOTIONS: list[tuple[str, str, str, float | None, str, str]] = [
    # product, title, description, discount multiplier, start, end
    ("小米11 Ultra", "以旧换新", "以旧换新最高补贴500元，赠67W充电器", None, "2025-01-01", "2030-12-31"),
    ("iPhone 15", "限时直降", "限时直降800元，24期免息", 0.87, "2025-01-01", "2030-12-31"),
    ("华为Mate 60 Pro", "分期免息", "12期免息，赠碎屏险一年", None, "2025-01-01", "2030-12-31"),
    ("OPPO Ace2", "清仓特价", "清仓价2499元", 0.62, "2025-01-01", "2030-12-31"),
    ("vivo X60 Pro", "限时折扣", "限时9折", 0.9, "2025-01-01", "2030-12-31"),
    ("荣耀X50", "新品满减", "满1000减100", 0.93, "2025-01-01", "2030-12-31"),
    ("车厘子", "满减", "满199减30", None, "2025-01-01", "2030-12-31"),
    ("车厘子", "年货节", "年货节特价，第二件半价", 0.75, "2027-01-10", "2027-02-10"),
    ("蒙牛纯牛奶", "买二赠一", "买2箱赠1箱", 0.67, "2025-01-01", "2030-12-31"),
    ("伊利安慕希希腊风味酸奶", "第二件半价", "第二件半价", 0.75, "2025-01-01", "2030-12-31"),
    ("农夫山泉", "限时特价", "整箱限时8.8折", 0.88, "2025-01-01", "2030-12-31"),
    ("五常大米", "会员价", "会员专享价59.9元", 0.86, "2025-01-01", "2030-12-31"),
    ("挪威三文鱼", "周末特惠", "周末下单立减20元", None, "2025-01-01", "2030-12-31"),
    ("云南小粒咖啡豆", "买一送一", "买500g送挂耳咖啡10片", None, "2025-01-01", "2030-12-31"),
    ("三只松鼠每日坚果", "满减", "满99减20", None, "2025-01-01", "2030-12-31"),
    ("金龙鱼黄金比例食用调和油", "限时折扣", "限时85折", 0.85, "2025-01-01", "2030-12-31"),
    ("阳澄湖大闸蟹", "中秋预售", "中秋预售立减50元", None, "2026-08-01", "2026-09-30"),
    ("西湖龙井", "春茶上新", "明前新茶9折", 0.9, "2027-03-15", "2027-04-30"),
]
PROMO_TEMPLATES = [
    ("限时折扣", "限时{d}折", True),
    ("第二件半价", "第二件半价", False),
    ("满减", "满{a}减{b}", False),
    ("会员价", "会员专享{d}折", True),
]

# --------------------------------------------------------------------------------------
# Recipes: zh, en, aliases, cuisine, minutes, difficulty, ingredients [(product, amount)], steps
# --------------------------------------------------------------------------------------
R = tuple[str, str, tuple[str, ...], str, int, str, list[tuple[str, str]], list[str]]
RECIPES: list[R] = [
    ("西红柿炒鸡蛋", "Tomato and Egg Stir-fry", ("番茄炒蛋", "tomato egg"), "家常菜", 15, "简单",
     [("西红柿", "2个"), ("土鸡蛋", "3个"), ("大葱", "1根"), ("中盐精制盐", "适量"), ("太古白砂糖", "1小勺")],
     ["鸡蛋打散炒至凝固盛出", "西红柿切块炒出汁，加糖盐", "倒回鸡蛋翻炒，撒葱花出锅"]),
    ("红烧肉", "Red-braised Pork Belly", ("braised pork belly",), "家常菜", 90, "中等",
     [("黑猪五花肉", "500g"), ("冰糖", "30g"), ("海天老抽王", "1勺"), ("王守义料酒", "2勺"), ("生姜", "3片"), ("八角大料", "2个")],
     ["五花肉切块焯水", "小火炒糖色，下肉翻炒上色", "加料酒老抽姜八角和热水，小火炖1小时", "大火收汁"]),
    ("清蒸鲈鱼", "Steamed Sea Bass", ("steamed fish", "清蒸鱼"), "粤菜", 25, "简单",
     [("鲜活鲈鱼", "1条"), ("生姜", "5片"), ("大葱", "2根"), ("海天金标生抽", "2勺")],
     ["鲈鱼处理干净，两面划刀，铺姜片", "水开后蒸8分钟，倒掉汤汁", "铺葱丝，淋热油和生抽"]),
    ("可乐鸡翅", "Coca-Cola Chicken Wings", ("cola chicken wings",), "家常菜", 30, "简单",
     [("鸡翅中", "10个"), ("可口可乐", "1罐"), ("海天金标生抽", "2勺"), ("生姜", "3片")],
     ["鸡翅两面划刀焯水", "煎至两面金黄", "倒入可乐、生抽、姜片，中火收汁"]),
    ("宫保鸡丁", "Kung Pao Chicken", ("kung pao chicken", "宫爆鸡丁"), "川菜", 25, "中等",
     [("鸡胸肉", "300g"), ("汉源花椒", "1小把"), ("大葱", "1根"), ("恒顺镇江香醋", "1勺"), ("海天金标生抽", "1勺"), ("太古白砂糖", "1勺"), ("玉米淀粉", "1勺")],
     ["鸡肉切丁用生抽淀粉腌10分钟", "调碗汁：醋糖生抽淀粉水", "花椒干辣椒炒香，下鸡丁炒散", "加葱段和碗汁翻匀，可加花生"]),
    ("麻婆豆腐", "Mapo Tofu", ("mapo tofu",), "川菜", 20, "简单",
     [("北豆腐", "1块"), ("猪肉馅", "100g"), ("丹丹郫县豆瓣酱", "1勺"), ("汉源花椒", "少许"), ("大蒜", "3瓣"), ("玉米淀粉", "1勺")],
     ["豆腐切块，盐水焯一下", "肉末炒散，下豆瓣酱蒜末炒出红油", "加水放豆腐煮3分钟，勾芡", "撒花椒粉出锅"]),
    ("鱼香肉丝", "Yuxiang Shredded Pork", ("fish-flavored pork",), "川菜", 25, "中等",
     [("猪里脊", "250g"), ("胡萝卜", "1根"), ("青椒", "1个"), ("丹丹郫县豆瓣酱", "1勺"), ("恒顺镇江香醋", "1勺"), ("太古白砂糖", "1勺")],
     ["肉切丝上浆，胡萝卜青椒切丝", "调鱼香汁：醋糖生抽淀粉", "炒肉丝变色，下豆瓣酱炒香", "加蔬菜丝和鱼香汁翻炒"]),
    ("糖醋排骨", "Sweet and Sour Spare Ribs", ("sweet and sour ribs",), "浙菜", 50, "中等",
     [("猪肋排", "500g"), ("恒顺镇江香醋", "3勺"), ("太古白砂糖", "4勺"), ("海天金标生抽", "2勺"), ("王守义料酒", "1勺")],
     ["排骨焯水后煎至金黄", "按1料酒2生抽3醋4糖5水调汁", "倒入排骨小火炖30分钟", "大火收汁撒芝麻"]),
    ("土豆炖牛腩", "Beef Brisket Stew with Potatoes", ("土豆牛腩", "beef stew"), "家常菜", 120, "中等",
     [("牛腩", "500g"), ("土豆", "2个"), ("胡萝卜", "1根"), ("海天金标生抽", "2勺"), ("八角大料", "2个"), ("生姜", "3片")],
     ["牛腩切块冷水焯水", "炒香姜片八角，下牛腩加生抽翻炒", "加热水小火炖1.5小时", "加土豆胡萝卜再炖20分钟"]),
    ("酸辣土豆丝", "Hot and Sour Shredded Potatoes", ("土豆丝", "shredded potatoes"), "家常菜", 15, "简单",
     [("土豆", "2个"), ("青椒", "1个"), ("恒顺镇江香醋", "2勺"), ("中盐精制盐", "适量")],
     ["土豆切细丝泡水去淀粉", "热油爆香干辣椒", "大火快炒土豆丝和青椒丝", "沿锅边淋醋，加盐出锅"]),
    ("蒜蓉西兰花", "Garlic Broccoli", ("garlic broccoli",), "家常菜", 10, "简单",
     [("西兰花", "1颗"), ("大蒜", "5瓣"), ("李锦记蚝油", "1勺")],
     ["西兰花切小朵焯水1分钟", "蒜末炒香", "下西兰花加蚝油翻炒出锅"]),
    ("香煎三文鱼", "Pan-seared Salmon", ("煎三文鱼", "pan seared salmon"), "西餐", 20, "简单",
     [("挪威三文鱼", "300g"), ("安岳柠檬", "半个"), ("黑胡椒粉", "少许"), ("中盐精制盐", "少许"), ("安佳黄油", "10g")],
     ["三文鱼擦干，撒盐和黑胡椒", "黄油热锅，鱼皮朝下煎4分钟", "翻面再煎2分钟，挤柠檬汁"]),
    ("三文鱼刺身拼盘", "Salmon Sashimi Platter", ("salmon sashimi",), "日料", 15, "简单",
     [("挪威三文鱼", "300g"), ("安岳柠檬", "1个"), ("海天金标生抽", "少许")],
     ["三文鱼冷藏状态下逆纹切片", "摆盘配柠檬片", "蘸生抽（可加芥末）食用"]),
    ("白灼虾", "Poached Shrimp", ("boiled shrimp", "白灼基围虾"), "粤菜", 10, "简单",
     [("鲜活基围虾", "500g"), ("生姜", "3片"), ("大葱", "1根"), ("海天金标生抽", "2勺")],
     ["水中加姜片葱段料酒煮开", "下虾煮至变红卷曲约2分钟", "捞出，配姜葱生抽蘸料"]),
    ("油焖大虾", "Braised Prawns", ("braised prawns",), "鲁菜", 20, "简单",
     [("厄瓜多尔白虾", "500g"), ("大葱", "1根"), ("生姜", "3片"), ("太古白砂糖", "1勺"), ("亨氏番茄酱", "1勺")],
     ["虾剪去虾须挑虾线", "煎至两面变红压出虾油", "加葱姜、番茄酱、糖和少量水焖3分钟收汁"]),
    ("蒜蓉粉丝蒸扇贝", "Steamed Scallops with Garlic", ("蒜蓉扇贝", "garlic scallops"), "粤菜", 25, "简单",
     [("獐子岛扇贝", "12只"), ("大蒜", "1头"), ("海天金标生抽", "1勺")],
     ["扇贝洗净，粉丝泡软垫底", "炸蒜蓉加生抽铺在扇贝上", "上锅蒸6分钟，淋热油"]),
    ("辣炒花蛤", "Spicy Stir-fried Clams", ("炒花甲", "stir-fried clams"), "家常菜", 15, "简单",
     [("花蛤", "500g"), ("大蒜", "5瓣"), ("老干妈风味豆豉", "1勺"), ("王守义料酒", "1勺")],
     ["花蛤泡盐水吐沙", "爆香蒜末和老干妈", "下花蛤加料酒，大火炒至开口"]),
    ("麻辣小龙虾", "Spicy Crayfish", ("麻小", "spicy crayfish"), "湘菜", 45, "中等",
     [("盱眙小龙虾", "1.5kg"), ("丹丹郫县豆瓣酱", "2勺"), ("汉源花椒", "1把"), ("大蒜", "1头"), ("青岛啤酒经典", "1罐")],
     ["小龙虾刷洗干净，剪头去虾线", "炒香豆瓣酱、花椒、蒜", "下小龙虾翻炒，倒入啤酒焖15分钟", "大火收汁"]),
    ("红烧带鱼", "Braised Hairtail", ("braised hairtail",), "家常菜", 30, "简单",
     [("舟山带鱼", "500g"), ("海天金标生抽", "2勺"), ("恒顺镇江香醋", "1勺"), ("太古白砂糖", "1勺"), ("生姜", "3片")],
     ["带鱼切段拍薄粉煎至金黄", "加姜葱、生抽、醋、糖和水", "中火焖10分钟收汁"]),
    ("水煮鱼", "Sichuan Boiled Fish", ("boiled fish",), "川菜", 40, "中等",
     [("鲜活草鱼", "1条"), ("绿豆芽", "300g"), ("丹丹郫县豆瓣酱", "2勺"), ("汉源花椒", "1把"), ("玉米淀粉", "1勺")],
     ["鱼片用淀粉蛋清腌制", "豆芽烫熟垫底", "炒豆瓣酱加水煮开，下鱼片煮熟倒入碗中", "撒花椒辣椒，浇热油"]),
    ("番茄牛腩汤", "Tomato Beef Brisket Soup", ("tomato beef soup",), "家常菜", 120, "中等",
     [("牛腩", "500g"), ("西红柿", "3个"), ("洋葱", "半个"), ("亨氏番茄酱", "2勺")],
     ["牛腩焯水后炖1小时", "西红柿洋葱炒出沙加番茄酱", "倒入牛腩和汤再炖30分钟"]),
    ("黑椒牛排", "Black Pepper Steak", ("steak", "煎牛排"), "西餐", 20, "简单",
     [("澳洲西冷牛排", "2片"), ("黑胡椒粉", "适量"), ("安佳黄油", "20g"), ("大蒜", "3瓣")],
     ["牛排回温擦干，撒盐黑胡椒", "大火热锅每面煎2分钟", "加黄油蒜瓣淋油，静置5分钟切片"]),
    ("肥牛火锅", "Beef Hot Pot", ("火锅", "hot pot"), "火锅", 30, "简单",
     [("雪花肥牛卷", "500g"), ("羔羊肉卷", "500g"), ("大白菜", "半颗"), ("鲜香菇", "200g"), ("北豆腐", "1块"), ("王老吉凉茶", "6罐")],
     ["锅底煮开", "先下肉卷涮熟", "再下白菜、香菇、豆腐", "配凉茶解腻"]),
    ("清炖排骨汤", "Pork Rib Soup", ("排骨汤", "rib soup"), "家常菜", 90, "简单",
     [("猪肋排", "500g"), ("莲藕", "1节"), ("生姜", "3片"), ("中盐精制盐", "适量")],
     ["排骨冷水焯水", "加姜片和清水大火烧开转小火", "加藕块炖1小时，加盐调味"]),
    ("海带排骨汤", "Kelp and Rib Soup", ("kelp soup",), "家常菜", 90, "简单",
     [("猪肋排", "500g"), ("淡干海带", "50g"), ("生姜", "3片")],
     ["海带泡发切段", "排骨焯水后与姜片一起炖40分钟", "加海带再炖30分钟，加盐"]),
    ("冬瓜排骨汤", "Winter Melon Rib Soup", ("winter melon soup",), "粤菜", 80, "简单",
     [("猪肋排", "400g"), ("冬瓜", "500g"), ("生姜", "3片")],
     ["排骨焯水，冬瓜去皮切块", "排骨炖40分钟", "加冬瓜炖20分钟，加盐撒葱花"]),
    ("香菇炖鸡", "Chicken and Mushroom Stew", ("小鸡炖蘑菇", "chicken mushroom stew"), "东北菜", 60, "中等",
     [("三黄鸡", "半只"), ("鲜香菇", "200g"), ("生姜", "3片"), ("海天金标生抽", "2勺")],
     ["鸡肉切块焯水", "炒香姜片后下鸡块翻炒", "加生抽和水炖30分钟", "加香菇再炖15分钟"]),
    ("韭菜猪肉饺子", "Pork and Chive Dumplings", ("饺子", "dumplings", "包饺子"), "北方面食", 90, "中等",
     [("猪肉馅", "500g"), ("韭菜", "300g"), ("金龙鱼高筋麦芯粉", "500g"), ("海天金标生抽", "2勺"), ("鲁花芝麻香油", "1勺")],
     ["面粉加水揉成面团醒30分钟", "肉馅加生抽香油搅上劲，拌入韭菜", "擀皮包饺子", "水开下锅煮三次点水"]),
    ("葱油拌面", "Scallion Oil Noodles", ("scallion oil noodles",), "上海菜", 15, "简单",
     [("陈克明鸡蛋挂面", "200g"), ("大葱", "3根"), ("海天金标生抽", "2勺"), ("海天老抽王", "1勺"), ("太古白砂糖", "1勺")],
     ["小火熬葱油至葱段焦黄", "加生抽老抽糖熬成酱汁", "面条煮熟拌入葱油酱汁"]),
    ("番茄鸡蛋面", "Tomato Egg Noodles", ("西红柿鸡蛋面", "tomato egg noodles"), "家常菜", 15, "简单",
     [("陈克明鸡蛋挂面", "200g"), ("西红柿", "2个"), ("土鸡蛋", "2个")],
     ["西红柿炒出汁加水煮开", "淋入蛋液成蛋花", "下面条煮熟，加盐调味"]),
    ("扬州炒饭", "Yangzhou Fried Rice", ("蛋炒饭", "fried rice"), "淮扬菜", 15, "简单",
     [("东北珍珠米", "2碗米饭"), ("土鸡蛋", "2个"), ("速冻玉米粒", "50g"), ("胡萝卜", "半根"), ("大葱", "1根")],
     ["隔夜米饭打散", "鸡蛋炒散盛出", "炒胡萝卜丁玉米粒，下米饭炒匀", "加鸡蛋葱花和盐"]),
    ("意式肉酱面", "Spaghetti Bolognese", ("bolognese", "肉酱意面"), "西餐", 40, "中等",
     [("百味来意大利面", "250g"), ("猪肉馅", "200g"), ("西红柿", "2个"), ("洋葱", "1个"), ("亨氏番茄酱", "3勺")],
     ["洋葱末炒香，下肉末炒散", "加番茄丁和番茄酱小火煮20分钟", "意面煮8-10分钟，拌入肉酱"]),
    ("五常大米饭", "Steamed Wuchang Rice", ("米饭", "steamed rice"), "主食", 40, "简单",
     [("五常大米", "2杯")],
     ["大米淘洗两遍", "米水比例1:1.2浸泡20分钟", "电饭煲煮好焖10分钟"]),
    ("小米南瓜粥", "Millet and Pumpkin Porridge", ("南瓜粥", "millet porridge"), "粥品", 40, "简单",
     [("山西黄小米", "100g"), ("贝贝南瓜", "200g")],
     ["小米淘洗，南瓜切块", "水开下小米和南瓜", "小火煮30分钟至浓稠"]),
    ("红豆粥", "Red Bean Porridge", ("red bean porridge",), "粥品", 60, "简单",
     [("东北红小豆", "100g"), ("东北珍珠米", "50g"), ("冰糖", "适量")],
     ["红豆提前浸泡4小时", "与大米一起加水煮50分钟", "加冰糖调味"]),
    ("绿豆汤", "Mung Bean Soup", ("mung bean soup", "解暑汤"), "甜品", 40, "简单",
     [("绿豆", "150g"), ("冰糖", "适量")],
     ["绿豆洗净", "水开下绿豆煮至开花", "加冰糖，放凉更解暑"]),
    ("黑芝麻汤圆", "Black Sesame Tangyuan", ("煮汤圆", "tangyuan"), "甜品", 10, "简单",
     [("三全黑芝麻汤圆", "1袋")],
     ["水开下汤圆轻推防粘", "浮起后点两次凉水", "煮至汤圆胀大即可"]),
    ("牛油果吐司", "Avocado Toast", ("avocado toast",), "西式早餐", 10, "简单",
     [("牛油果", "1个"), ("桃李醇熟切片面包", "2片"), ("土鸡蛋", "1个"), ("黑胡椒粉", "少许")],
     ["吐司烤脆", "牛油果压泥加盐黑胡椒", "抹在吐司上，配煎蛋"]),
    ("燕麦酸奶杯", "Oat Yogurt Parfait", ("酸奶燕麦杯", "yogurt parfait"), "西式早餐", 5, "简单",
     [("桂格即食燕麦片", "40g"), ("伊利安慕希希腊风味酸奶", "1瓶"), ("蓝莓", "一小把"), ("香蕉", "半根")],
     ["杯底铺燕麦", "倒入酸奶", "铺上蓝莓和香蕉片"]),
    ("草莓奶昔", "Strawberry Milkshake", ("strawberry smoothie", "草莓奶昔"), "饮品", 5, "简单",
     [("丹东草莓", "200g"), ("蒙牛纯牛奶", "250ml"), ("太古白砂糖", "1勺")],
     ["草莓洗净去蒂", "与牛奶和糖一起打碎", "加冰块饮用"]),
    ("芒果西米露", "Mango Sago", ("mango sago",), "甜品", 30, "简单",
     [("贵妃芒", "2个"), ("椰树椰汁", "1罐"), ("蒙牛纯牛奶", "200ml")],
     ["西米煮至透明过凉水", "芒果一半打泥一半切丁", "椰汁牛奶芒果泥混合，加西米和芒果丁"]),
    ("水果沙拉", "Fruit Salad", ("fruit salad",), "沙拉", 10, "简单",
     [("烟台红富士苹果", "1个"), ("香蕉", "1根"), ("佳沛金奇异果", "2个"), ("伊利安慕希希腊风味酸奶", "1瓶")],
     ["水果切块", "淋上酸奶拌匀", "冷藏10分钟口感更好"]),
    ("手冲咖啡", "Pour-over Coffee", ("pour over", "手冲"), "饮品", 10, "中等",
     [("云南小粒咖啡豆", "15g")],
     ["咖啡豆中细研磨", "92℃热水先闷蒸30秒", "分三段注水至225ml，总时长约2分半"]),
    ("拿铁咖啡", "Caffe Latte", ("latte", "拿铁"), "饮品", 10, "中等",
     [("意式拼配咖啡豆", "18g"), ("光明优倍鲜牛奶", "200ml")],
     ["萃取一份浓缩咖啡", "牛奶加热打发至60℃", "将奶泡倒入咖啡"]),
    ("柠檬红茶", "Lemon Black Tea", ("lemon tea",), "饮品", 10, "简单",
     [("立顿黄牌精选红茶包", "2包"), ("安岳柠檬", "2片"), ("冰糖", "适量")],
     ["红茶包热水泡3分钟", "加冰糖溶化", "放柠檬片，可加冰"]),
    ("奶茶", "Milk Tea", ("milk tea", "自制奶茶"), "饮品", 15, "简单",
     [("祁门红茶", "5g"), ("蒙牛纯牛奶", "250ml"), ("太古白砂糖", "2勺")],
     ["红茶加少量水煮出茶色", "倒入牛奶小火煮开", "加糖，过滤茶叶"]),
    ("菠菜蛋花汤", "Spinach Egg Drop Soup", ("egg drop soup",), "家常菜", 10, "简单",
     [("菠菜", "200g"), ("土鸡蛋", "2个"), ("鲁花芝麻香油", "几滴")],
     ["菠菜焯水切段", "水开放菠菜，淋入蛋液", "加盐和香油出锅"]),
    ("凉拌黄瓜", "Smashed Cucumber Salad", ("拍黄瓜", "cucumber salad"), "凉菜", 10, "简单",
     [("黄瓜", "2根"), ("大蒜", "4瓣"), ("恒顺镇江香醋", "2勺"), ("鲁花芝麻香油", "1勺")],
     ["黄瓜拍碎切段", "加蒜末、醋、香油、盐", "拌匀腌10分钟"]),
    ("地三鲜", "Di San Xian", ("di san xian",), "东北菜", 25, "中等",
     [("土豆", "1个"), ("长茄子", "1根"), ("青椒", "2个"), ("海天金标生抽", "2勺"), ("玉米淀粉", "1勺")],
     ["土豆茄子切块炸或煎至金黄", "青椒略炒", "加生抽糖淀粉水调汁翻匀"]),
    ("蚝油生菜", "Lettuce in Oyster Sauce", ("oyster sauce lettuce",), "粤菜", 10, "简单",
     [("生菜", "1颗"), ("李锦记蚝油", "2勺"), ("大蒜", "3瓣")],
     ["生菜焯水摆盘", "蒜末炒香加蚝油和水勾芡", "浇在生菜上"]),
    ("醋溜白菜", "Vinegar Napa Cabbage", ("vinegar cabbage",), "家常菜", 10, "简单",
     [("大白菜", "半颗"), ("恒顺镇江香醋", "2勺"), ("太古白砂糖", "1勺")],
     ["白菜帮切片，叶子撕块", "大火炒白菜帮再下菜叶", "沿锅边淋醋，加糖盐"]),
    ("空气炸锅鸡块薯条", "Air-fryer Nuggets and Fries", ("炸鸡块", "nuggets and fries"), "小吃", 20, "简单",
     [("正大鸡块", "300g"), ("麦肯冷冻薯条", "300g"), ("亨氏番茄酱", "适量")],
     ["鸡块薯条平铺炸篮", "200℃炸15分钟，中途翻面", "配番茄酱"]),
    ("煎饺", "Pan-fried Dumplings", ("锅贴", "potstickers"), "小吃", 15, "简单",
     [("必品阁王饺子", "10个"), ("玉米淀粉", "1勺")],
     ["平底锅刷油摆饺子", "倒入淀粉水没过底部1/3", "盖盖中火焖至水干底部金黄"]),
    ("蛋包饭", "Omurice", ("omurice", "蛋包饭"), "日式", 20, "中等",
     [("东北珍珠米", "1碗米饭"), ("土鸡蛋", "3个"), ("亨氏番茄酱", "3勺"), ("洋葱", "半个"), ("鸡胸肉", "100g")],
     ["洋葱鸡丁炒熟，下米饭和番茄酱炒匀", "蛋液摊成薄蛋皮", "包入炒饭，挤番茄酱"]),
    ("山药排骨汤", "Yam and Rib Soup", ("yam soup",), "家常菜", 90, "简单",
     [("猪肋排", "400g"), ("山药", "300g"), ("甜玉米", "1根")],
     ["排骨焯水炖40分钟", "加山药和玉米段", "再炖30分钟，加盐"]),
    ("鸡胸肉沙拉", "Chicken Breast Salad", ("健身沙拉", "减脂沙拉", "减肥沙拉", "chicken salad"), "沙拉", 20, "简单",
     [("鸡胸肉", "200g"), ("生菜", "半颗"), ("西红柿", "1个"), ("黄瓜", "1根"), ("黑胡椒粉", "少许")],
     ["鸡胸肉用黑胡椒盐腌后煎熟切片", "蔬菜洗净切块", "拌匀淋少许油醋汁"]),
    ("清蒸大闸蟹", "Steamed Hairy Crabs", ("蒸螃蟹", "steamed crab"), "江浙菜", 25, "简单",
     [("阳澄湖大闸蟹", "4只"), ("生姜", "1块"), ("恒顺镇江香醋", "适量")],
     ["螃蟹刷洗干净，肚子朝上放", "冷水上锅，水开后蒸15分钟", "姜末加香醋做蘸料"]),
    ("车厘子酸奶碗", "Cherry Yogurt Bowl", ("车厘子甜点", "cherry yogurt bowl"), "甜品", 10, "简单",
     [("车厘子", "15颗"), ("伊利安慕希希腊风味酸奶", "1瓶"), ("桂格即食燕麦片", "30g"), ("三只松鼠每日坚果", "1袋")],
     ["车厘子洗净去核对半切", "碗中倒入酸奶，铺燕麦和坚果", "摆上车厘子即可"]),
    ("咖啡牛奶炖蛋", "Coffee Milk Custard", ("咖啡布丁", "咖啡甜品", "coffee custard"), "甜品", 25, "简单",
     [("雀巢速溶咖啡1+2", "1条"), ("蒙牛纯牛奶", "250ml"), ("土鸡蛋", "2个"), ("太古白砂糖", "1勺")],
     ["咖啡用少量热水化开，加牛奶和糖", "鸡蛋打散倒入，过筛两次", "盖保鲜膜，水开后小火蒸12分钟"]),
    ("铁观音茶", "Brewed Tieguanyin", ("泡铁观音",), "饮品", 5, "简单",
     [("安溪铁观音", "7g")],
     ["盖碗温杯", "投茶7g，100℃水快速洗茶", "每泡10-20秒出汤，可冲7泡"]),
]

# --------------------------------------------------------------------------------------
# Cities: zh, en, aliases, country, climate, monthly mean temperature (Jan..Dec, °C)
# --------------------------------------------------------------------------------------
CLIMATE_RAIN: dict[str, list[float]] = {
    # chance of precipitation on a given day, by month
    "monsoon": [0.12, 0.15, 0.22, 0.3, 0.38, 0.5, 0.55, 0.5, 0.35, 0.22, 0.15, 0.1],
    "humid": [0.35, 0.4, 0.45, 0.45, 0.45, 0.55, 0.45, 0.45, 0.35, 0.25, 0.3, 0.3],
    "tropical": [0.15, 0.15, 0.2, 0.3, 0.5, 0.6, 0.6, 0.6, 0.55, 0.4, 0.25, 0.15],
    "arid": [0.08, 0.08, 0.1, 0.1, 0.12, 0.12, 0.12, 0.1, 0.08, 0.08, 0.08, 0.08],
    "oceanic": [0.45, 0.4, 0.4, 0.38, 0.38, 0.35, 0.32, 0.35, 0.38, 0.45, 0.48, 0.48],
    "mediterranean": [0.35, 0.32, 0.3, 0.22, 0.12, 0.05, 0.03, 0.03, 0.08, 0.2, 0.3, 0.35],
    "continental": [0.3, 0.28, 0.28, 0.28, 0.3, 0.35, 0.38, 0.35, 0.3, 0.3, 0.3, 0.32],
    "plateau": [0.05, 0.05, 0.08, 0.12, 0.2, 0.45, 0.6, 0.6, 0.4, 0.1, 0.05, 0.05],
}
CITIES: list[tuple[str, str, tuple[str, ...], str, str, list[float]]] = [
    ("北京", "Beijing", ("peking", "北京市"), "中国", "monsoon", [-3, 0, 7, 15, 21, 25, 27, 26, 21, 13, 5, -1]),
    ("上海", "Shanghai", ("上海市", "沪"), "中国", "humid", [5, 6, 10, 16, 21, 25, 29, 29, 25, 20, 14, 7]),
    ("广州", "Guangzhou", ("canton", "广州市"), "中国", "tropical", [14, 15, 18, 22, 26, 28, 29, 29, 27, 25, 20, 15]),
    ("深圳", "Shenzhen", ("深圳市",), "中国", "tropical", [15, 16, 19, 23, 26, 28, 29, 29, 28, 25, 21, 17]),
    ("杭州", "Hangzhou", ("杭州市",), "中国", "humid", [5, 7, 11, 17, 22, 25, 29, 28, 24, 19, 13, 7]),
    ("成都", "Chengdu", ("成都市", "蓉城"), "中国", "monsoon", [6, 8, 12, 17, 21, 24, 26, 25, 22, 17, 12, 7]),
    ("重庆", "Chongqing", ("重庆市", "山城"), "中国", "monsoon", [8, 10, 14, 19, 23, 26, 29, 29, 24, 19, 14, 9]),
    ("武汉", "Wuhan", ("武汉市",), "中国", "humid", [4, 7, 11, 18, 23, 27, 29, 29, 24, 18, 12, 6]),
    ("西安", "Xi'an", ("西安市", "xian", "长安"), "中国", "monsoon", [0, 4, 10, 16, 21, 26, 27, 26, 20, 14, 7, 1]),
    ("南京", "Nanjing", ("南京市", "金陵"), "中国", "humid", [3, 5, 10, 16, 21, 25, 28, 28, 23, 17, 11, 5]),
    ("天津", "Tianjin", ("天津市",), "中国", "monsoon", [-3, 0, 7, 15, 21, 25, 27, 26, 22, 14, 6, -1]),
    ("苏州", "Suzhou", ("苏州市",), "中国", "humid", [4, 6, 10, 16, 21, 25, 29, 28, 24, 19, 13, 6]),
    ("长沙", "Changsha", ("长沙市",), "中国", "humid", [5, 7, 11, 17, 22, 26, 29, 28, 24, 19, 13, 7]),
    ("郑州", "Zhengzhou", ("郑州市",), "中国", "monsoon", [1, 4, 10, 16, 22, 26, 27, 26, 21, 16, 9, 3]),
    ("青岛", "Qingdao", ("青岛市",), "中国", "monsoon", [-1, 1, 6, 11, 17, 21, 24, 26, 22, 16, 9, 2]),
    ("厦门", "Xiamen", ("厦门市", "amoy"), "中国", "tropical", [13, 13, 15, 19, 23, 26, 28, 28, 27, 23, 19, 15]),
    ("昆明", "Kunming", ("昆明市", "春城"), "中国", "plateau", [9, 11, 14, 17, 20, 20, 20, 20, 18, 16, 12, 9]),
    ("哈尔滨", "Harbin", ("哈尔滨市", "冰城"), "中国", "monsoon", [-18, -13, -3, 8, 15, 21, 23, 21, 15, 6, -5, -15]),
    ("沈阳", "Shenyang", ("沈阳市",), "中国", "monsoon", [-11, -7, 1, 10, 17, 22, 25, 24, 17, 9, 0, -8]),
    ("大连", "Dalian", ("大连市",), "中国", "monsoon", [-4, -2, 4, 10, 16, 20, 24, 25, 21, 14, 6, -1]),
    ("三亚", "Sanya", ("三亚市",), "中国", "tropical", [22, 23, 25, 27, 28, 29, 29, 28, 28, 27, 25, 23]),
    ("海口", "Haikou", ("海口市",), "中国", "tropical", [18, 19, 22, 25, 28, 29, 29, 28, 27, 25, 22, 19]),
    ("拉萨", "Lhasa", ("拉萨市",), "中国", "plateau", [-1, 2, 6, 9, 13, 16, 16, 15, 13, 9, 3, -1]),
    ("乌鲁木齐", "Urumqi", ("乌鲁木齐市",), "中国", "arid", [-12, -9, 1, 12, 19, 24, 26, 24, 18, 9, -1, -8]),
    ("兰州", "Lanzhou", ("兰州市",), "中国", "arid", [-5, 0, 6, 13, 17, 21, 23, 22, 17, 10, 3, -4]),
    ("贵阳", "Guiyang", ("贵阳市",), "中国", "humid", [5, 7, 11, 16, 20, 22, 24, 24, 21, 16, 12, 7]),
    ("南宁", "Nanning", ("南宁市",), "中国", "tropical", [13, 15, 18, 23, 26, 28, 29, 28, 27, 24, 19, 15]),
    ("福州", "Fuzhou", ("福州市", "榕城"), "中国", "tropical", [11, 11, 14, 18, 23, 26, 29, 29, 26, 22, 18, 13]),
    ("合肥", "Hefei", ("合肥市",), "中国", "humid", [3, 5, 10, 16, 22, 25, 28, 28, 23, 17, 11, 5]),
    ("济南", "Jinan", ("济南市", "泉城"), "中国", "monsoon", [0, 3, 9, 16, 22, 26, 28, 26, 22, 16, 8, 2]),
    ("香港", "Hong Kong", ("hongkong", "hk", "香港特别行政区"), "中国", "tropical", [16, 17, 19, 23, 26, 28, 29, 29, 28, 26, 22, 18]),
    ("台北", "Taipei", ("台北市",), "中国", "humid", [16, 16, 18, 22, 25, 28, 30, 29, 27, 24, 21, 17]),
    ("东京", "Tokyo", ("tokio", "東京"), "日本", "humid", [5, 6, 9, 14, 19, 22, 26, 27, 23, 18, 13, 8]),
    ("首尔", "Seoul", ("汉城",), "韩国", "monsoon", [-2, 1, 6, 13, 18, 23, 25, 26, 21, 15, 7, 0]),
    ("新加坡", "Singapore", ("狮城",), "新加坡", "tropical", [27, 27, 28, 28, 28, 28, 28, 28, 28, 28, 27, 27]),
    ("曼谷", "Bangkok", ("bkk",), "泰国", "tropical", [27, 28, 29, 30, 30, 29, 29, 29, 28, 28, 28, 27]),
    ("纽约", "New York", ("nyc", "new york city", "纽约市"), "美国", "continental", [1, 2, 6, 12, 18, 23, 26, 25, 21, 15, 9, 3]),
    ("洛杉矶", "Los Angeles", ("la", "洛城"), "美国", "mediterranean", [14, 15, 16, 17, 19, 21, 23, 24, 23, 20, 17, 14]),
    ("伦敦", "London", ("伦敦市",), "英国", "oceanic", [5, 6, 8, 10, 14, 17, 19, 19, 16, 12, 8, 6]),
    ("巴黎", "Paris", ("巴黎市",), "法国", "oceanic", [5, 6, 9, 12, 16, 19, 21, 21, 17, 13, 8, 5]),
    ("悉尼", "Sydney", ("雪梨",), "澳大利亚", "humid", [23, 23, 22, 19, 16, 14, 13, 14, 16, 18, 20, 22]),
    ("迪拜", "Dubai", ("杜拜",), "阿联酋", "arid", [19, 20, 23, 27, 31, 33, 35, 35, 33, 29, 25, 21]),
    ("莫斯科", "Moscow", ("moskva",), "俄罗斯", "continental", [-7, -6, -1, 6, 13, 17, 19, 17, 11, 5, -1, -5]),
]

# Weather conditions and the produce-shopping tip each one suggests.
WEATHER_TIPS: list[tuple[str, str, str]] = [
    ("晴", "sunny", "天气晴好，适合出门采购，新鲜水果蔬菜可以多买一些"),
    ("多云", "cloudy", "多云天气舒适，可以去超市逛逛，挑选当季蔬果"),
    ("阴", "overcast", "阴天偏闷，叶菜不耐放，按需少量购买"),
    ("小雨", "light rain", "有小雨，建议线上下单送货到家，备些根茎类蔬菜"),
    ("大雨", "heavy rain", "雨势较大，尽量减少外出，囤些耐储存的米面粮油和冷冻食品"),
    ("雷阵雨", "thunderstorm", "午后可能有雷阵雨，采购尽量安排在上午，冷藏生鲜及时入冰箱"),
    ("雪", "snow", "下雪路滑，适合线上下单，备些火锅食材和根茎类蔬菜"),
    ("雾", "fog", "有雾，出行注意安全，可选择配送到家"),
    ("炎热", "hot", "天气炎热，生鲜肉类海鲜买后尽快冷藏，可备些西瓜和饮料解暑"),
]

# Produce in season by month (products by Chinese name), used in weather tips.
SEASONAL: dict[int, list[str]] = {
    1: ["车厘子", "砂糖橘", "丹东草莓", "大白菜"],
    2: ["丹东草莓", "砂糖橘", "海南菠萝", "莲藕"],
    3: ["丹东草莓", "海南菠萝", "菠菜", "韭菜"],
    4: ["丹东草莓", "贵妃芒", "韭菜", "生菜"],
    5: ["贵妃芒", "麒麟西瓜", "黄瓜", "盱眙小龙虾"],
    6: ["麒麟西瓜", "山竹", "哈密瓜", "黄瓜"],
    7: ["麒麟西瓜", "哈密瓜", "冬瓜", "甜玉米"],
    8: ["阳光玫瑰葡萄", "麒麟西瓜", "哈密瓜", "冬瓜"],
    9: ["阳光玫瑰葡萄", "阳澄湖大闸蟹", "库尔勒香梨", "莲藕"],
    10: ["烟台红富士苹果", "阳澄湖大闸蟹", "库尔勒香梨", "贝贝南瓜"],
    11: ["赣南脐橙", "车厘子", "烟台红富士苹果", "山药"],
    12: ["车厘子", "赣南脐橙", "丹东草莓", "大白菜"],
}

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE categories (
  id TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL,
  synonyms TEXT NOT NULL, sort INTEGER NOT NULL);
CREATE TABLE category_groups (name TEXT PRIMARY KEY, category_ids TEXT NOT NULL, synonyms TEXT NOT NULL);
CREATE TABLE kinds (
  name_zh TEXT PRIMARY KEY, name_en TEXT NOT NULL, category_id TEXT NOT NULL REFERENCES categories(id),
  synonyms TEXT NOT NULL);
CREATE TABLE products (
  id INTEGER PRIMARY KEY, name_zh TEXT NOT NULL UNIQUE, name_en TEXT NOT NULL,
  aliases TEXT NOT NULL, category_id TEXT NOT NULL REFERENCES categories(id), kind TEXT NOT NULL,
  brand TEXT NOT NULL, price REAL NOT NULL, unit TEXT NOT NULL, stock INTEGER NOT NULL,
  rating REAL NOT NULL, sales INTEGER NOT NULL, tags TEXT NOT NULL, attributes TEXT NOT NULL,
  family_id INTEGER NOT NULL);
CREATE INDEX products_category ON products(category_id);
CREATE TABLE promotions (
  id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id), title TEXT NOT NULL,
  description TEXT NOT NULL, discount REAL, start_date TEXT NOT NULL, end_date TEXT NOT NULL);
CREATE INDEX promotions_product ON promotions(product_id);
CREATE TABLE recipes (
  id INTEGER PRIMARY KEY, name_zh TEXT NOT NULL UNIQUE, name_en TEXT NOT NULL, aliases TEXT NOT NULL,
  cuisine TEXT NOT NULL, minutes INTEGER NOT NULL, difficulty TEXT NOT NULL, steps TEXT NOT NULL);
CREATE TABLE recipe_ingredients (
  recipe_id INTEGER NOT NULL REFERENCES recipes(id), product_id INTEGER NOT NULL REFERENCES products(id),
  amount TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (recipe_id, product_id));
CREATE TABLE cities (
  id INTEGER PRIMARY KEY, name_zh TEXT NOT NULL UNIQUE, name_en TEXT NOT NULL, aliases TEXT NOT NULL,
  country TEXT NOT NULL, climate TEXT NOT NULL, temps TEXT NOT NULL, rain TEXT NOT NULL);
CREATE TABLE weather_tips (condition TEXT PRIMARY KEY, condition_en TEXT NOT NULL, tip TEXT NOT NULL);
CREATE TABLE seasonal_produce (
  month INTEGER NOT NULL, product_id INTEGER NOT NULL REFERENCES products(id), position INTEGER NOT NULL,
  PRIMARY KEY (month, product_id));
"""


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _scale_weight(weight: str, factor: float) -> str:
    """A pack spec scaled by ``factor``: "125g×4盒" x1.5 -> "125g×6盒", "1kg" x2 -> "2kg"."""
    def fmt(x: float) -> str:
        return f"{x:g}"

    m = re.search(r"×(\d+)", weight)
    if m and float(int(m.group(1)) * factor).is_integer():
        return f"{weight[:m.start()]}×{fmt(int(m.group(1)) * factor)}{weight[m.end():]}"
    m = re.match(r"(\d+(?:\.\d+)?)(kg|g|ml|L|枚|支|片|包|袋|颗|条|粒|个装)", weight)
    if m and "约" not in weight:
        return f"{fmt(float(m.group(1)) * factor)}{m.group(2)}{weight[m.end():]}"
    return f"{weight}×{fmt(factor)}" if factor >= 1 else f"{weight}（半份）"


def build_rows() -> dict[str, list[tuple[Any, ...]]]:
    """All table rows, in insertion order. Pure function of the data above and SEED."""
    rng = random.Random(SEED)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    rows["meta"] = [("schema_version", SCHEMA_VERSION), ("seed", str(SEED))]
    rows["categories"] = [(cid, zh, en, _j(syn), i) for i, (cid, zh, en, syn) in enumerate(CATEGORIES)]
    cat_ids = {c[0] for c in CATEGORIES}
    rows["category_groups"] = []
    for name, cids, syn in CATEGORY_GROUPS:
        assert set(cids) <= cat_ids, cids
        rows["category_groups"].append((name, _j(cids), _j(syn)))
    rows["kinds"] = []
    for zh, en, cid, syn in KINDS:
        assert cid in cat_ids, cid
        rows["kinds"].append((zh, en, cid, _j(syn)))

    products: list[tuple[Any, ...]] = []
    by_name: dict[str, int] = {}
    next_id = 1

    def add(p: dict[str, Any], family: int | None, stock: int, rating: float, sales: int) -> int:
        nonlocal next_id
        pid = next_id
        next_id += 1
        assert p["category"] in cat_ids, p["category"]
        assert p["name_zh"] not in by_name, f"duplicate product {p['name_zh']}"
        by_name[p["name_zh"]] = pid
        products.append((
            pid, p["name_zh"], p["name_en"], _j(p["aliases"]), p["category"], p["kind"], p["brand"],
            round(p["price"], 2), p["unit"], stock, rating, sales, _j(p["tags"]), _j(p["attributes"]),
            family if family is not None else pid,
        ))
        return pid

    for p in PRODUCTS:
        # Named items are always in stock; the seeded numbers only add realism.
        base_id = add(p, None, rng.randint(20, 800), round(rng.uniform(4.3, 4.95), 1), rng.randint(200, 50000))
        if p["variants"]:
            for suffix_zh, suffix_en, factor, price_factor in rng.sample(VARIANT_STYLES, 3):
                v = dict(p)
                v["name_zh"] = f"{p['name_zh']}（{suffix_zh}）"
                v["name_en"] = f"{p['name_en']} ({suffix_en})"
                v["aliases"] = []
                v["price"] = round(p["price"] * price_factor, 1) - 0.1 if p["price"] > 5 else p["price"] * price_factor
                attrs = dict(p["attributes"])
                for key in ("weight", "spec"):
                    if key in attrs:
                        attrs[key] = _scale_weight(attrs[key], factor)
                v["attributes"] = attrs
                v["tags"] = sorted(set(p["tags"]) | ({"送礼"} if suffix_zh == "礼盒装" else set()))
                # A few variants are sold out, so stock handling is exercised.
                stock = 0 if rng.random() < 0.08 else rng.randint(5, 300)
                add(v, base_id, stock, round(rng.uniform(4.0, 4.9), 1), rng.randint(10, 5000))
    rows["products"] = products

    promotions: list[tuple[Any, ...]] = []
    for name, title, desc, discount, start, end in PROMOTIONS:
        promotions.append((len(promotions) + 1, by_name[name], title, desc, discount, start, end))
    promoted = {r[1] for r in promotions}
    for prow in products:
        pid = prow[0]
        # Phones get only the hand-written deals above ("第二件半价" on a phone reads wrong).
        if pid in promoted or rng.random() > 0.18 or prow[4] == "digital":
            continue
        title, template, has_discount = rng.choice(PROMO_TEMPLATES)
        d = rng.choice([7.5, 8, 8.5, 8.8, 9, 9.5])
        a = rng.choice([59, 99, 149, 199])
        b = {59: 10, 99: 15, 149: 25, 199: 30}[a]
        desc = template.format(d=d, a=a, b=b)
        discount = round(d / 10, 3) if has_discount else (0.75 if title == "第二件半价" else None)
        year = rng.choice([2025, 2026])
        start = f"{year}-{rng.randint(1, 12):02d}-01"
        end = rng.choice(["2027-12-31", "2028-06-30", "2030-12-31"])
        promotions.append((len(promotions) + 1, pid, title, desc, discount, start, end))
    rows["promotions"] = promotions

    rows["recipes"] = []
    rows["recipe_ingredients"] = []
    for rid, (zh, en, aliases, cuisine, minutes, diff, ingredients, steps) in enumerate(RECIPES, 1):
        rows["recipes"].append((rid, zh, en, _j(list(aliases)), cuisine, minutes, diff, _j(steps)))
        for pos, (pname, amount) in enumerate(ingredients):
            assert pname in by_name, f"recipe {zh}: unknown ingredient {pname}"
            rows["recipe_ingredients"].append((rid, by_name[pname], amount, pos))

    rows["cities"] = []
    for city_id, (zh, en, aliases, country, climate, temps) in enumerate(CITIES, 1):
        assert len(temps) == 12
        rows["cities"].append((city_id, zh, en, _j(list(aliases)), country, climate, _j(temps), _j(CLIMATE_RAIN[climate])))
    rows["weather_tips"] = list(WEATHER_TIPS)
    rows["seasonal_produce"] = []
    for month, names in SEASONAL.items():
        for pos, pname in enumerate(names):
            rows["seasonal_produce"].append((month, by_name[pname], pos))
    return rows


def write_db(out: Path, rows: dict[str, list[tuple[Any, ...]]] | None = None) -> Path:
    """Write the catalog to ``out`` atomically (temp file in the same folder, then os.replace)."""
    rows = rows if rows is not None else build_rows()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # sqlite wants to create the file itself
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(SCHEMA)
            for table, table_rows in rows.items():
                if table_rows:
                    marks = ",".join("?" * len(table_rows[0]))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
            conn.commit()
            conn.execute("VACUUM")
        finally:
            conn.close()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the SQLite file")
    args = parser.parse_args(argv)
    rows = build_rows()
    path = write_db(args.out, rows)
    counts = ", ".join(f"{t}={len(r)}" for t, r in rows.items())
    print(f"wrote {path}: {counts}")


if __name__ == "__main__":
    main()
