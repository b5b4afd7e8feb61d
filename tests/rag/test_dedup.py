from kapibara.rag.dedup import MinHasher, jaccard, near_duplicates


def test_near_duplicates_found_in_chinese_and_english():
    texts = [
        "会员每月享有 10 次免配送费，全场会员价商品最低 8 折。",
        "会员每月享有10次免配送费，全场会员价商品最低8折！",  # spacing/punctuation differ
        "非生鲜商品在签收后 7 天内可以无理由退货。",
        "Orders of 59 yuan or more ship free; smaller orders pay a fee.",
        "Orders of 59 yuan or more ship free; smaller orders pay a fee!",
    ]
    assert near_duplicates(texts, threshold=0.7) == [1, 4]


def test_distinct_texts_are_kept_and_similarity_is_graded():
    h = MinHasher()
    a = h.signature("生鲜商品坏一赔一，二十四小时内反馈")
    b = h.signature("会员月卡十五元，年卡一百四十八元")
    assert jaccard(a, a) == 1.0
    assert jaccard(a, b) < 0.2
    assert near_duplicates(["abc def ghi", "xyz uvw rst"]) == []
