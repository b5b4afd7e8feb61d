from kapibara.rag.chunking import chunk_text, count_tokens


def test_count_tokens_counts_cjk_chars_and_words():
    assert count_tokens("我们每天配送 every day 8:00") == 6 + 2 + 2


def test_chunks_end_on_chinese_sentence_ends_and_respect_size():
    text = "第一句话很短。第二句话也很短！第三句问一下吗？第四句分号；第五句结束。" * 3
    spans = chunk_text(text, size=20, overlap=0)
    assert len(spans) > 2
    for s in spans:
        assert count_tokens(s.text) <= 20
        assert s.text[-1] in "。！？；"
        assert text[s.start : s.end] == s.text


def test_overlap_repeats_trailing_sentences():
    text = "".join(f"这是第{i}句话。" for i in range(12))
    spans = chunk_text(text, size=20, overlap=7)
    assert len(spans) >= 2
    first_tail = spans[0].text.split("。")[-2] + "。"
    assert spans[1].text.startswith(first_tail)


def test_markdown_headings_give_paths_and_split_chunks():
    text = "# 配送\n\n每天配送。\n\n## 时间\n\n早八点到晚九点。\n\n# 退货\n\n七天无理由。"
    spans = chunk_text(text, size=100, overlap=0)
    assert [s.heading for s in spans] == ["配送", "配送 > 时间", "退货"]
    assert "七天" in spans[2].text and "每天" not in spans[2].text


def test_english_sentences_and_long_sentence_is_cut():
    text = "Pi is 3.14 roughly. " + "word " * 50
    spans = chunk_text(text, size=10, overlap=0)
    assert spans[0].text == "Pi is 3.14 roughly."
    assert all(count_tokens(s.text) <= 10 for s in spans)
