"""``kapibara serve`` on the fake model: schemathesis finds no 5xx and no response outside
the schema; oversized bodies get 413, slow ones 408 and the server keeps answering;
8 clients for 20 s with the backend failing and a tool timing out in the middle lose no
session and get every error in OpenAI's format. The 5-minute run is ``bench/reliability.py``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import reliability_server as server  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("serve")
    with server.running(work, delay=0.02, body_timeout_s=1.0) as s:
        yield s, work


def test_limits(live) -> None:
    s, _ = live
    out = server.limits(s.url, 1.0)
    assert out["oversized_declared"]["status"] == 413 and out["oversized_declared"]["openai_error"]
    assert out["oversized_chunked"]["status"] == 413
    assert out["slow_body"]["status"] == 408 and out["slow_body"]["openai_error"]
    assert out["slow_body"]["after_s"] < 5
    assert out["healthz_after"]["status"] == 200


def test_schemathesis_finds_nothing(live) -> None:
    if shutil.which("st", path=str(Path(sys.executable).parent)) is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("schemathesis is not installed: CI must fuzz the server", pytrace=False)
        pytest.skip("schemathesis is not installed (pip install schemathesis)")
    s, work = live
    out = server.fuzz(s.url, work, max_examples=6, phases="fuzzing")
    assert out["responses"] > 20, out["summary"]
    assert out["server_errors"] == 0, out
    assert out["failures_by_check"] == {}, out
    assert out["exit_code"] == 0, out["summary"]


def test_load_with_faults(live) -> None:
    s, _ = live
    out = server.load(s, clients=8, duration=20, warmup=0.5)
    assert out["requests"] > 100
    assert out["lost_sessions"] == 0 and out["lost_turns"] == 0
    assert out["non_openai_errors"] == 0, out["non_openai_examples"]
    assert out["errors_by_code"], "the injected backend failure never reached a client"
    assert out["agent_turns_answered"] > 0
    assert out["rss_end_mb"] < out["rss_start_mb"] + 100


def test_a_session_conflict_is_a_409_in_openai_format() -> None:
    from kapibara.memory import SessionConflict
    from kapibara.serve.app import _failure

    err = _failure(None, SessionConflict("s", 3, 4))  # type: ignore[arg-type]
    assert err.status == 409 and err.code == "session_conflict"
    assert set(err.body()["error"]) == {"message", "type", "param", "code"}
