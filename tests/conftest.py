"""Shared fixtures. ``real_model`` loads the bundled 0.5B once per test session."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
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


class HashEmbedder:
    """Bag of character bigrams hashed into 256 dims: similar texts get similar vectors,
    with no model to load (tests of plumbing, not of embedding quality)."""

    name = "hash-test"

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, t in enumerate(texts):
            t = t.lower()
            for j in range(max(1, len(t) - 1)):
                h = int.from_bytes(hashlib.md5(t[j : j + 2].encode()).digest()[:4], "little")
                out[i, h % 256] += 1.0
        n = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(n == 0, 1, n)


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()
