import json

import pytest

from kapibara.fileio import write_atomic, write_jsonl_atomic


def test_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    write_atomic(p, "旧")
    write_atomic(p, "新内容")
    assert p.read_text(encoding="utf-8") == "新内容"
    assert [x.name for x in p.parent.iterdir()] == ["a.txt"]


def test_failure_keeps_the_old_file(tmp_path):
    p = tmp_path / "rows.jsonl"
    write_jsonl_atomic(p, [{"a": "一"}])

    def rows():
        yield {"a": 1}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(p, rows())
    assert [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()] == [{"a": "一"}]
    assert [x.name for x in tmp_path.iterdir()] == ["rows.jsonl"]
