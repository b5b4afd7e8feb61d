"""sentence-transformers models from a local path (e.g. a downloaded bge-m3 folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kapibara.errors import ConfigError, require


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a directory; never downloads."""

    def __init__(self, path: str, *, device: str = "cpu") -> None:
        if not Path(path).is_dir():
            raise ConfigError(
                f"embedding model folder {path!r} not found",
                hint="give the path of a sentence-transformers model directory",
            )
        st = require("sentence_transformers", "sentence-transformers", "sentence-transformers")
        self.name = f"st:{Path(path).name}"
        self._model = st.SentenceTransformer(path, device=device, local_files_only=True)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed texts with the model's own normalisation."""
        out = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)
