import json

import pytest

from kapibara.rag.loaders import LoadError, html_main_text, iter_files, load_file


def test_html_main_text_drops_chrome_and_keeps_headings():
    html = """<html><head><title>Returns</title><script>var x=1;</script></head><body>
    <nav>Home | Shop</nav><main><h1>退货政策</h1><p>七天内可退货。</p></main><footer>© shop</footer></body></html>"""
    title, text = html_main_text(html)
    assert title == "Returns"
    assert "# 退货政策" in text and "七天内可退货" in text
    assert "Home" not in text and "var x" not in text and "©" not in text


def test_json_and_jsonl_records_become_documents(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"id": 7, "title": "T", "text": "正文内容"}]), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"content": "one"}\n\n{"content": "two"}\n', encoding="utf-8")
    docs = load_file(tmp_path / "a.json")
    assert docs[0].source.endswith("a.json#7") and docs[0].title == "T" and docs[0].text == "正文内容"
    assert [d.text for d in load_file(tmp_path / "b.jsonl")] == ["one", "two"]


def test_pdf_text_is_extracted(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    w = pypdf.PdfWriter()
    page = w.add_blank_page(200, 200)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf 20 100 Td (Fresh food refund policy) Tj ET")
    page[NameObject("/Contents")] = w._add_object(stream)
    with open(tmp_path / "p.pdf", "wb") as f:
        w.write(f)
    docs = load_file(tmp_path / "p.pdf")
    assert "Fresh food refund policy" in docs[0].text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bin.txt", b"abc\x00\x01\x02", "binary"),
        ("gbk.txt", "退货".encode("gbk"), "UTF-8"),
        ("bad.json", b"{not json", "invalid JSON"),
        ("x.exe", b"MZ", "unsupported"),
        ("bad.pdf", b"%PDF-garbage", "PDF"),
    ],
)
def test_bad_files_raise_load_error_with_reason(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load_file(tmp_path / name)


def test_too_large_file_is_refused(tmp_path):
    (tmp_path / "big.txt").write_text("x" * 100)
    with pytest.raises(LoadError, match="too large"):
        load_file(tmp_path / "big.txt", max_bytes=10)


def test_iter_files_skips_hidden(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("a")
    assert [p.name for p in iter_files(tmp_path)] == ["a.md"]
