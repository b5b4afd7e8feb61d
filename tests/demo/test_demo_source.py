"""The YAML files under kapibara/demo/data/source are the demo's one source of data: the
words catalog.py uses come from them, its references into them resolve, broken files
stop the build naming file and entry, and an added product reaches the database."""

from __future__ import annotations

import ast
import datetime as dt
import importlib.resources
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kapibara.demo import Catalog
from kapibara.demo import catalog as catalog_module
from kapibara.demo import tools as tools_module
from kapibara.demo.build import build_rows, write_db
from kapibara.demo.source import Source, load_source, source_dir
from kapibara.errors import DataError

_CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def source() -> Source:
    return load_source()


def _raw(name: str) -> Any:
    """A source file read as plain YAML, independently of the loader under test."""
    return yaml.safe_load(source_dir().joinpath(name).read_text(encoding="utf-8"))


def _has(attributes: dict[str, Any], path: tuple[str, ...]) -> bool:
    value: Any = attributes
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return isinstance(value, int | float)


def test_catalog_py_types_no_domain_word_of_its_own() -> None:
    """Chinese text in catalog.py is only docstrings, comments and date-pattern regexes;
    the scenario, brand, date and weather words live in the data files."""
    tree = ast.parse(Path(catalog_module.__file__).read_text(encoding="utf-8"))
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    regex_args = {
        id(arg) for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name) and n.func.value.id == "re"
        for arg in n.args
    }
    words = [
        n.value for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and _CJK.search(n.value)
        and id(n) not in docstrings and id(n) not in regex_args
    ]
    assert words == []


def test_every_scenario_and_brand_word_catalog_py_uses_is_in_the_data_files() -> None:
    scenarios = _raw("scenarios.yaml")
    used = [(s.name, list(s.keywords)) for s in catalog_module.scenarios()]
    assert used == [(name, spec["words"]) for name, spec in scenarios.items()]
    brands = _raw("brands.yaml")
    words = {catalog_module.normalize(w): brand for brand, ws in brands.items() for w in ws}
    assert catalog_module._brand_words() == words
    # the word the tools use to find the cheapest item triggers exactly that scenario
    assert catalog_module.scenario_names(tools_module.CHEAP_WORD) == ["cheap"]


def test_scenarios_rank_by_tags_and_attributes_the_products_have(source: Source) -> None:
    tags = {t for p in source.products for t in p.tags}
    for s in catalog_module.source.scenarios():
        assert set(s.tags) <= tags, (s.name, set(s.tags) - tags)
        if s.attribute:
            assert any(_has(p.attributes, s.attribute) for p in source.products), s.name


def test_brand_words_name_brands_the_products_have(source: Source) -> None:
    brands = {p.brand for p in source.products}
    assert set(_raw("brands.yaml")) <= brands


def test_the_weather_model_uses_exactly_the_conditions_in_weather_yaml(source: Source) -> None:
    assert sorted(catalog_module.WEATHER_KEYS) == sorted(c.en for c in source.conditions)


def test_every_date_word_resolves(catalog: Catalog) -> None:
    for word, days in _raw("dates.yaml").items():
        assert catalog.resolve_date(word) == catalog.today() + dt.timedelta(days=days), word


# -- broken files stop the build, naming the file and the entry -------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    with importlib.resources.as_file(source_dir()) as src:
        shutil.copytree(src, tmp_path / "source")
    return tmp_path / "source"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("products/03-fruit.yaml", "  - zh: 香蕉\n", "  - zh: 香蕉\n    colour: yellow\n",
         r"products/03-fruit.yaml #5 香蕉: unknown field\(s\) colour"),
        ("products/03-fruit.yaml", "    price: 12.9\n", "    price: 12.9\n    price: 13.9\n", "duplicate key 'price'"),
        ("products/03-fruit.yaml", "  - zh: 香蕉\n", "  - zh: 车厘子\n", "duplicate product name '车厘子'"),
        ("products/03-fruit.yaml", "category: fruit", "category: fruits", "unknown category 'fruits'"),
        ("recipes.yaml", "{西红柿: 2个,", "{番茄汁: 2个,", r"西红柿炒鸡蛋: unknown ingredient\(s\) 番茄汁"),
        ("promotions.yaml", "{product: 车厘子, title: 满减", "{product: 樱桃, title: 满减", "unknown product '樱桃'"),
        ("cities.yaml", "climate: monsoon", "climate: moonsoon", "北京: unknown climate 'moonsoon'"),
    ],
)
def test_a_broken_file_is_a_data_error_naming_it(copy: Path, file: str, old: str, new: str, message: str) -> None:
    _edit(copy / file, old, new)
    with pytest.raises(DataError, match=message):
        load_source(copy)


def test_an_added_product_reaches_the_database(copy: Path, tmp_path: Path) -> None:
    before = build_rows(load_source(copy))
    with (copy / "products" / "03-fruit.yaml").open("a", encoding="utf-8") as fh:
        fh.write("  - zh: 黄桃\n    en: Yellow Peaches\n    price: 25.9\n    aliases: [peach]\n"
                 "    attributes: {origin: 山东蒙阴, weight: 2.5kg, shelf_life: 5天, storage_method: 冷藏}\n")
    db = write_db(tmp_path / "x.db", source=copy)
    peach = Catalog(db).find_product("peach")
    assert peach is not None and peach.name_zh == "黄桃" and peach.unit == "份"  # the file's default unit
    assert peach.attributes["origin"] == "山东蒙阴" and peach.category_id == "fruit"
    assert Catalog(db).counts()["products"] == len(before["products"]) + 1
