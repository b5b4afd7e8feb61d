"""Fixtures of the server tests: the shop agent registered as a tool set, apps on the fake
model with a SQLite session store, a real uvicorn server on a free port, and the
throwaway PostgreSQL of the session-store tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient  # noqa: E402
from serve_fixtures import SHOP, LiveServer, shop_tools  # noqa: E402

from kapibara.memory import open_store  # noqa: E402
from kapibara.models.base import Model  # noqa: E402
from kapibara.serve import ServeConfig, create_app  # noqa: E402
from kapibara.toolsets import register_toolset, unregister_toolset  # noqa: E402


def _memory_fixtures() -> Any:
    """tests/memory/conftest.py under a name of its own (every conftest is "conftest")."""
    path = Path(__file__).resolve().parents[1] / "memory" / "conftest.py"
    spec = importlib.util.spec_from_file_location("kapibara_memory_test_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_pg = _memory_fixtures()
postgres_dsn = _pg.postgres_dsn
pg_clean = _pg.pg_clean


@pytest.fixture(autouse=True, scope="session")
def shop_toolset() -> Iterator[None]:
    register_toolset("serve-test-shop", lambda: shop_tools().specs(), toolset_factory=shop_tools)
    yield
    unregister_toolset("serve-test-shop")


AppFactory = Callable[..., Any]


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    """``make_app(model, **config)``: an app serving ``model`` as "m" and agent:shop."""

    def make(model: Model, store_url: str | None = None, embedder: Any = None, **config: Any) -> Any:
        store = open_store(store_url or str(tmp_path / "sessions.db"))
        return create_app({"m": model}, store=store, agents=(SHOP,), embedder=embedder,
                          config=ServeConfig(**config))

    return make


@pytest.fixture
def make_client(make_app: AppFactory) -> Callable[..., TestClient]:
    def make(model: Model, **kwargs: Any) -> TestClient:
        return TestClient(make_app(model, **kwargs))

    return make


@pytest.fixture
def live(make_app: AppFactory) -> Callable[..., LiveServer]:
    """``with live(model, **config) as server:`` a real server for ``model``."""
    return lambda model, **config: LiveServer(make_app(model, **config))
