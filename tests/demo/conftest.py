"""Fixtures for the demo domain: a catalog with a fixed "today" so dates are reproducible."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from kapibara.demo import Catalog, set_catalog

TODAY = dt.date(2026, 11, 29)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog(today=TODAY)


@pytest.fixture
def tools_catalog(catalog: Catalog) -> Iterator[Catalog]:
    """Make the tools read the fixed-date catalog for one test."""
    old = set_catalog(catalog)
    yield catalog
    set_catalog(old)
