import json

import pytest

from kapibara.fileio import atomic_path, write_atomic, write_jsonl_atomic


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


def test_atomic_path_renames_what_the_writer_wrote_under_the_given_suffix(tmp_path):
    p = tmp_path / "plot.png"
    with atomic_path(p, suffix=".png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".png") and tmp != p
        tmp.write_bytes(b"\x89PNG")
        assert not p.exists()  # nothing visible until the block ends
    assert p.read_bytes() == b"\x89PNG"
    assert [x.name for x in tmp_path.iterdir()] == ["plot.png"]
    assert p.stat().st_mode & 0o644 == 0o644  # not mkstemp's 0600


def test_atomic_path_failure_keeps_the_old_file_and_removes_the_temp(tmp_path):
    p = tmp_path / "index.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["index.bin"]
