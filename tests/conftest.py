"""Shared fixtures. ``real_model`` loads the bundled 0.5B once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The third-party benchmark data beside the checkout; skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_model():
    """The bundled Qwen2.5-Coder-0.5B on llama.cpp, loaded once for the whole session."""
    from kapibara.models.llamacpp import LlamaCppModel

    threads = int(os.environ.get("KAPIBARA_TEST_THREADS", "2"))
    return LlamaCppModel.from_name_or_path("qwen2.5-coder-0.5b", n_ctx=4096, threads=threads)
