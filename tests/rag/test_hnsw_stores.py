"""The embedded HNSW store and the Chroma server store pass the same tests."""

import numpy as np
import pytest

from kapibara.rag.hnsw import HnswIndex, exact_search
from kapibara.rag.stores import VectorStore
from kapibara.rag.stores.sqlite import SqliteHnswStore


def unit(rng, n, d=64):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_hnsw_recall_matches_exact_search_and_survives_reload(tmp_path):
    rng = np.random.default_rng(0)
    data = unit(rng, 2000)
    idx = HnswIndex(64, tmp_path / "h.bin", ef=100)
    idx.add(list(range(2000)), data)
    idx.save()
    queries = unit(rng, 50)
    exact, _ = exact_search(data, queries, 10)
    again = HnswIndex(64, tmp_path / "h.bin", ef=100)
    hits = sum(len(set(again.search(q, 10)[0]) & set(exact[i])) for i, q in enumerate(queries))
    assert hits / 500 >= 0.95
    assert len(again) == 2000


def test_hnsw_delete_is_a_tombstone_that_persists(tmp_path):
    rng = np.random.default_rng(1)
    data = unit(rng, 100)
    idx = HnswIndex(64, tmp_path / "h.bin")
    idx.add(list(range(100)), data)
    idx.delete([5])
    idx.save()
    again = HnswIndex(64, tmp_path / "h.bin")
    labels, _ = again.search(data[5], 3)
    assert 5 not in labels and len(again) == 99


def test_hnsw_save_that_fails_leaves_the_saved_index_and_no_temp_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    data = unit(rng, 20)
    idx = HnswIndex(64, tmp_path / "h.bin")
    idx.add(list(range(10)), data[:10])
    idx.save()
    saved = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    idx.add(list(range(10, 20)), data[10:])
    idx.delete([3])

    class DiskFull:  # hnswlib's Index is a C type: wrap it to make save_index fail
        def __init__(self, index):
            self._index = index

        def __getattr__(self, name):
            return getattr(self._index, name)

        def save_index(self, path: str) -> None:
            with open(path, "wb") as fh:
                fh.write(b"half")
            raise RuntimeError("disk full")

    monkeypatch.setattr(idx, "_index", DiskFull(idx._index))
    with pytest.raises(RuntimeError):
        idx.save()
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == saved
    assert len(HnswIndex(64, tmp_path / "h.bin")) == 10


@pytest.fixture(params=["sqlite", "chroma"])
def store(request, tmp_path) -> VectorStore:
    if request.param == "sqlite":
        return SqliteHnswStore(tmp_path / "vec", 64)
    host, port = request.getfixturevalue("chroma_server")
    from kapibara.rag.stores.chroma import ChromaStore

    return ChromaStore(f"test-{request.node.name[-20:].strip('[]')}-{tmp_path.name[-6:]}".replace("[", "-"), host=host, port=port)


def test_store_add_search_upsert_delete(store):
    rng = np.random.default_rng(2)
    vecs = unit(rng, 30)
    ids = [f"c{i}" for i in range(30)]
    store.add(ids, vecs, [{"source": "a.md" if i < 10 else "b.md", "n": i} for i in range(30)])
    assert store.count() == 30
    top = store.search(vecs[3], 3)
    assert top[0][0] == "c3" and top[0][1] == pytest.approx(1.0, abs=1e-3)
    # Upsert replaces c3's vector: the old one is no longer found.
    store.add(["c3"], vecs[4:5], [{"source": "a.md", "n": 3}])
    assert store.count() == 30
    assert {i for i, _ in store.search(vecs[4], 2)} == {"c3", "c4"}
    store.delete(["c4", "nope"])
    assert store.count() == 29
    assert "c4" not in [i for i, _ in store.search(vecs[4], 5)]


def test_store_metadata_filter_returns_only_matches(store):
    rng = np.random.default_rng(3)
    vecs = unit(rng, 200)
    store.add([f"d{i}" for i in range(200)], vecs, [{"source": f"s{i % 20}"} for i in range(200)])
    # The nearest vectors mostly belong to other sources: the filter must oversample.
    res = store.search(vecs[0], 5, where={"source": "s7"})
    assert len(res) == 5 and all(int(i[1:]) % 20 == 7 for i, _ in res)
    res = store.search(vecs[0], 3, where={"source": {"$in": ["s1", "s2"]}})
    assert len(res) == 3 and all(int(i[1:]) % 20 in (1, 2) for i, _ in res)


def test_embedded_store_persists_across_reopen(tmp_path):
    rng = np.random.default_rng(4)
    vecs = unit(rng, 10)
    s = SqliteHnswStore(tmp_path / "vec", 64)
    s.add([f"x{i}" for i in range(10)], vecs, [{} for _ in range(10)])
    s.delete(["x1"])
    s.close()
    s2 = SqliteHnswStore(tmp_path / "vec", 64)
    assert s2.count() == 9
    assert s2.search(vecs[2], 1)[0][0] == "x2"
    s2.add(["x11"], vecs[1:2], [{}])
    assert s2.search(vecs[1], 1)[0][0] == "x11"
