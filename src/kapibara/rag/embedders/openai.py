"""Any OpenAI-compatible ``/v1/embeddings`` server (vLLM, llama.cpp server, Ollama, TEI)."""

from __future__ import annotations

import os

import httpx
import numpy as np

from kapibara.errors import BackendError


class OpenAIEmbedder:
    """POSTs batches to ``{base_url}/embeddings``."""

    def __init__(self, model: str, base_url: str, api_key: str | None = None, timeout_s: float = 60) -> None:
        self.name = f"openai:{model}"
        self.model = model
        self.url = base_url.rstrip("/") + "/embeddings"
        key = api_key or os.environ.get("OPENAI_API_KEY", "")
        self._client = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {key}"} if key else {})

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """One request per call; rows come back in input order."""
        try:
            resp = self._client.post(self.url, json={"model": self.model, "input": list(texts)})
            resp.raise_for_status()
            data = sorted(resp.json()["data"], key=lambda d: d["index"])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise BackendError(f"embedding server {self.url} failed: {exc}", hint="is the server running?") from exc
        return np.asarray([d["embedding"] for d in data], dtype=np.float32)
