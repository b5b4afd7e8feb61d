"""``kapibara run`` ends with a pending action; ``--approve ID`` in a later process runs it;
``kapibara chat`` asks y/n."""

from __future__ import annotations

import json

import pytest

from kapibara.memory import open_store

ADD = '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "五常大米", "quantity": 2}}</tool_call>'
DEMO = ["--tools", "kapibara.demo:demo_toolset"]


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("KAPIBARA_HOME", str(tmp_path))
    monkeypatch.delenv("KAPIBARA_SESSION_DB", raising=False)
    monkeypatch.delenv("KAPIBARA_MODEL", raising=False)
    monkeypatch.delenv("KAPIBARA_SIDE_EFFECTS", raising=False)
    from kapibara.cli import main

    return main


def test_run_pending_then_approve_in_a_new_process(cli, capsys, tmp_path):
    assert cli(["run", "把两袋五常大米加入购物车", "-m", f"fake:{ADD}", "--json", "-s", "s1",
                "--side-effects", "confirm", *DEMO]) == 0
    out = json.loads(capsys.readouterr().out)
    action = out["pending_action"]
    assert action["calls"][0]["arguments"] == {"product_name": "五常大米", "quantity": 2}
    assert out["tool_calls"] == [{"name": "add_to_cart", "arguments": {"product_name": "五常大米", "quantity": 2}}]
    db = tmp_path / "sessions.db"
    assert open_store(str(db)).get_state("s1").get("cart") is None
    assert cli(["run", "-m", "fake:已加入。", "--json", "-s", "s1", "--approve", action["id"], *DEMO]) == 0
    out = json.loads(capsys.readouterr().out)
    # the add renders its own answer (the demo's cart_answer): the model is not asked
    assert out["answer"].startswith("已加入购物车：五常大米 ×2") and out["pending_action"] is None
    assert open_store(str(db)).get_state("s1")["cart"][0]["quantity"] == 2


def test_deny_from_the_command_line(cli, capsys, tmp_path):
    assert cli(["run", "把两袋五常大米加入购物车", "-m", f"fake:{ADD}", "--json", "-s", "s2",
                "--side-effects", "add_to_cart=deny", *DEMO]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pending_action"] is None
    assert open_store(str(tmp_path / "sessions.db")).get_state("s2").get("cart") is None


def test_approve_needs_a_session_and_a_bad_mode_is_one_line(cli, capsys):
    assert cli(["run", "-m", "fake:x", "--approve", "act_1", *DEMO]) != 0
    assert cli(["run", "hi", "-m", "fake:x", "--side-effects", "sometimes", *DEMO]) != 0
    err = capsys.readouterr().err
    assert "--session" in err and "allow, confirm or deny" in err


def test_chat_asks_before_the_cart_changes(cli, capsys, monkeypatch, tmp_path):
    answers = iter(["把两袋五常大米加入购物车", "n", "/exit"])
    monkeypatch.setattr("rich.console.Console.input", lambda self, *a, **k: next(answers))
    assert cli(["chat", "-m", f"fake:{ADD}", "-s", "c1", "--side-effects", "confirm", *DEMO]) in (0, None)
    out = capsys.readouterr().out
    assert "add_to_cart" in out and "approve" not in out.split("用户拒绝")[-1]
    assert open_store(str(tmp_path / "sessions.db")).get_state("c1").get("cart") is None
