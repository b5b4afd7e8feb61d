"""Queries over the demo grocery catalog (``data/catalog.db``, built from the YAML files
in ``data/source/`` by ``scripts/build_demo_catalog.py``; the scenario, brand and date
words the queries match are read from the same folder).

Names are matched across Chinese and English names and aliases, ignoring case, spaces,
punctuation and full-width forms, with small typos tolerated (rapidfuzz). Weather is a
pure function of city and date, so answers are reproducible; "today" can be injected.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import importlib.resources
import json
import math
import random
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from kapibara.demo import source
from kapibara.errors import DataError
from kapibara.prompts import render_template

#: find_product() accepts the best match only at or above this score (0-100).
MATCH_THRESHOLD = 80.0

_PUNCT = re.compile(r"[\s\-_·•.,，。、'‘’\"“”()（）/\\+&!！?？:：;；|]+")
_NUMBER = re.compile(r"\d+")


def normalize(text: str) -> str:
    """Fold full-width forms, case, spaces and punctuation: "ｉＰｈｏｎｅ 15" -> "iphone15"."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def name_score(query: str, key: str) -> float:
    """Similarity 0-100 of two normalized names.

    Exact beats containment beats edit distance; differing numbers ("iPhone 14" vs
    "iPhone 15") are penalised hard because a model number is never a typo we should fix.
    """
    if not query or not key:
        return 0.0
    if query == key:
        return 100.0
    if len(query) >= 2 and query in key:
        score = 85.0 + 14.0 * len(query) / len(key)
    elif len(key) >= 2 and key in query:
        score = 70.0 + 15.0 * len(key) / len(query)
    else:
        score = fuzz.ratio(query, key) * 0.95
    q_nums = _NUMBER.findall(query)
    if q_nums and q_nums != _NUMBER.findall(key):
        score -= 30.0
    return max(score, 0.0)


@dataclass(frozen=True)
class Product:
    """One catalog product; ``attributes`` holds the category-specific specs."""

    id: int
    name_zh: str
    name_en: str
    aliases: tuple[str, ...]
    category_id: str
    category_zh: str
    kind: str
    brand: str
    price: float
    unit: str
    stock: int
    rating: float
    sales: int
    tags: tuple[str, ...]
    attributes: dict[str, Any] = field(hash=False, compare=False)
    family_id: int = 0

    @property
    def is_variant(self) -> bool:
        """A pack-size variant ("家庭装") of another product."""
        return self.family_id != self.id


@dataclass(frozen=True)
class Promotion:
    product_id: int
    product_name: str
    title: str
    description: str
    discount: float | None
    start_date: dt.date
    end_date: dt.date

    def active_on(self, day: dt.date) -> bool:
        return self.start_date <= day <= self.end_date


@dataclass(frozen=True)
class Ingredient:
    product_id: int
    name: str
    amount: str


@dataclass(frozen=True)
class Recipe:
    id: int
    name_zh: str
    name_en: str
    cuisine: str
    minutes: int
    difficulty: str
    ingredients: tuple[Ingredient, ...]
    steps: tuple[str, ...]


@dataclass(frozen=True)
class City:
    id: int
    name_zh: str
    name_en: str
    aliases: tuple[str, ...]
    country: str
    temps: tuple[float, ...]
    rain: tuple[float, ...]


@dataclass(frozen=True)
class Weather:
    city: str
    date: dt.date
    condition: str
    low_c: int
    high_c: int
    tip: str
    in_season: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    """How a shopping scenario ranks products: keywords that trigger it and a 0-1 scorer."""

    name: str
    keywords: tuple[str, ...]
    score: Callable[[Product, list[Product]], float]


def _attr_num(p: Product, *path: str) -> float | None:
    value: Any = p.attributes
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def _relative(path: tuple[str, ...]) -> Callable[[Product, list[Product]], float]:
    def score(p: Product, pool: list[Product]) -> float:
        value = _attr_num(p, *path)
        top = max((_attr_num(q, *path) or 0.0) for q in pool)
        return value / top if value is not None and top > 0 else 0.0

    return score


def _cheap(p: Product, pool: list[Product]) -> float:
    top = max(q.price for q in pool)
    return 1.0 - p.price / top if top > 0 else 0.0


def _premium(p: Product, pool: list[Product]) -> float:
    top = max(q.price for q in pool)
    return p.price / top if top > 0 else 0.0


def _scorer(spec: source.ScenarioSpec) -> Callable[[Product, list[Product]], float]:
    """The 0-1 ranking a scenario in ``scenarios.yaml`` describes."""
    if spec.price:
        return _cheap if spec.price == "low" else _premium
    relative = _relative(spec.attribute) if spec.attribute else None

    def score(p: Product, pool: list[Product]) -> float:
        if relative is not None and _attr_num(p, *spec.attribute) is not None:
            return relative(p, pool)
        return 1.0 if any(t in p.tags for t in spec.tags) else 0.0

    return score


@functools.cache
def scenarios() -> tuple[Scenario, ...]:
    """The shopping scenarios, from ``data/source/scenarios.yaml``."""
    return tuple(Scenario(s.name, s.words, _scorer(s)) for s in source.scenarios())


@functools.cache
def _brand_words() -> dict[str, str]:
    """Brand words users say (``brands.yaml``), normalized -> the catalog's brand field."""
    return {normalize(k): v for k, v in source.brand_aliases().items()}


@functools.cache
def _day_offsets() -> dict[str, int]:
    """Relative day words (``dates.yaml``), normalized -> days from today."""
    return {normalize(k): v for k, v in source.day_offsets().items()}


def scenario_names(text: str) -> list[str]:
    """The scenarios a free-text description triggers ("拍照好又便宜" -> camera, cheap)."""
    norm = normalize(text)
    return [s.name for s in scenarios() if any(normalize(k) in norm for k in s.keywords)]


# The weather model picks a condition by its key (``en`` in weather.yaml); the name and
# the shopping tip shown come from the catalog's weather_tips rows.
SUNNY, CLOUDY, OVERCAST, FOG = "sunny", "cloudy", "overcast", "fog"
LIGHT_RAIN, HEAVY_RAIN, STORM, SNOW, HOT = "light rain", "heavy rain", "thunderstorm", "snow", "hot"
WEATHER_KEYS = (SUNNY, CLOUDY, OVERCAST, FOG, LIGHT_RAIN, HEAVY_RAIN, STORM, SNOW, HOT)


class DateError(ValueError):
    """A date ``resolve_date`` cannot use; ``template`` names its message in demo_tools.yaml."""

    def __init__(self, template: str, text: str) -> None:
        self.template, self.text = template, text
        super().__init__(self.message("zh"))

    def message(self, language: str) -> str:
        """The message in ``language`` (``zh`` or ``en``)."""
        return render_template(self.template, language, text=repr(self.text))


def _default_db_path() -> contextlib.AbstractContextManager[Path]:
    resource = importlib.resources.files("kapibara.demo").joinpath("data/catalog.db")
    return importlib.resources.as_file(resource)


class Catalog:
    """Read-only access to the demo catalog. Thread-safe: one SQLite connection per thread.

    ``today`` fixes the date that "today"/"明天" resolve against (tests inject it);
    by default it is the real current date.
    """

    def __init__(self, path: str | Path | None = None, *, today: dt.date | None = None) -> None:
        self._stack = contextlib.ExitStack()
        if path is None:
            path = self._stack.enter_context(_default_db_path())
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(
                f"demo catalog not found at {self.path}",
                hint="run: python scripts/build_demo_catalog.py",
            )
        self._today = today
        self._local = threading.local()
        self._lock = threading.Lock()
        self._loaded = False
        self._products: list[Product] = []
        self._by_id: dict[int, Product] = {}
        self._keys: list[tuple[str, int]] = []
        self._categories: dict[str, tuple[str, str]] = {}
        self._category_keys: list[tuple[str, tuple[str, ...], str | None]] = []
        self._cities: list[City] = []
        self._conditions: dict[str, tuple[str, str]] = {}

    # -- plumbing ---------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # immutable=1: package data never changes under us, so skip locking entirely.
            uri = f"file:{self.path.as_posix()}?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=True)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            for row in self._query("SELECT * FROM categories ORDER BY sort"):
                self._categories[row["id"]] = (row["name_zh"], row["name_en"])
                for word in [row["name_zh"], row["name_en"], *json.loads(row["synonyms"])]:
                    self._category_keys.append((normalize(word), (row["id"],), None))
            for row in self._query("SELECT * FROM category_groups ORDER BY name"):
                cids = tuple(json.loads(row["category_ids"]))
                for word in [row["name"], *json.loads(row["synonyms"])]:
                    self._category_keys.append((normalize(word), cids, None))
            for row in self._query("SELECT * FROM kinds"):
                for word in [row["name_zh"], row["name_en"], *json.loads(row["synonyms"])]:
                    self._category_keys.append((normalize(word), (row["category_id"],), row["name_zh"]))
            for row in self._query("SELECT * FROM products ORDER BY id"):
                p = Product(
                    id=row["id"], name_zh=row["name_zh"], name_en=row["name_en"],
                    aliases=tuple(json.loads(row["aliases"])), category_id=row["category_id"],
                    category_zh=self._categories[row["category_id"]][0], kind=row["kind"],
                    brand=row["brand"], price=row["price"], unit=row["unit"], stock=row["stock"],
                    rating=row["rating"], sales=row["sales"], tags=tuple(json.loads(row["tags"])),
                    attributes=json.loads(row["attributes"]), family_id=row["family_id"],
                )
                self._products.append(p)
                self._by_id[p.id] = p
                for name in {p.name_zh, p.name_en, *p.aliases}:
                    self._keys.append((normalize(name), p.id))
            for row in self._query("SELECT * FROM cities ORDER BY id"):
                self._cities.append(City(
                    id=row["id"], name_zh=row["name_zh"], name_en=row["name_en"],
                    aliases=tuple(json.loads(row["aliases"])), country=row["country"],
                    temps=tuple(json.loads(row["temps"])), rain=tuple(json.loads(row["rain"])),
                ))
            for row in self._query("SELECT * FROM weather_tips"):
                self._conditions[row["condition_en"]] = (row["condition"], row["tip"])
            self._loaded = True

    def today(self) -> dt.date:
        """The date "today" means: the injected one, else the real current date."""
        return self._today or dt.date.today()

    # -- counts -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Row counts: products, categories, promotions, recipes, cities."""
        out = {}
        for table in ("products", "categories", "promotions", "recipes", "cities"):
            out[table] = int(self._query(f"SELECT COUNT(*) FROM {table}")[0][0])
        return out

    @property
    def products(self) -> list[Product]:
        """Every product, in id order."""
        self._load()
        return list(self._products)

    def product(self, product_id: int) -> Product:
        """The product with this id (KeyError if none)."""
        self._load()
        return self._by_id[product_id]

    def categories(self) -> list[tuple[str, str, str]]:
        """(id, Chinese name, English name) of every category."""
        self._load()
        return [(cid, zh, en) for cid, (zh, en) in self._categories.items()]

    # -- product matching ---------------------------------------------------------------
    def match_products(self, name: str, limit: int = 5, min_score: float = 50.0) -> list[tuple[Product, float]]:
        """Products whose names or aliases resemble ``name``, best first, with scores 0-100.

        On equal scores a base product comes before its pack-size variants.
        """
        self._load()
        query = normalize(name)
        if not query:
            return []
        best: dict[int, float] = {}
        for key, pid in self._keys:
            s = name_score(query, key)
            if s >= min_score and s > best.get(pid, -1.0):
                best[pid] = s
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], self._by_id[kv[0]].is_variant, kv[0]))
        return [(self._by_id[pid], round(score, 1)) for pid, score in ranked[:limit]]

    def find_product(self, name: str) -> Product | None:
        """The product ``name`` refers to, or None when nothing matches well enough."""
        matches = self.match_products(name, limit=1, min_score=MATCH_THRESHOLD)
        return matches[0][0] if matches else None

    # -- category search ----------------------------------------------------------------
    def resolve_category(self, text: str) -> tuple[tuple[str, ...], str | None] | None:
        """Map "手机" / "phone" / "拍照手机" / "水果" / "生鲜" to (category ids, kind or None).

        Exact names and synonyms win; otherwise the longest synonym contained in the text
        (single-character synonyms like "米" only count when they are the whole text).
        """
        self._load()
        norm = normalize(text)
        if not norm:
            return None
        for key, cids, kind in self._category_keys:
            if key == norm:
                return cids, kind
        contained = [(len(k), cids, kind) for k, cids, kind in self._category_keys if len(k) >= 2 and k in norm]
        if contained:
            # Longest match; among equals, a kind is more specific than a whole category.
            _, cids, kind = max(contained, key=lambda t: (t[0], t[2] is not None))
            return cids, kind
        return None

    def search(
        self,
        category: str,
        scenario: str = "",
        max_price: float | None = None,
        limit: int = 3,
    ) -> list[Product]:
        """Products in ``category`` (zh/en/synonym, or a product name like "苹果"), at most
        ``max_price``, in stock, ranked for ``scenario`` (拍照 -> camera, 续航 -> battery,
        便宜 -> price, 送礼 -> gift items, ...); one product per pack-size family.
        """
        self._load()
        resolved = self.resolve_category(category)
        if resolved is not None:
            cids, kind = resolved
            pool = [p for p in self._products if p.category_id in cids and (kind is None or p.kind == kind)]
            brand = self._brand_in(f"{category} {scenario}")
            if brand and any(p.brand == brand for p in pool):
                pool = [p for p in pool if p.brand == brand]  # "苹果手机", "华为手机"
        else:
            # Not a category: treat the text as a product name ("苹果", "iPhone") and offer
            # the products it names; only the best-scoring names, so "苹果" means apples and
            # not every Apple device with "苹果" in an alias.
            matches = self.match_products(category, limit=20, min_score=MATCH_THRESHOLD)
            top = matches[0][1] if matches else 0.0
            families = {p.family_id for p, s in matches if s >= top - 3.0}
            pool = [p for p in self._products if p.family_id in families]
        pool = [p for p in pool if p.stock > 0 and (max_price is None or p.price <= max_price)]
        if not pool:
            return []
        active = [s for s in scenarios() if s.name in scenario_names(f"{scenario} {category}")]
        max_sales = max(p.sales for p in pool)

        def rank(p: Product) -> tuple[float, float, int]:
            fit = sum(s.score(p, pool) for s in active)
            # Popularity breaks ties and ranks when no scenario is given.
            popularity = p.rating / 5 + 0.2 * math.log1p(p.sales) / math.log1p(max_sales)
            return (-fit, -popularity, p.id)

        seen: set[int] = set()
        out: list[Product] = []
        for p in sorted(pool, key=rank):
            if p.family_id in seen:
                continue
            seen.add(p.family_id)
            out.append(p)
            if len(out) >= max(limit, 0):
                break
        return out

    def _brand_in(self, text: str) -> str | None:
        """The brand a text names ("苹果手机" -> "Apple"), longest word first, or None."""
        norm = normalize(text)
        words = {normalize(b): b for b in {p.brand for p in self._products} if b}
        words.update(_brand_words())
        hits = [w for w in words if len(w) >= 2 and w in norm]
        return words[max(hits, key=len)] if hits else None

    # -- promotions ---------------------------------------------------------------------
    def promotions(self, product: Product, on: dt.date | None = None, *, active_only: bool = True) -> list[Promotion]:
        """The product's promotions; by default only those valid ``on`` (default: today)."""
        day = on or self.today()
        rows = self._query("SELECT * FROM promotions WHERE product_id = ? ORDER BY id", (product.id,))
        promos = [
            Promotion(
                product_id=product.id, product_name=product.name_zh, title=r["title"],
                description=r["description"], discount=r["discount"],
                start_date=dt.date.fromisoformat(r["start_date"]),
                end_date=dt.date.fromisoformat(r["end_date"]),
            )
            for r in rows
        ]
        return [p for p in promos if p.active_on(day)] if active_only else promos

    # -- recipes ------------------------------------------------------------------------
    def _recipe(self, row: sqlite3.Row) -> Recipe:
        ingredients = tuple(
            Ingredient(product_id=r["product_id"], name=r["name_zh"], amount=r["amount"])
            for r in self._query(
                "SELECT ri.product_id, ri.amount, p.name_zh FROM recipe_ingredients ri "
                "JOIN products p ON p.id = ri.product_id WHERE ri.recipe_id = ? ORDER BY ri.position",
                (row["id"],),
            )
        )
        return Recipe(
            id=row["id"], name_zh=row["name_zh"], name_en=row["name_en"], cuisine=row["cuisine"],
            minutes=row["minutes"], difficulty=row["difficulty"], ingredients=ingredients,
            steps=tuple(json.loads(row["steps"])),
        )

    def all_recipes(self) -> list[Recipe]:
        """Every recipe, in id order."""
        return [self._recipe(row) for row in self._query("SELECT * FROM recipes ORDER BY id")]

    def recipes(self, dish_or_ingredient: str, limit: int = 3) -> list[Recipe]:
        """Recipes named like the text (dish), else recipes that use the product it names
        (ingredient: "三文鱼", "鸡蛋", "beef"), quickest first."""
        self._load()
        query = normalize(dish_or_ingredient)
        if not query:
            return []
        rows = self._query("SELECT * FROM recipes ORDER BY id")
        by_name: list[tuple[float, sqlite3.Row]] = []
        for row in rows:
            keys = [row["name_zh"], row["name_en"], row["cuisine"], *json.loads(row["aliases"])]
            s = max(name_score(query, normalize(k)) for k in keys)
            if s >= MATCH_THRESHOLD:
                by_name.append((s, row))
        by_name.sort(key=lambda t: (-t[0], t[1]["id"]))
        chosen = [row for _, row in by_name]
        if len(chosen) < limit:
            ids = self._ingredient_ids(dish_or_ingredient)
            if ids:
                marks = ",".join("?" * len(ids))
                extra = self._query(
                    f"SELECT DISTINCT r.* FROM recipes r JOIN recipe_ingredients ri ON ri.recipe_id = r.id "
                    f"WHERE ri.product_id IN ({marks}) ORDER BY r.minutes, r.id",
                    tuple(sorted(ids)),
                )
                have = {row["id"] for row in chosen}
                chosen += [row for row in extra if row["id"] not in have]
        return [self._recipe(row) for row in chosen[: max(limit, 0)]]

    def _ingredient_ids(self, text: str) -> set[int]:
        """Products an ingredient word names: by name ("三文鱼"), kind ("牛肉" -> all beef)
        or category ("海鲜")."""
        ids: set[int] = set()
        resolved = self.resolve_category(text)
        if resolved is not None:
            cids, kind = resolved
            ids |= {p.id for p in self._products if p.category_id in cids and kind in (None, p.kind)}
        # A little looser than find_product: "低脂鸡胸肉" still means chicken breast here.
        for p, _ in self.match_products(text, limit=10, min_score=MATCH_THRESHOLD - 5):
            ids.add(p.family_id)
        return ids

    # -- weather ------------------------------------------------------------------------
    def match_cities(self, name: str, limit: int = 5) -> list[tuple[City, float]]:
        """Cities whose zh/en names or aliases resemble ``name``, best first."""
        self._load()
        query = normalize(name)
        scored = []
        for city in self._cities:
            s = max(name_score(query, normalize(k)) for k in (city.name_zh, city.name_en, *city.aliases))
            if s >= 50:
                scored.append((city, round(s, 1)))
        scored.sort(key=lambda t: (-t[1], t[0].id))
        return scored[:limit]

    def find_city(self, name: str) -> City | None:
        """The city ``name`` refers to ("北京", "beijing", "北京市"), or None."""
        matches = self.match_cities(name, limit=1)
        return matches[0][0] if matches and matches[0][1] >= MATCH_THRESHOLD else None

    @property
    def cities(self) -> list[City]:
        self._load()
        return list(self._cities)

    def resolve_date(self, text: str) -> dt.date:
        """"today"/"今天", "tomorrow"/"明天", "后天", "YYYY-MM-DD", "M月D日" -> a date.

        The relative words are those in ``data/source/dates.yaml``. Raises DateError (a
        ValueError, with the accepted forms) for anything else.
        """
        raw = unicodedata.normalize("NFKC", text or "today").strip().lower()
        today = self.today()
        relative = _day_offsets()
        key = normalize(raw)
        if key in relative:
            return today + dt.timedelta(days=relative[key])
        m = re.fullmatch(r"(\d{4})[-/年.](\d{1,2})[-/月.](\d{1,2})[日号]?", raw)
        if m:
            return self._safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)), text)
        m = re.fullmatch(r"(\d{1,2})[-/月.](\d{1,2})[日号]?", raw)
        if m:
            return self._safe_date(today.year, int(m.group(1)), int(m.group(2)), text)
        raise DateError("demo_date_unreadable", text)

    @staticmethod
    def _safe_date(year: int, month: int, day: int, text: str) -> dt.date:
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise DateError("demo_date_invalid", text) from None

    def weather(self, city: City, day: dt.date) -> Weather:
        """Deterministic weather for ``city`` on ``day``: the same inputs give the same answer."""
        self._load()
        seed = int(hashlib.sha256(f"{city.name_en}|{day.isoformat()}".encode()).hexdigest()[:16], 16)
        rng = random.Random(seed)
        month = day.month - 1
        mean = city.temps[month] + rng.uniform(-3.0, 3.0)
        spread = rng.uniform(4.0, 10.0)
        low, high = round(mean - spread / 2), round(mean + spread / 2)
        if rng.random() < city.rain[month]:
            roll = rng.random()
            if high <= 3 or low <= -2:
                key = SNOW
            elif mean >= 22 and roll < 0.4:
                key = STORM
            else:
                # Downpours belong to warm months; a cold day gets drizzle.
                key = HEAVY_RAIN if mean >= 12 and roll < 0.25 else LIGHT_RAIN
        else:
            key = rng.choices([SUNNY, CLOUDY, OVERCAST, FOG], weights=[5, 4, 2, 0.4 if high < 15 else 0.0])[0]
        condition = self._conditions[key][0]
        # A hot sunny or cloudy day gets the heat tip instead of the fair-weather one.
        tip = self._conditions[HOT if high >= 33 and key in (SUNNY, CLOUDY) else key][1]
        season = tuple(
            str(r[0]) for r in self._query(
                "SELECT p.name_zh FROM seasonal_produce s JOIN products p ON p.id = s.product_id "
                "WHERE s.month = ? ORDER BY s.position", (day.month,),
            )
        )
        return Weather(city=city.name_zh, date=day, condition=condition, low_c=low, high_c=high,
                       tip=tip, in_season=season)
