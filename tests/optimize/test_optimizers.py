"""The three prompt optimisers on a scripted executor: each finds the change that fixes
the failures, never looks at the test split, and resumes from its score log."""

from __future__ import annotations

import json
import math

import pytest

from kapibara.evals.cases import Case
from kapibara.models.fake import FakeModel
from kapibara.optimize.apo import Apo, _Arm, ucb
from kapibara.optimize.base import instruction_of, with_instruction
from kapibara.optimize.fewshot import BadCaseFewShot
from kapibara.optimize.opro import Opro
from kapibara.optimize.program import Program, load_prompts
from kapibara.optimize.run import optimize, split
from kapibara.optimize.score import BudgetSpent, Scorer
from kapibara.prompts import Prompt

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "查询天气",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "天津"]


def cases(prefix: str, cities: list[str]) -> list[Case]:
    return [Case(f"{prefix}{i}", "weather", [{"role": "user", "content": f"{c}天气"}], TOOLS,
                 [[{"get_weather": {"city": [c]}}]]) for i, c in enumerate(cities)]


def executor(trigger: str) -> FakeModel:
    """Calls the tool only when ``trigger`` is in the system prompt; else answers from imagination."""
    def respond(messages, tools):
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        city = messages[-1]["content"].replace("天气", "")
        if trigger in system:
            return json.dumps({"name": "get_weather", "arguments": {"city": city}}, ensure_ascii=False)
        return f"{city}今天晴。"
    return FakeModel(respond)


START = Program({"zh": Prompt(role="你是助手。", language="zh")})


def test_opro_finds_a_better_instruction_and_keeps_it_only_if_validation_agrees(tmp_path):
    teacher = FakeModel(["你是助手。\n- 问天气时调用天气工具。", "你是一个很好的助手。"])
    scorer = Scorer(executor("天气工具"), log=tmp_path / "scores.jsonl")
    train, val = cases("t", CITIES[:4]), cases("v", CITIES[4:])
    best = Opro(scorer, teacher, iterations=1, candidates=2, batch=4).compile(START, train, val)
    assert "天气工具" in instruction_of(best.prompts["zh"])
    assert scorer.accuracy(best, val) == 1.0 and scorer.accuracy(START, val) == 0.0
    # the meta-prompt showed the teacher the earlier instruction and its score
    assert "你是助手。" in teacher.calls[0].messages[0]["content"] and "0.0" in teacher.calls[0].messages[0]["content"]


def test_fewshot_adds_the_example_that_fixes_failures(tmp_path):
    scorer = Scorer(executor("北京天气"), log=tmp_path / "scores.jsonl")  # the example's question is the trigger
    train, val = cases("t", ["北京", "上海"]), cases("v", CITIES[4:8])
    best = BadCaseFewShot(scorer, max_examples=2).compile(START, train, val)
    assert [e.user for e in best.prompts["zh"].examples][:1] == ["北京天气"]
    assert scorer.accuracy(best, val) == 1.0


def test_apo_edits_along_a_gradient_with_ucb(tmp_path):
    teacher = FakeModel(["说明没有提到天气工具。", "你是助手。\n- 天气问题要调用天气工具。", "你是助手。"])
    scorer = Scorer(executor("天气工具"), log=tmp_path / "scores.jsonl")
    best = Apo(scorer, teacher, iterations=1, beam=2, edits=2, pulls=4, batch=3).compile(START, [], cases("v", CITIES))
    assert "天气工具" in instruction_of(best.prompts["zh"])
    assert "说明没有提到天气工具" in teacher.calls[1].messages[0]["content"]  # the edit saw the gradient


def test_ucb_tries_every_arm_first_then_balances():
    a, b = _Arm(START, n=3, total=2.4), _Arm(START)
    assert ucb(b, 4, 1.0) == math.inf
    assert ucb(a, 4, 1.0) == pytest.approx(0.8 + math.sqrt(math.log(4) / 3))


def test_scores_are_cached_resumable_and_budgeted(tmp_path):
    log = tmp_path / "scores.jsonl"
    first = Scorer(executor("x"), log=log)
    first.accuracy(START, cases("v", CITIES[:3]))
    again = Scorer(FakeModel([]), log=log)  # a new process: nothing to run again
    assert again.accuracy(START, cases("v", CITIES[:3])) == 0.0 and again.spent == 0
    with pytest.raises(BudgetSpent):
        Scorer(executor("x"), budget=1).accuracy(START, cases("v", CITIES[:3]))


def test_the_run_never_selects_on_the_test_split(tmp_path):
    """optimize() scores the test cases only after the strategy: start and winner, once each."""
    test_cases = cases("test", CITIES[8:])
    report = optimize("fewshot", START, cases("d", CITIES[:8]), test_cases, executor("北京天气"), out=tmp_path,
                      val_fraction=0.5)
    scored = [json.loads(x)["case_id"] for x in (tmp_path / "scores.jsonl").read_text(encoding="utf-8").splitlines()]
    test_ids = {c.id for c in test_cases}
    first_test = next(i for i, cid in enumerate(scored) if cid in test_ids)
    assert all(cid in test_ids for cid in scored[first_test:])  # nothing but the final comparison after it
    assert report.winner["accuracy"] >= report.start["accuracy"]
    assert (tmp_path / "program" / "prompt.yaml").is_file() and (tmp_path / "report.md").is_file()
    loaded = Program.load(tmp_path / "program")
    assert loaded.prompts["zh"].examples == report_program_examples(tmp_path)


def report_program_examples(folder):
    return load_prompts(folder / "program" / "prompt.yaml")["zh"].examples


def test_split_is_seeded_and_stratified():
    cs = cases("a", CITIES)
    train, val = split(cs, 0.3, seed=1)
    assert len(val) == 3 and not {c.id for c in train} & {c.id for c in val}
    assert split(cs, 0.3, seed=1) == (train, val)


def test_with_instruction_keeps_examples():
    from kapibara.prompts.prompt import Example

    p = Prompt(role="旧角色", constraints=["旧要求"], examples=[Example(user="hi", assistant="hello")])
    q = with_instruction(p, "新角色\n- 要求一\n2. 要求二")
    assert q.role == "新角色" and q.constraints == ["要求一", "要求二"] and q.examples == p.examples
