import json
import re
from pathlib import Path

import pytest

from kapibara.cli import main
from kapibara.demo import demo_toolset
from kapibara.errors import ConfigError, DataError
from kapibara.finetune.teacher import Planner, generate, parse_lines
from kapibara.finetune.verify import CallVerifier
from kapibara.models.fake import FakeModel

_MUST_ZH = re.compile(r"每条都必须包含：(.+?)。")
_MUST_EN = re.compile(r"must contain, word for word: (.+?)\. Do not")


def scripted(messages, tools):
    """A teacher that answers like a small model: good lines, one that drops a value,
    one in the wrong language, and a no-tool line that names a product."""
    prompt = messages[-1]["content"]
    if "顾客发给助手的消息" in prompt or "Here is a message a shopper sent" in prompt:
        zh = "顾客" in prompt
        m = (_MUST_ZH if zh else _MUST_EN).search(prompt)
        values = re.split("、" if zh else ", ", m.group(1)) if m else []
        joined = " ".join(values)
        if zh:
            return f"1. 请问{joined}怎么样呀\n- 麻烦帮我看看{joined}\n随便看看\nhello there friend"
        return f"1. hey, {joined} please\n- could you check {joined} for me\njust browsing\n你好"
    if "道谢" in prompt or "thanks or goodbye" in prompt:
        return "谢谢你啦\n太感谢了，再见\n推荐一款小米11 Ultra" if "道谢" in prompt else \
            "Thanks a lot!\nWhat is the capital of France?\nAdd 小米11 Ultra please"
    return "这个多少钱\n那个有优惠吗\n帮我查查北京" if "顾客想" in prompt or "还需要" in prompt or "没有说明" in prompt \
        else "Hello!\nWhat is the capital of France?\nIs it cheaper?"


def test_parse_lines_strips_numbering_bullets_and_quotes():
    assert parse_lines('1. "你好"\n- 在吗\n（3）哈喽\n\n1. "你好"') == ["你好", "在吗", "哈喽"]


def test_generated_requests_are_checked_verified_and_kept_off_the_test_split(tmp_path):
    samples, report = generate(FakeModel(scripted), 25, cache=tmp_path / "c.jsonl", max_prompts=30, seed=5)
    assert samples
    verifier = CallVerifier(demo_toolset())
    assert all(verifier.verify(s).ok for s in samples)
    assert all(s.source.startswith("teacher:") for s in samples)
    assert report.rejected["language"] > 0 and report.rejected["call: a value left out"] > 0
    assert report.rejected["no_tool: names a domain value"] + report.rejected["missing: names a domain value"] > 0
    texts = [s.last_user for s in samples]
    assert "What is the capital of France?" not in texts  # test no_call-032, paraphrased or not
    assert report.build.leaks_remaining == 0
    for s in samples:
        for value in (s.target_calls[0].arguments.values() if s.target_calls else []):
            if isinstance(value, str) and value and s.last_user.isascii() == value.isascii():
                assert value.lower().replace(" ", "") in s.last_user.lower().replace(" ", "")


def test_a_rerun_reads_the_cache_and_asks_nothing(tmp_path):
    cache = tmp_path / "c.jsonl"
    first, _ = generate(FakeModel(scripted), 10, cache=cache, max_prompts=8, seed=2)

    def refuse(messages, tools):
        raise AssertionError("the teacher was asked again")

    again, report = generate(FakeModel(refuse), 10, cache=cache, max_prompts=8, seed=2)
    assert report.cached == report.prompts > 0
    assert [s.to_dict() for s in again] == [s.to_dict() for s in first]


def test_a_torn_cache_line_is_skipped(tmp_path):
    cache = tmp_path / "c.jsonl"
    generate(FakeModel(scripted), 3, cache=cache, max_prompts=2, seed=2)
    with cache.open("a", encoding="utf-8") as f:
        f.write('{"key": "abc", "outp')
    _, report = generate(FakeModel(scripted), 3, cache=cache, max_prompts=2, seed=2)
    assert report.cached == 2


def test_the_plan_is_deterministic_and_prompts_name_the_values():
    a = [t.prompt for t in (Planner(seed=9).task() for _ in range(12)) if t]
    b = [t.prompt for t in (Planner(seed=9).task() for _ in range(12)) if t]
    assert a == b
    calls = [t for t in (Planner(seed=9).task() for _ in range(30)) if t and t.kind == "call" and t.must]
    assert calls and all(all(v in t.prompt for v in t.must) for t in calls)


def test_n_must_be_positive():
    with pytest.raises(DataError):
        generate(FakeModel(scripted), 0)


def test_cli_generate_with_a_fake_teacher(tmp_path: Path, capsys, monkeypatch):
    import kapibara.models.registry as registry

    monkeypatch.setattr(registry, "load_configured", lambda spec=None, **kw: FakeModel(scripted))
    out = tmp_path / "t.jsonl"
    assert main(["data", "generate", "--teacher", "fake:x", "--n", "5", "--max-prompts", "6", "--out", str(out),
                 "--report", str(tmp_path / "r.json")]) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows and (tmp_path / "t.jsonl.cache.jsonl").exists()
    assert json.loads((tmp_path / "r.json").read_text())["build"]["leaks_remaining"] == 0


def test_cli_generate_bad_teacher_spec_is_one_line(tmp_path: Path, capsys):
    assert main(["data", "generate", "--teacher", "llamacpp:", "--n", "1", "--out", str(tmp_path / "t.jsonl")]) == 2
    assert "error" in capsys.readouterr().err
    assert ConfigError  # the spec error is a KapibaraError
