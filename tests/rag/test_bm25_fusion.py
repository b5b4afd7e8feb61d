from kapibara.rag.bm25 import BM25, tokenize
from kapibara.rag.fusion import rrf


def test_tokenize_segments_chinese_and_stems_english():
    toks = tokenize("会员退货政策 Returns accepted within days")
    assert "会员" in toks and "退货" in toks and "政策" in toks
    assert "return" in toks and "accept" in toks and "within" in toks
    assert "的" not in tokenize("我的订单")


def test_bm25_ranks_the_matching_document_first_and_filters():
    docs = ["生鲜商品坏一赔一", "会员月卡十五元", "配送时间每天八点到九点", "delivery time is 8am to 9pm"]
    bm = BM25([tokenize(d) for d in docs], ["a", "b", "c", "d"])
    assert bm.search("会员多少钱", 2)[0][0] == "b"
    assert bm.search("配送时间", 1)[0][0] == "c"
    assert bm.search("Delivery times", 1)[0][0] == "d"
    import numpy as np

    mask = np.array([True, True, False, True])
    assert [i for i, _ in bm.search("配送时间", 4, allowed=mask)] == []
    assert bm.search("完全无关的词语", 3) == []


def test_rrf_rewards_agreement_between_rankings():
    fused = rrf([["a", "b", "c"], ["b", "c", "a"], ["b", "x"]])
    assert fused[0][0] == "b"
    assert {d for d, _ in fused} == {"a", "b", "c", "x"}
    assert rrf([["a"], ["b"]], weights=[1.0, 2.0])[0][0] == "b"
