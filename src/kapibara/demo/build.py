"""Build the demo catalog (``data/catalog.db``) from the YAML files in ``data/source/``.

Deterministic: the hand-written rows come from the files in their order, and the volume
(pack-size variants, stock, ratings, sales, most promotions) from one seeded generator
consumed in that order, so the same files always give the same database.
``scripts/build_demo_catalog.py`` is the command line.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import tempfile
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from kapibara.demo.source import ProductSpec, Source, load_source
from kapibara.fileio import write_atomic

SEED = 20240611
SCHEMA_VERSION = "1"
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "catalog.db"

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

Rows = dict[str, list[tuple[Any, ...]]]


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def scale_weight(weight: str, factor: float) -> str:
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


def _products(src: Source, rng: random.Random) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """Product rows: each hand-written product, then its seeded pack-size variants."""
    rows: list[tuple[Any, ...]] = []
    by_name: dict[str, int] = {}

    def add(p: ProductSpec, family: int | None, stock: int, rating: float, sales: int) -> int:
        pid = len(rows) + 1
        by_name[p.zh] = pid
        rows.append((
            pid, p.zh, p.en, _j(p.aliases), p.category, p.kind, p.brand, round(p.price, 2), p.unit,
            stock, rating, sales, _j(p.tags), _j(p.attributes), family if family is not None else pid,
        ))
        return pid

    for p in src.products:
        # Named items are always in stock; the seeded numbers only add realism.
        base_id = add(p, None, rng.randint(20, 800), round(rng.uniform(4.3, 4.95), 1), rng.randint(200, 50000))
        if not p.variants:
            continue
        for style in rng.sample(src.variant_styles, 3):
            attrs = dict(p.attributes)
            for key in ("weight", "spec"):
                if key in attrs:
                    attrs[key] = scale_weight(attrs[key], style.factor)
            price = round(p.price * style.price_factor, 1) - 0.1 if p.price > 5 else p.price * style.price_factor
            variant = ProductSpec(
                category=p.category, zh=f"{p.zh}（{style.zh}）", en=f"{p.en} ({style.en})", price=price,
                unit=p.unit, kind=p.kind, brand=p.brand, tags=tuple(sorted(set(p.tags) | set(style.tags))),
                attributes=attrs,
            )
            # A few variants are sold out, so stock handling is exercised.
            stock = 0 if rng.random() < 0.08 else rng.randint(5, 300)
            add(variant, base_id, stock, round(rng.uniform(4.0, 4.9), 1), rng.randint(10, 5000))
    return rows, by_name


def _promotions(src: Source, products: list[tuple[Any, ...]], by_name: dict[str, int],
                rng: random.Random) -> list[tuple[Any, ...]]:
    """The hand-written deals, then a seeded one for about 18% of the other products."""
    rows: list[tuple[Any, ...]] = [
        (i, by_name[d.product], d.title, d.description, d.discount, d.start, d.end)
        for i, d in enumerate(src.deals, 1)
    ]
    promoted = {r[1] for r in rows}
    for prow in products:
        pid, category = prow[0], prow[4]
        if pid in promoted or rng.random() > 0.18 or category in src.promo_skip_categories:
            continue
        template = rng.choice(src.promo_templates)
        d = rng.choice([7.5, 8, 8.5, 8.8, 9, 9.5])
        a = rng.choice([59, 99, 149, 199])
        b = {59: 10, 99: 15, 149: 25, 199: 30}[a]
        discount = round(d / 10, 3) if template.discount == "d" else template.discount
        year = rng.choice([2025, 2026])
        start = f"{year}-{rng.randint(1, 12):02d}-01"
        end = rng.choice(["2027-12-31", "2028-06-30", "2030-12-31"])
        rows.append((len(rows) + 1, pid, template.title, template.description.format(d=d, a=a, b=b),
                     discount, start, end))
    return rows


def build_rows(source: Source | None = None) -> Rows:
    """Every table's rows, in insertion order: a pure function of the source files and SEED."""
    src = source if source is not None else load_source()
    rng = random.Random(SEED)
    rows: Rows = {"meta": [("schema_version", SCHEMA_VERSION), ("seed", str(SEED))]}
    rows["categories"] = [(c.id, c.zh, c.en, _j(c.synonyms), i) for i, c in enumerate(src.categories)]
    rows["category_groups"] = [(g.name, _j(g.categories), _j(g.synonyms)) for g in src.groups]
    rows["kinds"] = [(k.zh, k.en, k.category, _j(k.synonyms)) for k in src.kinds]
    rows["products"], by_name = _products(src, rng)
    rows["promotions"] = _promotions(src, rows["products"], by_name, rng)
    rows["recipes"] = [
        (i, r.zh, r.en, _j(r.aliases), r.cuisine, r.minutes, r.difficulty, _j(r.steps))
        for i, r in enumerate(src.recipes, 1)
    ]
    rows["recipe_ingredients"] = [
        (i, by_name[name], amount, pos)
        for i, r in enumerate(src.recipes, 1) for pos, (name, amount) in enumerate(r.ingredients.items())
    ]
    rows["cities"] = [
        (i, c.zh, c.en, _j(c.aliases), c.country, c.climate, _j(c.temps), _j(src.climates[c.climate]))
        for i, c in enumerate(src.cities, 1)
    ]
    rows["weather_tips"] = [(c.zh, c.en, c.tip) for c in src.conditions]
    rows["seasonal_produce"] = [
        (month, by_name[name], pos) for month, names in src.seasonal.items() for pos, name in enumerate(names)
    ]
    return rows


def write_db(out: str | Path = DEFAULT_OUT, rows: Rows | None = None,
             source: Traversable | Path | None = None) -> Path:
    """Write the catalog to ``out`` atomically; ``source`` is a folder of source files
    (default: the packaged ones), ``rows`` already built rows."""
    if rows is None:
        rows = build_rows(load_source(source))
    # Built in a file, not in memory: SQLite stamps a file's header (change counter,
    # library version) differently, and the committed file should come out byte-equal.
    with tempfile.TemporaryDirectory(prefix="kapibara-catalog-") as tmp:
        path = Path(tmp) / "catalog.db"
        conn = sqlite3.connect(path)
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
        return write_atomic(out, path.read_bytes())
