"""Agent turns killed with SIGKILL (decode, tool call, inside a store write) lose no
committed turn, leave every session readable and the trace consistent with the history;
several processes writing at once lose nothing and never interleave a session.
The full run (100 turns per store) is ``bench/reliability.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
import reliability_durability as durability


def _assert_durable(report: dict) -> None:
    assert report["child_crashes"] == []
    assert report["committed"] >= 1
    assert report["lost"] == 0, report["problems"]
    assert report["unreadable"] == 0, report["problems"]
    assert report["disagree"] == 0, report["problems"]
    assert report["state_missing"] == 0, report["problems"]
    assert set(report["kills_by_phase"]) == {"decode", "tool", "write"}, report["kills_by_phase"]


def test_sqlite_survives_kills_in_every_phase(tmp_path: Path) -> None:
    report = durability.kill_loop(str(tmp_path / "s.db"), tmp_path / "w", turns=3, max_kills=3, delay=0.05, seed=7,
                                    skip=(1, 1))
    _assert_durable(report)


@pytest.mark.postgres
def test_postgres_survives_kills_in_every_phase(pg_clean: str, tmp_path: Path) -> None:
    report = durability.kill_loop(pg_clean, tmp_path / "w", turns=3, max_kills=3, delay=0.05, seed=8, skip=(1, 1))
    _assert_durable(report)


def test_concurrent_processes_lose_nothing_and_never_interleave(tmp_path: Path) -> None:
    report = durability.concurrent_writers(str(tmp_path / "s.db"), tmp_path / "w", different=1, same=2, turns=3)
    assert report["other_errors"] == []
    assert report["locked_errors"] == 0
    assert report["lost"] == 0 and report["unreadable"] == 0
    assert report["interleaved"] == 0
    if report["conflicts"]:
        assert "changed by another writer" in report["conflict_message"]
