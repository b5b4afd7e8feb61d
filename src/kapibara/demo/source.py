"""The demo's hand-editable data: YAML files in ``kapibara/demo/data/source/``.

One source, three readers:

- the catalog builder (``kapibara.demo.build``, run by ``scripts/build_demo_catalog.py``)
  turns ``categories.yaml``, ``products/*.yaml``, ``variants.yaml``, ``promotions.yaml``,
  ``recipes.yaml``, ``cities.yaml`` and ``weather.yaml`` into ``data/catalog.db``;
- ``catalog.py`` reads the word lists the database does not hold at run time:
  ``scenarios.yaml``, ``brands.yaml``, ``dates.yaml``;
- the eval-set builder (``evals/data/domain/build.py``) checks its allowed category,
  city and date words against the same files.

Every file is read with duplicate mapping keys rejected (plain YAML keeps the last one
silently), and every record's fields are checked, so a typo names its file and entry.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kapibara.errors import DataError

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Loader):  # type: ignore[valid-type,misc]
    """SafeLoader that rejects a mapping key given twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return dict(super().construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping
)


def source_dir() -> Traversable:
    """The packaged source folder (``kapibara/demo/data/source``)."""
    return resources.files("kapibara.demo").joinpath("data/source")


def read_yaml(root: Traversable | Path, *parts: str) -> Any:
    """Parse ``root/parts...``; a missing file or bad YAML raises DataError naming it."""
    entry = root
    for part in parts:
        entry = entry.joinpath(part)
    if not entry.is_file():
        raise DataError(f"demo data file not found: {entry}", hint="see docs/demo.md for the files")
    try:
        return yaml.load(entry.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise DataError(f"{entry}: invalid YAML: {exc}") from None


# -- records --------------------------------------------------------------------------
@dataclass(frozen=True)
class Category:
    id: str
    zh: str
    en: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class CategoryGroup:
    """A word that spans several categories ("生鲜" = fruit, vegetables, meat, seafood)."""

    name: str
    categories: tuple[str, ...]
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kind:
    """A product type inside a category ("手机" in digital), a product's ``kind``."""

    zh: str
    en: str
    category: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductSpec:
    """One hand-written product; ``variants`` adds three seeded pack sizes of it."""

    category: str
    zh: str
    en: str
    price: float
    unit: str
    kind: str = ""
    brand: str = ""
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    variants: bool = False
    attributes: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class VariantStyle:
    """A pack size: ``factor`` scales the spec, ``price_factor`` the price; ``tags`` are added."""

    zh: str
    en: str
    factor: float
    price_factor: float
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deal:
    """A hand-written promotion; ``discount`` is a price multiplier, None for 满减-style deals."""

    product: str
    title: str
    description: str
    start: str
    end: str
    discount: float | None = None


@dataclass(frozen=True)
class PromoTemplate:
    """A seeded promotion: ``description`` may use {d} (折), {a} and {b} (满a减b).

    ``discount`` is ``"d"`` (the seeded d/10), a fixed multiplier, or None.
    """

    title: str
    description: str
    discount: float | str | None = None


@dataclass(frozen=True)
class RecipeSpec:
    zh: str
    en: str
    cuisine: str
    minutes: int
    difficulty: str
    ingredients: dict[str, str] = field(hash=False)
    steps: tuple[str, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CitySpec:
    zh: str
    en: str
    country: str
    climate: str
    temps: tuple[float, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """A weather condition: ``en`` is the key the weather model uses, ``zh`` what it shows."""

    zh: str
    en: str
    tip: str


@dataclass(frozen=True)
class ScenarioSpec:
    """A shopping scenario: words that trigger it and how it ranks products.

    ``attribute`` (a dotted path) ranks by that number relative to the best candidate;
    a product without it falls back to ``tags`` (1 when it has any of them). ``price``
    ranks cheap (``low``) or dear (``high``) first.
    """

    name: str
    words: tuple[str, ...]
    attribute: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    price: str = ""


@dataclass(frozen=True)
class Source:
    """Everything the catalog builder reads, in file order (ids follow this order)."""

    categories: tuple[Category, ...]
    groups: tuple[CategoryGroup, ...]
    kinds: tuple[Kind, ...]
    products: tuple[ProductSpec, ...]
    variant_styles: tuple[VariantStyle, ...]
    deals: tuple[Deal, ...]
    promo_templates: tuple[PromoTemplate, ...]
    promo_skip_categories: tuple[str, ...]
    recipes: tuple[RecipeSpec, ...]
    climates: dict[str, tuple[float, ...]] = field(hash=False)
    cities: tuple[CitySpec, ...]
    conditions: tuple[Condition, ...]
    seasonal: dict[int, tuple[str, ...]] = field(hash=False)


T = TypeVar("T")


def _record(cls: type[T], raw: Any, where: str, **extra: Any) -> T:
    """``cls(**raw)`` with unknown and missing fields reported; lists become tuples."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise DataError(f"{where}: unknown field(s) {', '.join(unknown)}",
                        hint=f"known: {', '.join(fields)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in {**extra, **raw}.items()}
    missing = [
        n for n, f in fields.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
    return cls(**values)


def _list(raw: Any, key: str, where: str) -> list[Any]:
    value = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(value, list):
        raise DataError(f"{where}: '{key}' must be a list")
    return value


def _label(raw: Any, i: int) -> str:
    name = raw.get("zh") or raw.get("id") or raw.get("name") or raw.get("product") if isinstance(raw, dict) else None
    return f"#{i + 1} {name}" if name else f"#{i + 1}"


# -- the builder's files --------------------------------------------------------------
def _products(root: Traversable | Path, categories: set[str]) -> list[ProductSpec]:
    """``products/*.yaml`` in name order: ``category``, optional ``defaults``, ``products``."""
    folder = root.joinpath("products")
    names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".yaml"))
    out: list[ProductSpec] = []
    for name in names:
        where = f"products/{name}"
        raw = read_yaml(root, "products", name)
        if not isinstance(raw, dict) or set(raw) - {"category", "defaults", "products"}:
            raise DataError(f"{where}: expected keys category, defaults (optional), products")
        category = raw.get("category")
        if category not in categories:
            raise DataError(f"{where}: unknown category {category!r}", hint="see categories.yaml")
        defaults = raw.get("defaults") or {}
        for i, item in enumerate(_list(raw, "products", where)):
            label = f"{where} {_label(item, i)}"
            if not isinstance(item, dict) or "category" in item:
                raise DataError(f"{label}: expected a mapping without 'category' (the file gives it)")
            merged = {**defaults, **item, "category": category}
            merged["attributes"] = {**defaults.get("attributes", {}), **item.get("attributes", {})}
            p = _record(ProductSpec, merged, label)
            if isinstance(p.price, bool) or not isinstance(p.price, int | float) or p.price <= 0:
                raise DataError(f"{label}: price must be a positive number, got {p.price!r}")
            out.append(dataclasses.replace(p, price=float(p.price)))
    return out


def _top_list(root: Traversable | Path, name: str) -> list[Any]:
    raw = read_yaml(root, name)
    if not isinstance(raw, list):
        raise DataError(f"{name}: expected a list")
    return raw


def _mapping(root: Traversable | Path, name: str) -> dict[Any, Any]:
    raw = read_yaml(root, name)
    if not isinstance(raw, dict):
        raise DataError(f"{name}: expected a mapping")
    return raw


def load_source(root: Traversable | Path | None = None) -> Source:
    """Read and cross-check every file the catalog builder needs (default: the packaged ones).

    Raises DataError naming the file and entry for unknown or missing fields, unknown
    categories or climates, products referenced by a name no product has, and duplicate
    product names.
    """
    root = root if root is not None else source_dir()
    cats = _mapping(root, "categories.yaml")
    categories = [_record(Category, c, f"categories.yaml categories {_label(c, i)}")
                  for i, c in enumerate(_list(cats, "categories", "categories.yaml"))]
    cat_ids = {c.id for c in categories}
    groups = [_record(CategoryGroup, g, f"categories.yaml groups {_label(g, i)}")
              for i, g in enumerate(_list(cats, "groups", "categories.yaml"))]
    kinds = [_record(Kind, k, f"categories.yaml kinds {_label(k, i)}")
             for i, k in enumerate(_list(cats, "kinds", "categories.yaml"))]
    for g in groups:
        if set(g.categories) - cat_ids:
            raise DataError(f"categories.yaml group {g.name}: unknown categories {sorted(set(g.categories) - cat_ids)}")
    for k in kinds:
        if k.category not in cat_ids:
            raise DataError(f"categories.yaml kind {k.zh}: unknown category {k.category!r}")

    products = _products(root, cat_ids)
    seen: set[str] = set()
    for p in products:
        if p.zh in seen:
            raise DataError(f"products: duplicate product name {p.zh!r}", hint="product names are unique")
        seen.add(p.zh)

    variant_styles = [_record(VariantStyle, v, f"variants.yaml {_label(v, i)}")
                      for i, v in enumerate(_top_list(root, "variants.yaml"))]
    promos = _mapping(root, "promotions.yaml")
    deals = [_record(Deal, d, f"promotions.yaml deals {_label(d, i)}")
             for i, d in enumerate(_list(promos, "deals", "promotions.yaml"))]
    seeded = promos.get("seeded")
    templates = [_record(PromoTemplate, t, f"promotions.yaml seeded templates #{i + 1}")
                 for i, t in enumerate(_list(seeded, "templates", "promotions.yaml seeded"))]
    for t in templates:
        if t.discount != "d" and not isinstance(t.discount, int | float | None):
            raise DataError(f"promotions.yaml template {t.title}: discount is d, a number or left out")
    skip = tuple(seeded.get("skip_categories") or ()) if isinstance(seeded, dict) else ()
    if set(skip) - cat_ids:
        raise DataError(f"promotions.yaml seeded skip_categories: unknown {sorted(set(skip) - cat_ids)}")
    recipes = [_record(RecipeSpec, r, f"recipes.yaml {_label(r, i)}")
               for i, r in enumerate(_top_list(root, "recipes.yaml"))]
    for d in deals:
        if d.product not in seen:
            raise DataError(f"promotions.yaml: deal {d.title!r} names unknown product {d.product!r}")
    for r in recipes:
        unknown = [name for name in r.ingredients if name not in seen]
        if unknown:
            raise DataError(f"recipes.yaml {r.zh}: unknown ingredient(s) {', '.join(unknown)}",
                            hint="an ingredient is a product's Chinese name")

    places = _mapping(root, "cities.yaml")
    climates = {str(k): tuple(v) for k, v in (places.get("climates") or {}).items()}
    cities = [_record(CitySpec, c, f"cities.yaml cities {_label(c, i)}")
              for i, c in enumerate(_list(places, "cities", "cities.yaml"))]
    for name, rain in climates.items():
        if len(rain) != 12:
            raise DataError(f"cities.yaml climate {name}: needs 12 monthly rain chances, got {len(rain)}")
    for c in cities:
        if c.climate not in climates:
            raise DataError(f"cities.yaml {c.zh}: unknown climate {c.climate!r}", hint=f"known: {', '.join(climates)}")
        if len(c.temps) != 12:
            raise DataError(f"cities.yaml {c.zh}: needs 12 monthly temperatures, got {len(c.temps)}")

    weather = _mapping(root, "weather.yaml")
    conditions = [_record(Condition, c, f"weather.yaml conditions {_label(c, i)}")
                  for i, c in enumerate(_list(weather, "conditions", "weather.yaml"))]
    seasonal = {int(month): tuple(names) for month, names in (weather.get("seasonal") or {}).items()}
    for month, names in seasonal.items():
        if not 1 <= month <= 12:
            raise DataError(f"weather.yaml seasonal: {month} is not a month (1-12)")
        unknown = [n for n in names if n not in seen]
        if unknown:
            raise DataError(f"weather.yaml seasonal month {month}: unknown product(s) {', '.join(unknown)}")

    return Source(
        categories=tuple(categories), groups=tuple(groups), kinds=tuple(kinds),
        products=tuple(products), variant_styles=tuple(variant_styles), deals=tuple(deals),
        promo_templates=tuple(templates), promo_skip_categories=skip, recipes=tuple(recipes),
        climates=climates, cities=tuple(cities), conditions=tuple(conditions), seasonal=seasonal,
    )


# -- the word lists catalog.py reads at run time ------------------------------------------
@functools.cache
def scenarios() -> tuple[ScenarioSpec, ...]:
    """``scenarios.yaml``: the scenarios ``Catalog.search`` ranks by, in file order."""
    raw = _mapping(source_dir(), "scenarios.yaml")
    out = []
    for name, spec in raw.items():
        if isinstance(spec, dict) and isinstance(spec.get("attribute"), str):
            spec = {**spec, "attribute": spec["attribute"].split(".")}  # "camera.score"
        s = _record(ScenarioSpec, spec, f"scenarios.yaml {name}", name=str(name))
        if s.price not in ("", "low", "high"):
            raise DataError(f"scenarios.yaml {name}: price must be low or high, got {s.price!r}")
        if bool(s.price) == bool(s.attribute or s.tags):
            raise DataError(f"scenarios.yaml {name}: give attribute and/or tags, or price")
        out.append(s)
    return tuple(out)


@functools.cache
def brand_aliases() -> dict[str, str]:
    """``brands.yaml`` flattened: a word users say -> the brand as products spell it."""
    raw = _mapping(source_dir(), "brands.yaml")
    return {str(word): str(brand) for brand, words in raw.items() for word in words}


@functools.cache
def day_offsets() -> dict[str, int]:
    """``dates.yaml``: relative day words -> days from today."""
    raw = read_yaml(source_dir(), "dates.yaml")
    if not isinstance(raw, dict) or not all(isinstance(v, int) for v in raw.values()):
        raise DataError("dates.yaml: expected word: days from today (an integer)")
    return {str(k): int(v) for k, v in raw.items()}
