"""The repair ladder on REAL malformed outputs of the bundled 0.5B.

``fixtures/malformed_outputs.jsonl`` holds what Qwen2.5-Coder-0.5B (Q4_K_M) wrote for
tricky grocery prompts in both protocols (collected by ``fixtures/collect_malformed.py``,
greedy decoding; rows with a ``source`` come from the traces of real ``kapibara run``
sessions on the demo). Each is replayed through FakeModel, so these tests are fast and exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grocery_standin import call, grocery_tools

from kapibara.agent import Agent
from kapibara.models.fake import FakeModel

ROWS = [
    json.loads(line)
    for line in (Path(__file__).parent / "fixtures" / "malformed_outputs.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip()
]
MALFORMED = [r for r in ROWS if r["strict_error"]]
GOOD = {"native": call("view_cart"), "react": "Thought: 看购物车\nAction: view_cart\nAction Input: {}"}


def _id(row: dict) -> str:
    return f"{row['protocol']}-{row['prompt'][:12]}"


def test_fixtures_hold_real_malformed_outputs_of_both_protocols():
    assert {r["protocol"] for r in MALFORMED} == {"native", "react"}
    assert all(r["model"].startswith("qwen2.5-coder-0.5b") for r in ROWS)


@pytest.mark.parametrize("row", MALFORMED, ids=_id)
def test_strict_parsing_rejects_it(row):
    agent = Agent(FakeModel([row["raw"]]), grocery_tools(), protocol=row["protocol"], repair=False)
    d = agent.decide([{"role": "user", "content": row["prompt"]}])
    assert d.malformed and d.repairs == []


@pytest.mark.parametrize("row", MALFORMED, ids=_id)
def test_the_ladder_repairs_it(row):
    """Repaired in place (lenient parse, fuzzy names) or, failing that, by the re-ask."""
    model = FakeModel([row["raw"]], default=GOOD[row["protocol"]])
    d = Agent(model, grocery_tools(), protocol=row["protocol"]).decide(
        [{"role": "user", "content": row["prompt"]}]
    )
    assert not d.malformed, d.error
    assert d.repairs and d.repairs[0] in ("lenient_parse", "fuzzy_name", "reask")
    if len(model.calls) == 1:  # fixed without asking the model again
        assert set(d.repairs) <= {"lenient_parse", "fuzzy_name", "drop_ungrounded", "vocabulary", "counts"}
        assert d.calls  # a real call was recovered from the text
    else:
        assert "reask" in d.repairs
        assert row["raw"][:20] in model.calls[1].messages[-2]["content"]  # it saw its output
