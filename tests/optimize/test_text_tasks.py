"""LIAR / BBH as prompt tasks: loading, label parsing, and the optimisers on them."""

from __future__ import annotations

import pytest

from kapibara.evals.adapters import load_dataset, text_case
from kapibara.models.fake import FakeModel
from kapibara.optimize.base import expected_text
from kapibara.optimize.opro import Opro
from kapibara.optimize.score import Scorer
from kapibara.optimize.tasks import label_of, start_program, user_turn


def test_label_of_takes_the_first_allowed_label_as_a_whole_word():
    assert label_of("Yes, it is a lie.", ["No", "Yes"]) == "Yes"
    assert label_of("Answer: no", ["No", "Yes"]) == "No"
    assert label_of("Nobody knows; yes", ["No", "Yes"]) == "Yes"  # "Nobody" is not "No"
    assert label_of("I cannot tell.", ["No", "Yes"]) is None
    assert label_of("False.", ["False", "True"]) == "False"


def test_liar_and_bbh_load_as_text_cases():
    try:
        liar = load_dataset("liar:test")
        nav_train, nav_test = load_dataset("bbh:navigate:train"), load_dataset("bbh:navigate:test")
    except Exception as exc:  # the shared data folder is beside the repo, not in it
        pytest.skip(f"benchmark data not available: {exc}")
    assert len(liar) == 461 and {c.answer["target"] for c in liar} == {"Yes", "No"}
    assert liar[0].meta["kind"] == "text" and liar[0].meta["labels"] == ["No", "Yes"]
    assert len(nav_train) + len(nav_test) == 250
    assert not {c.id for c in nav_train} & {c.id for c in nav_test}
    assert load_dataset("bbh:navigate:test")[0].id == nav_test[0].id  # the split is seeded


def test_a_bad_bbh_spec_names_the_tasks():
    from kapibara.errors import DataError

    with pytest.raises(DataError, match="bbh:TASK"):
        load_dataset("bbh:nosuchtask:train")


def cases(prefix: str, n: int) -> list:
    return [text_case(f"{prefix}{i}", "liar", f"Statement: claim {i}", "Yes" if i % 2 else "No", ["No", "Yes"])
            for i in range(n)]


def executor() -> FakeModel:
    """Right only when the system prompt says to look at the claim's number parity."""
    def respond(messages, tools):
        system = messages[0]["content"]
        n = int(messages[-1]["content"].split("claim ")[1].split()[0])
        assert "Answer with one of: No, Yes." in messages[-1]["content"]
        if "parity" in system:
            return "Yes" if n % 2 else "No"
        return "No"
    return FakeModel(respond)


def test_text_cases_are_scored_by_their_label(tmp_path):
    scorer = Scorer(executor(), log=tmp_path / "scores.jsonl")
    start = start_program("liar")
    outcomes = scorer.outcomes(start, cases("v", 4))
    assert [o.correct for o in outcomes] == [True, False, True, False]
    assert outcomes[1].rule == "wrong_label" and expected_text(cases("v", 2)[1]) == "Yes"
    assert user_turn(cases("v", 1)[0]).endswith("Answer with one of: No, Yes.")


def test_opro_improves_a_text_task_instruction(tmp_path):
    teacher = FakeModel(["Decide by the parity of the claim's number.", "Think about it."])
    scorer = Scorer(executor(), log=tmp_path / "scores.jsonl")
    best = Opro(scorer, teacher, language="en", iterations=1, candidates=2, batch=6).compile(
        start_program("liar"), cases("t", 4), cases("v", 6))
    assert "parity" in best.prompts["en"].role
    assert scorer.accuracy(best, cases("x", 6)) == 1.0


def test_a_limit_spreads_over_categories_in_file_order():
    from kapibara.optimize.run import spread

    cs = [text_case(f"a{i}", "a", "x", "No", ["No", "Yes"]) for i in range(5)] + \
         [text_case(f"b{i}", "b", "x", "No", ["No", "Yes"]) for i in range(2)]
    assert [c.id for c in spread(cs, 4)] == ["a0", "b0", "a1", "b1"]
    assert [c.id for c in spread(cs, 6)] == ["a0", "b0", "a1", "b1", "a2", "a3"]
    assert len(spread(cs, None)) == 7 and len(spread(cs, 99)) == 7
