"""``kapibara examples``: add, import, list, remove on a bank file; mistakes are one line."""

from __future__ import annotations

import json

from kapibara.cli import main


def test_add_list_remove(tmp_path, capsys):
    bank = str(tmp_path / "bank.jsonl")
    assert main(["examples", "add", "北京明天天气", "--call", 'get_weather {"city": "北京", "date": "明天"}',
                 "--bank", bank]) == 0
    assert main(["examples", "add", "你好", "--answer", "你好！", "--bank", bank]) == 0
    assert main(["examples", "add", "你好", "--answer", "你好！", "--bank", bank]) == 0  # idempotent
    out = capsys.readouterr().out
    assert "added" in out and "already there" in out
    rows = [json.loads(x) for x in (tmp_path / "bank.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["calls"][0]["name"] if "calls" in r else None for r in rows] == ["get_weather", None]
    assert main(["examples", "list", "--bank", bank]) == 0
    assert "get_weather" in capsys.readouterr().out
    assert main(["examples", "remove", rows[0]["id"][:6], "--bank", bank]) == 0
    assert len((tmp_path / "bank.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_import_cases_and_bad_cases(tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in [
        {"id": "a", "category": "w", "messages": [{"role": "user", "content": "上海天气"}], "tools": [],
         "expected": [{"get_weather": {"city": ["上海"], "date": ["", "today"]}}]},
        {"id": "b", "category": "n", "messages": [{"role": "user", "content": "你好"}], "tools": [], "expected": "no_call"},
    ]), encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "c", "input": "三文鱼有优惠吗", "context": [], "tools": "demo",
                               "expected": [[{"get_promotions": {"product_name": ["三文鱼"]}}]]}, ensure_ascii=False),
                   encoding="utf-8")
    bank = str(tmp_path / "bank.jsonl")
    assert main(["examples", "import", str(cases), "--bank", bank]) == 0
    assert main(["examples", "import", str(bad), "--bank", bank]) == 0
    rows = [json.loads(x) for x in (tmp_path / "bank.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["calls"] == [{"name": "get_weather", "arguments": {"city": "上海"}}]
    assert "calls" not in rows[1]  # a no-call example
    assert rows[2]["calls"][0]["name"] == "get_promotions" and rows[2]["source"] == "badcase:c"


def test_mistakes_are_one_line(tmp_path, capsys):
    bank = str(tmp_path / "bank.jsonl")
    assert main(["examples", "add", "x", "--bank", bank]) == 2
    assert main(["examples", "add", "x", "--call", "get_weather {not json", "--bank", bank]) == 2
    assert main(["examples", "import", str(tmp_path / "missing.jsonl"), "--bank", bank]) == 2
    assert main(["examples", "remove", "nope", "--bank", bank]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 4
