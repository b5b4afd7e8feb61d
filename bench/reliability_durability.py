"""Durability of agent sessions under ``kill -9`` (part of ``bench/reliability.py``).

A child process runs agent turns on one session; the parent SIGKILLs it at a chosen
moment, then starts a new child that resumes the same session, until enough turns are
committed. A turn is *committed* when ``Agent.run`` returned to the caller: the child then
appends ``k<TAB>answer`` to a commit log and fsyncs it, so the parent knows exactly what a
user was told. Kill points:

``decode``  the parent kills while the model generates (the fake model sleeps ``delay`` there)
``tool``    the parent kills while a tool runs (the tool sleeps ``delay``)
``write``   the child kills itself *inside* a session-store write: on SQLite from a
            progress handler between virtual-machine instructions of a statement (COMMIT
            included), on PostgreSQL before a statement of an open transaction

Afterwards a fresh store instance checks every session: committed turns lost (the user
message and the answer the caller saw must both be in the history), sessions unreadable
(``export`` fails, or SQLite's ``integrity_check`` is not ``ok``), and traces that
disagree with the history. The trace is written ahead of the history (a record, then the
messages), so a killed step may leave a trace record whose messages never landed; that is
counted separately (``trace_ahead``), not as a disagreement. A disagreement is history the
trace does not explain: a question without ``run_start``, a tool call without its
``tool_call`` record, or a ``run_end`` whose answer is not in the history.

Run a child by hand: ``python bench/reliability_durability.py child STORE SESSION FIRST N LOG PHASEFILE``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kapibara.tools import ToolContext  # noqa: E402  (a module-level name: @tool resolves its hints)

PHASES = ("decode", "tool", "write")


def question(k: int) -> str:
    return f"turn {k}: please add item-{k} to my list"


def answer(k: int) -> str:
    return f"added item-{k} (turn {k})"


# -- the child ---------------------------------------------------------------------------


class Phase:
    """The child's current activity in a 16-byte file the parent polls (pwrite, no fsync:
    the page cache outlives a killed process)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def set(self, name: str) -> None:
        os.pwrite(self.fd, name.encode().ljust(16), 0)


def read_phase(path: Path) -> str:
    try:
        return path.read_bytes()[:16].decode(errors="replace").strip()
    except OSError:
        return ""


class PhasedStore:
    """The session store with its writes marked as the ``write`` phase; ``kill_at`` > 0
    makes the child SIGKILL itself inside the kill_at-th write."""

    WRITES = ("append", "set_state", "add_trace")

    def __init__(self, store: Any, phase: Phase, kill_at: int, rng: random.Random) -> None:
        self._store, self._phase, self._kill_at, self._rng = store, phase, kill_at, rng
        self._writes = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name not in self.WRITES:
            return target

        def write(*args: Any, **kwargs: Any) -> Any:
            self._phase.set("write")
            self._writes += 1
            if self._kill_at and self._writes == self._kill_at:
                self._arm()
            return target(*args, **kwargs)

        return write

    def _arm(self) -> None:
        """Die inside the next write, at a random point of its transaction."""
        countdown = [self._rng.randint(1, 60)]
        if hasattr(self._store, "_conn") and hasattr(self._store, "path"):  # SQLite
            conn = self._store._conn()

            def tick() -> int:
                countdown[0] -= 1
                if countdown[0] <= 0:
                    os.kill(os.getpid(), signal.SIGKILL)
                return 0

            conn.set_progress_handler(tick, 1)
            return
        import psycopg  # PostgreSQL: before the n-th statement of the write's transaction

        statements = [self._rng.randint(1, 4)]
        original = psycopg.Cursor.execute

        def execute(cur: Any, *args: Any, **kwargs: Any) -> Any:
            statements[0] -= 1
            if statements[0] <= 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(cur, *args, **kwargs)

        psycopg.Cursor.execute = execute  # type: ignore[method-assign]


def build_agent(store: Any, phase: Phase, delay: float, model_spec: str) -> Any:
    from kapibara.agent import Agent
    from kapibara.models.base import Message, ToolSpec
    from kapibara.models.fake import FakeModel
    from kapibara.tools import ToolSet, tool

    @tool
    def add_item(item: str, ctx: ToolContext) -> str:
        """Add an item to the user's list.

        Args:
            item: the item to add, e.g. item-3
        """
        phase.set("tool")
        time.sleep(delay)
        items = ctx.state.setdefault("items", [])
        items.append(item)
        return f"list now has {len(items)} items; last: {item}"

    def respond(messages: list[Message], tools: list[ToolSpec] | None) -> str:
        phase.set("decode")
        time.sleep(delay)
        asked = next(str(m["content"]) for m in reversed(messages) if m.get("role") == "user")
        k = int(asked.split()[1].rstrip(":"))
        if messages[-1].get("role") == "tool":
            return answer(k)
        call = {"name": "add_item", "arguments": {"item": f"item-{k}"}}
        return f"<tool_call>{json.dumps(call)}</tool_call>"

    if model_spec == "fake":
        model: Any = FakeModel(respond)
    else:
        from kapibara.models.registry import load_configured

        model = load_configured(model_spec)
        complete = model.complete

        def marked(request: Any) -> Any:
            phase.set("decode")
            return complete(request)

        model.complete = marked
    return Agent(model, ToolSet([add_item]), store=store, max_steps=2, max_tokens=64)


def child(store_url: str, session: str, first: int, n: int, log: str, phase_file: str,
          delay: float = 0.2, model_spec: str = "fake", kill_at: int = 0, seed: int = 0) -> int:
    """Run turns ``first .. first+n-1`` on ``session``; log each committed turn."""
    from kapibara.errors import KapibaraError
    from kapibara.memory import open_store

    if os.environ.get("KAPIBARA_BENCH_NO_CONFLICT_CHECK"):  # the baseline: stores before the fix
        from kapibara.memory.base import SeenCounts

        SeenCounts.claim = lambda self, session_id, found, adding: None  # type: ignore[method-assign]
    phase = Phase(phase_file)
    phase.set("start")
    store = PhasedStore(open_store(store_url), phase, kill_at, random.Random(seed))
    agent = build_agent(store, phase, delay, model_spec)
    with open(log, "a", encoding="utf-8") as out:
        for k in range(first, first + n):
            phase.set("turn")
            try:
                result = agent.run(question(k), session_id=session)
            except KapibaraError as exc:  # what a user would see: one line
                out.write(json.dumps({"k": k, "error": type(exc).__name__, "message": exc.message}) + "\n")
                out.flush()
                os.fsync(out.fileno())
                continue
            phase.set("idle")
            out.write(json.dumps({"k": k, "answer": result.answer}, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
    phase.set("done")
    return 0


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by the kill never counted
            rows.append(json.loads(line))
    return rows


def spawn(store_url: str, session: str, first: int, n: int, log: Path, phase_file: Path, *,
          delay: float, model_spec: str = "fake", kill_at: int = 0, seed: int = 0,
          conflict_check: bool = True) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "child", store_url, session, str(first), str(n),
           str(log), str(phase_file), str(delay), model_spec, str(kill_at), str(seed)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if not conflict_check:
        env["KAPIBARA_BENCH_NO_CONFLICT_CHECK"] = "1"
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# -- the parent: kills and checks -------------------------------------------------------------


def kill_loop(store_url: str, workdir: Path, *, turns: int, delay: float = 0.2, model_spec: str = "fake",
              session: str = "durable", seed: int = 0, max_kills: int | None = None,
              phases: tuple[str, ...] = PHASES, skip: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """Kill and resume children until ``turns`` turns are committed (or ``max_kills`` kills).

    Each child first commits ``skip`` (a random number in that range) turns, then dies in
    the next one (a ``write`` kill lands in one of its first ~22 store writes instead)."""
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    log, phase_file = workdir / f"{session}.log", workdir / f"{session}.phase"
    kills: dict[str, int] = {}
    crashes: list[str] = []
    n_kills = 0
    t0 = time.monotonic()
    while True:
        done = [r["k"] for r in read_log(log) if "answer" in r]
        if len(done) >= turns or (max_kills is not None and n_kills >= max_kills) or len(crashes) >= 3:
            break
        first = max(done, default=-1) + 1
        target = phases[n_kills % len(phases)]
        kill_at = rng.randint(1, 22) if target == "write" else 0
        phase_file.write_bytes(b" " * 16)
        before = len(done)
        n_skip = rng.randint(*skip)  # turns to let commit before the kill
        proc = spawn(store_url, session, first, turns - before + 5, log, phase_file, delay=delay,
                     model_spec=model_spec, kill_at=kill_at, seed=rng.randint(0, 2**31))
        killed_in = _kill_when(proc, target, phase_file, log, before + n_skip, delay, rng)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode not in (0, -signal.SIGKILL):
            crashes.append(err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}")
        if proc.returncode == -signal.SIGKILL:
            n_kills += 1
            kills[killed_in] = kills.get(killed_in, 0) + 1
    report = check(store_url, session, read_log(log), fake=model_spec == "fake")
    report.update(kills=n_kills, kills_by_phase=kills, child_crashes=crashes, model=model_spec,
                  seconds=round(time.monotonic() - t0, 1))
    return report


def _kill_when(proc: subprocess.Popen[bytes], target: str, phase_file: Path, log: Path, after: int,
               delay: float, rng: random.Random) -> str:
    """SIGKILL ``proc`` in ``target`` once ``after`` turns are committed; the phase it died in."""
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        committed = sum(1 for r in read_log(log) if "answer" in r)
        phase = read_phase(phase_file)
        if target != "write" and committed >= after and phase == target:
            time.sleep(rng.uniform(0, delay * 0.8))
            phase = read_phase(phase_file)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return phase
        time.sleep(0.003)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return read_phase(phase_file) or "start"


def check(store_url: str, session: str, log: list[dict[str, Any]], fake: bool = True) -> dict[str, Any]:
    """Open the store afresh and compare it with what the callers were told."""
    from kapibara.memory import open_store

    out: dict[str, Any] = {"committed": 0, "lost": 0, "unreadable": 0, "disagree": 0, "trace_ahead": 0,
                           "state_missing": 0, "problems": []}
    committed = {r["k"]: r["answer"] for r in log if "answer" in r}
    out["committed"] = len(committed)
    store = open_store(store_url)
    try:
        try:
            data = store.export(session)
            if not store_url.startswith("postgres"):
                with sqlite3.connect(store_url) as conn:
                    (ok,) = conn.execute("PRAGMA integrity_check").fetchone()
                if ok != "ok":
                    raise RuntimeError(f"integrity_check: {ok}")
        except Exception as exc:  # noqa: BLE001 - counted: a session that cannot be read
            out["unreadable"] = 1
            out["problems"].append(f"unreadable: {type(exc).__name__}: {exc}")
            return out
    finally:
        store.close()
    history, traces = data["messages"], data["traces"]
    lost = [k for k, a in committed.items() if not _turn_in(history, question(k), a)]
    out["lost"] = len(lost)
    out["problems"] += [f"committed turn {k} lost" for k in lost]
    disagree, ahead = trace_disagreements(history, traces)
    out["disagree"], out["trace_ahead"] = len(disagree), ahead
    out["problems"] += disagree
    if fake:
        items = set(data["state"].get("items", []))
        missing = [k for k in committed if f"item-{k}" not in items]
        out["state_missing"] = len(missing)
        out["problems"] += [f"turn {k}: its tool state is missing" for k in missing]
    out["messages"] = len(history)
    return out


def _turn_in(history: list[dict[str, Any]], q: str, a: str) -> bool:
    for i, m in enumerate(history):
        if m.get("role") == "user" and m.get("content") == q:
            for later in history[i + 1:]:
                if later.get("role") == "user" and str(later.get("content", "")).startswith("turn "):
                    break
                if later.get("role") == "assistant" and later.get("content") == a:
                    return True
    return False


def trace_disagreements(history: list[dict[str, Any]], traces: list[dict[str, Any]]) -> tuple[list[str], int]:
    """History the trace does not explain (disagreements) and trace records of steps whose
    messages never landed (written ahead; a kill between the two)."""
    problems: list[str] = []
    asked = [t.get("question") for t in traces if t.get("type") == "run_start"]
    traced_calls = {t.get("call_id") for t in traces if t.get("type") == "tool_call"}
    questions = [m.get("content") for m in history if m.get("role") == "user"]
    for q in questions:
        if q not in asked:
            problems.append(f"question {q!r} in the history has no run_start trace")
    history_calls = set()
    for m in history:
        for call in m.get("tool_calls") or []:
            history_calls.add(call.get("id"))
            if call.get("id") not in traced_calls:
                problems.append(f"tool call {call.get('id')} in the history has no tool_call trace")
    for t in traces:
        if t.get("type") == "run_end":
            start = next((s for s in traces if s.get("type") == "run_start" and s.get("run_id") == t.get("run_id")),
                         None)
            if start is None or not _turn_in(history, start.get("question", ""), t.get("answer")):
                problems.append(f"run {t.get('run_id')}: run_end answer {t.get('answer')!r:.40} not in the history")
    ahead = sum(1 for c in traced_calls if c not in history_calls)
    ahead += sum(1 for q in asked if q not in questions)
    return problems, ahead


# -- several writers at once --------------------------------------------------------------------


def concurrent_writers(store_url: str, workdir: Path, *, different: int = 8, same: int = 2,
                       turns: int = 10, delay: float = 0.01, conflict_check: bool = True) -> dict[str, Any]:
    """``different`` processes on their own sessions and ``same`` processes on one shared
    session, all at once, ``turns`` turns each; turn numbers never repeat across writers.
    ``conflict_check=False`` runs the stores without their optimistic check (the baseline)."""
    workdir.mkdir(parents=True, exist_ok=True)
    procs = []
    for w in range(different + same):
        session = f"own-{w}" if w < different else "shared"
        log, phase_file = workdir / f"w{w}.log", workdir / f"w{w}.phase"
        procs.append((w, session, log, spawn(store_url, session, 1000 * (w + 1), turns, log, phase_file,
                                              delay=delay, conflict_check=conflict_check)))
    out: dict[str, Any] = {"writers": different + same, "turns_each": turns, "lost": 0, "locked_errors": 0,
                           "other_errors": [], "conflicts": 0, "conflict_message": "", "interleaved": 0,
                           "unreadable": 0}
    logs: dict[str, list[dict[str, Any]]] = {}
    for _w, session, log, proc in procs:
        _, err = proc.communicate(timeout=600)
        text = err.decode(errors="replace")
        if "database is locked" in text:
            out["locked_errors"] += 1
        if proc.returncode != 0:
            out["other_errors"].append(text.strip().splitlines()[-1] if text.strip() else f"exit {proc.returncode}")
        rows = read_log(log)
        logs.setdefault(session, []).extend(rows)
        for r in rows:
            if "error" in r:
                if r["error"] == "SessionConflict":
                    out["conflicts"] += 1
                    out["conflict_message"] = r["message"]
                else:
                    out["other_errors"].append(f"{r['error']}: {r['message']}")
                if "database is locked" in r["message"]:
                    out["locked_errors"] += 1
    for session, rows in logs.items():
        report = check(store_url, session, rows, fake=False)
        out["lost"] += report["lost"]
        out["unreadable"] += report["unreadable"]
        out["interleaved"] += _interleaved(store_url, session)
    out["committed"] = sum(1 for rows in logs.values() for r in rows if "answer" in r)
    return out


def _interleaved(store_url: str, session: str) -> int:
    """Messages that belong to another turn than the question before them."""
    from kapibara.memory import open_store

    store = open_store(store_url)
    try:
        history = store.messages(session)
    finally:
        store.close()
    bad, current = 0, None
    for m in history:
        text = json.dumps(m, ensure_ascii=False)
        if m.get("role") == "user":
            current = int(str(m["content"]).split()[1].rstrip(":"))
            continue
        numbers = {int(x) for x in __import__("re").findall(r"item-(\d+)", text)}
        if current is None or (numbers and numbers != {current}):
            bad += 1
    return bad


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """The session-store tests' throwaway PostgreSQL cluster (``tests/memory/conftest.py``)."""
    import importlib.util

    path = ROOT / "tests" / "memory" / "conftest.py"
    spec = importlib.util.spec_from_file_location("kapibara_memory_test_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.contextmanager(module.postgres_dsn.__wrapped__)() as dsn:
        yield dsn


def fresh_pg(dsn: str) -> str:
    """Empty the kapibara tables of ``dsn``."""
    import psycopg

    from kapibara.memory.postgres import PostgresSessionStore

    PostgresSessionStore(dsn).close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE kapibara_traces, kapibara_messages, kapibara_sessions")
    return dsn


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "child":
    a = sys.argv[2:]
    sys.exit(child(a[0], a[1], int(a[2]), int(a[3]), a[4], a[5], float(a[6]), a[7], int(a[8]), int(a[9])))
