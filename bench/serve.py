"""Serving benchmark: ``kapibara serve`` against llama-cpp-python's own OpenAI server, its
overhead over the in-process agent, and 8 concurrent clients, in one run.

    nice -n 10 .venv/bin/python bench/serve.py [--limit 100] [--overhead-cases 20] \\
        [--concurrency 8] [--duration 120] [--parts passthrough,overhead,load] [--render]

1. **Pass-through vs llama-cpp-python's server.** The bundled qwen2.5-coder-0.5b GGUF is
   served by ``kapibara serve`` (pass-through mode: one decision with kapibara's parsing and
   repair ladder) and by ``python -m llama_cpp.server --chat_format chatml-function-calling``
   (llama-cpp-python's documented generic function-calling format for ChatML models, which
   Qwen2.5 is; ``chatml-function-calling`` is the only built-in format that returns
   ``tool_calls`` for a Qwen GGUF, the model's own Jinja template answers in plain text).
   The first ``--limit`` BFCL ``multiple`` cases go to each through the official ``openai``
   SDK (``tools``, ``tool_choice="auto"``, ``temperature=0``, ``max_tokens=256``), one server
   after the other (never both at once: 2 cores), and the returned ``tool_calls`` are
   scored with kapibara's BFCL checker as in ``bench/tool_use.py``. That format renders the
   tools only inside a system message, and the BFCL cases have none, so each case is sent
   to both servers with Qwen2.5's own default system message in front (the one Qwen's chat
   template inserts when there is none; ``--no-system`` sends the cases as they are).
2. **Server overhead.** The demo agent (``Agent(model, demo tools, max_steps=1,
   **demo_agent_options())``, what ``agent:grocery`` runs) answers the first
   ``--overhead-cases`` domain **test** cases in this process and through ``kapibara serve``
   (``model="agent:grocery"``, non-streamed, a fresh session per case), interleaved case by
   case. The server runs whole turns (decision, tools, answer), so the in-process side runs
   the same turn (``agent.run``); the per-case ratio of the two wall times is the overhead.
   The first decision's latency inside each turn is reported for both (the server's from
   its trace, ``GET /v1/kapibara/sessions/{id}``).
3. **Load.** ``--concurrency`` client threads send short tool-call requests
   (``max_tokens=48``) to ``kapibara serve`` pass-through for ``--duration`` seconds:
   requests, failures (any non-200 but 429), 429s, completed per client, p50/p95 latency.

Every case result (and the load run's summary) is appended to a JSONL cache in
``--out-dir`` keyed by part / server / case, so an interrupted run resumes; delete the
cache to measure again. Writes ``serve.json``, ``serve.md`` and ``serve.cache.jsonl`` in
``--out-dir`` (default ``bench/results``); the servers' logs go to ``serve-*.log`` there.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tool_use import read_cache  # noqa: E402

from kapibara.evals import checker as ck  # noqa: E402
from kapibara.evals.adapters import load_dataset  # noqa: E402
from kapibara.evals.cases import Case, function_of, resolve_tools, write_text  # noqa: E402
from kapibara.evals.compare import mcnemar_p, wilson_ci  # noqa: E402
from kapibara.evals.results import machine_info, percentile  # noqa: E402
from kapibara.models.base import ToolCall  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "qwen2.5-coder-0.5b"
AGENT = "agent:grocery"
LLAMA_FORMAT = "chatml-function-calling"
# What Qwen2.5's chat template puts first when a conversation has no system message.
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
PARTS = ("passthrough", "overhead", "load")
SERVERS = ("kapibara", "llama_cpp")
MAX_TOKENS = 256
LOAD_MAX_TOKENS = 48
OVERHEAD_TARGET = 5.0  # percent
TIMEOUT_S = 600.0  # one request; a 0.5B decision on 2 busy cores takes seconds, not minutes
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CITIES = ["Paris", "Berlin", "Tokyo", "Lima", "Oslo", "Cairo", "Quito", "Perth", "Seoul", "Dakar"]


# -- the cache ------------------------------------------------------------------------------

def append_row(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


# -- servers as subprocesses ----------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kapibara_argv(port: int, db: Path, queue: int) -> list[str]:
    return [str(BIN / "kapibara"), "serve", "--port", str(port), "--model", MODEL, "--db", str(db),
            "--queue", str(queue)]


def llama_argv(port: int, gguf: Path, threads: int, n_ctx: int) -> list[str]:
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
            "--chat_format", LLAMA_FORMAT, "--n_ctx", str(n_ctx), "--n_threads", str(threads),
            "--n_threads_batch", str(threads), "--host", "127.0.0.1", "--port", str(port), "--verbose", "False"]


@contextlib.contextmanager
def server(name: str, argv: list[str], port: int, ready_path: str, log: Path, timeout_s: float = 900) -> Iterator[str]:
    """Start ``argv``, wait until ``GET ready_path`` answers 200, yield the base URL; the
    process (only this one, by its id) is stopped on the way out, whatever happened."""
    import httpx

    url = f"http://127.0.0.1:{port}"
    print(f"starting {name}: {' '.join(argv)}", file=sys.stderr, flush=True)
    fh = log.open("a", encoding="utf-8")
    fh.write(f"\n=== {datetime.now(UTC).isoformat(timespec='seconds')} {' '.join(argv)}\n")
    fh.flush()
    proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout_s:.0f} s; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + ready_path, timeout=5).status_code == 200:
                    break
            time.sleep(1)
        print(f"{name} ready on {url}", file=sys.stderr, flush=True)
        yield url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        fh.close()


def client(url: str, timeout_s: float = TIMEOUT_S) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=timeout_s)


# -- part 1: pass-through ---------------------------------------------------------------------

def openai_tools(case: Case) -> list[dict[str, Any]]:
    return [{"type": "function", "function": function_of(spec)} for spec in resolve_tools(case.tools)]


def case_messages(case: Case, system: bool) -> list[dict[str, Any]]:
    msgs = [dict(m) for m in case.messages]
    if system and not any(m.get("role") == "system" for m in msgs):
        msgs.insert(0, {"role": "system", "content": QWEN_SYSTEM})
    return msgs


def score(case: Case, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    """BFCL AST verdict (``kapibara.evals.checker``) on the OpenAI ``tool_calls`` returned,
    and whether they are valid: at least one call, each naming an offered tool with JSON
    object arguments."""
    specs = resolve_tools(case.tools)
    offered = {function_of(s)["name"] for s in specs}
    calls: list[ToolCall] = []
    bad: list[str] = []
    for tc in tool_calls:
        fn = tc.get("function") or {}
        name, raw = str(fn.get("name") or ""), fn.get("arguments")
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except (TypeError, ValueError):
            args = None
        if not isinstance(args, dict):
            bad.append(f"{name}: arguments are not a JSON object: {str(raw)[:80]!r}")
            args = {}
        elif name not in offered:
            bad.append(f"{name!r} is not an offered tool")
        calls.append(ToolCall(name, args))
    verdict = ck.check_calls(case.expected, calls, specs)
    out = {"valid": bool(tool_calls) and not bad, "correct": verdict.correct, "tool_correct": verdict.tool_correct,
           "rule": verdict.rule, "detail": verdict.detail, "calls": [{"name": c.name, "arguments": c.arguments} for c in calls]}
    if bad and not verdict.correct:
        out["rule"], out["detail"] = ck.MALFORMED, "; ".join(bad)
    return out


def ask(cl: Any, case: Case, system: bool) -> dict[str, Any]:
    """One BFCL case through an OpenAI-compatible server: the response, scored."""
    import openai

    row: dict[str, Any] = {"id": case.id, "category": case.category, "expects_call": case.expects_call}
    t0 = time.perf_counter()
    try:
        resp = cl.chat.completions.create(model=MODEL, messages=case_messages(case, system), tools=openai_tools(case),
                                          tool_choice="auto", temperature=0, max_tokens=MAX_TOKENS)
    except openai.APIError as exc:
        row["decision_s"] = time.perf_counter() - t0
        status = getattr(exc, "status_code", None)
        row.update(valid=False, correct=False, tool_correct=False, rule=ck.ERROR, calls=[],
                   error=f"{type(exc).__name__}{f' {status}' if status else ''}: {str(exc)[:300]}")
        return row
    row["decision_s"] = time.perf_counter() - t0
    msg = resp.choices[0].message
    tool_calls = [tc.model_dump() for tc in msg.tool_calls or []]
    row.update(score(case, tool_calls))
    row["finish_reason"] = resp.choices[0].finish_reason
    row["content"] = (msg.content or "")[:400]
    row["raw_calls"] = [{"name": (tc.get("function") or {}).get("name"),
                         "arguments": str((tc.get("function") or {}).get("arguments"))[:400]} for tc in tool_calls]
    if resp.usage is not None:
        row["prompt_tokens"], row["completion_tokens"] = resp.usage.prompt_tokens, resp.usage.completion_tokens
    ext = (resp.model_extra or {}).get("kapibara")
    if isinstance(ext, dict):
        row["repairs"] = list(ext.get("repairs") or [])
        row["decision_error"] = ext.get("error")
    return row


def run_passthrough(srv: str, url: str, cases: list[Case], cache: dict[str, dict[str, Any]], cache_path: Path,
                    system: bool) -> None:
    cl = client(url)
    todo = [c for c in cases if f"pt|{srv}|{c.id}" not in cache]
    for i, case in enumerate(todo, 1):
        key = f"pt|{srv}|{case.id}"
        row = {"key": key, **ask(cl, case, system)}
        append_row(cache_path, row)
        cache[key] = row
        print(f"passthrough {srv} {i}/{len(todo)} {case.id}: {'ok' if row['correct'] else row['rule']} "
              f"{row['decision_s']:.1f}s", file=sys.stderr, flush=True)


# -- part 2: overhead -------------------------------------------------------------------------

def split_turn(case: Case) -> tuple[str, list[dict[str, Any]]]:
    """The last user message and the earlier non-system turns (what the server reads when
    no session is named: ``kapibara.serve.agents.turn_of``)."""
    last = max(i for i, m in enumerate(case.messages) if m.get("role") == "user")
    return str(case.messages[last]["content"]), [m for m in case.messages[:last] if m.get("role") != "system"]


def first_decision_s(records: list[dict[str, Any]]) -> float | None:
    return next((float(r["decision_s"]) for r in records if r.get("type") == "decision"
                 and r.get("decision_s") is not None), None)


class InProcess:
    """The demo agent in this process, built as the server builds ``agent:grocery``."""

    def __init__(self, db: Path) -> None:
        from kapibara.agent import Agent
        from kapibara.demo import demo_agent_options
        from kapibara.memory import open_store
        from kapibara.models.registry import load_configured
        from kapibara.toolsets import toolset_entry

        self.model = load_configured(MODEL)
        self.store = open_store(str(db))
        factory = toolset_entry("demo").toolset
        assert factory is not None
        self.tools = factory()
        self.options = demo_agent_options()

        def make() -> Any:
            return Agent(self.model, self.tools, store=self.store, max_steps=1, **self.options)

        self.make = make
        agent = make()
        for language in list(agent.prompts) or ["zh"]:
            agent.cache_prefix(language)

    def turn(self, question: str, history: list[dict[str, Any]]) -> dict[str, Any]:
        t0 = time.perf_counter()
        result = self.make().run(question, history=history)
        return {"wall_s": time.perf_counter() - t0, "decision_s": first_decision_s(result.trace),
                "answer": result.answer, "calls": [c.name for c in result.tool_calls], "stop": result.stop_reason}


def server_turn(cl: Any, url: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    import httpx

    msgs = [{"role": m["role"], "content": m.get("content") or ""} for m in messages
            if m.get("role") in ("system", "user", "assistant")]
    t0 = time.perf_counter()
    resp = cl.chat.completions.create(model=AGENT, messages=msgs)  # no session name: a fresh one per case
    wall = time.perf_counter() - t0
    ext = (resp.model_extra or {}).get("kapibara") or {}
    out: dict[str, Any] = {"wall_s": wall, "answer": resp.choices[0].message.content or "",
                           "calls": [s["name"] for s in ext.get("steps", []) if s.get("type") == "tool_call"],
                           "stop": ext.get("stop_reason"), "session": ext.get("session")}
    with contextlib.suppress(httpx.HTTPError, KeyError, IndexError, ValueError):
        turns = httpx.get(f"{url}/v1/kapibara/sessions/{ext['session']}", timeout=30).json()["turns"]
        last = turns[-1]
        out["decision_s"] = next((d["decision_s"] for d in last["decisions"] if d.get("decision_s") is not None), None)
        out["server_turn_s"] = last.get("seconds")
    return out


def run_overhead(url: str, cases: list[Case], cache: dict[str, dict[str, Any]], cache_path: Path, out_dir: Path) -> None:
    todo = [c for c in cases if f"oh|{c.id}" not in cache]
    if not todo:
        return
    local = InProcess(out_dir / "serve-bench-inprocess.db")
    cl = client(url)
    # One untimed turn each, so one-time costs (first calls, page faults) fall on neither side's cases.
    local.turn("你好", [])
    server_turn(cl, url, [{"role": "user", "content": "你好"}])
    for i, case in enumerate(todo, 1):
        question, history = split_turn(case)
        row: dict[str, Any] = {"key": f"oh|{case.id}", "id": case.id}
        order = ("server", "in_process") if i % 2 else ("in_process", "server")  # alternate who goes first
        try:
            for side in order:
                row[side] = server_turn(cl, url, case.messages) if side == "server" else local.turn(question, history)
        except Exception as exc:  # noqa: BLE001 - recorded, the case is left out of the ratios
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        row["order"] = list(order)
        append_row(cache_path, row)
        cache[row["key"]] = row
        if "error" in row:
            print(f"overhead {i}/{len(todo)} {case.id}: {row['error']}", file=sys.stderr, flush=True)
        else:
            print(f"overhead {i}/{len(todo)} {case.id}: in-process {row['in_process']['wall_s']:.1f}s, "
                  f"server {row['server']['wall_s']:.1f}s", file=sys.stderr, flush=True)


# -- part 3: load -----------------------------------------------------------------------------

def run_load(url: str, concurrency: int, duration: float) -> dict[str, Any]:
    import openai

    stop_at = time.monotonic() + duration
    lock = threading.Lock()
    per_client = [0] * concurrency
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    with_call = [0]

    def worker(k: int) -> None:
        cl = client(url, timeout_s=300)
        n = 0
        while time.monotonic() < stop_at:
            city = CITIES[(k + n * concurrency) % len(CITIES)]
            n += 1
            t0 = time.perf_counter()
            try:
                resp = cl.chat.completions.create(model=MODEL, tools=[WEATHER], tool_choice="auto", temperature=0,
                                                  max_tokens=LOAD_MAX_TOKENS,
                                                  messages=[{"role": "user", "content": f"What's the weather in {city}?"}])
            except openai.RateLimitError:
                with lock:
                    statuses["429"] += 1
                time.sleep(1)
                continue
            except openai.APIStatusError as exc:
                with lock:
                    statuses[str(exc.status_code)] += 1
                    failures.append(f"client {k}: {exc.status_code} {str(exc)[:200]}")
                continue
            except Exception as exc:  # noqa: BLE001 - a connection error or timeout is a failure too
                with lock:
                    statuses[type(exc).__name__] += 1
                    failures.append(f"client {k}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            dt = time.perf_counter() - t0
            with lock:
                statuses["200"] += 1
                per_client[k] += 1
                latencies.append(dt)
                with_call[0] += bool(resp.choices[0].message.tool_calls)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = statuses["200"]
    return {"concurrency": concurrency, "duration_s": duration, "wall_s": round(wall, 1),
            "requests": sum(statuses.values()), "ok": ok, "failed": sum(v for k, v in statuses.items() if k not in ("200", "429")),
            "rate_limited": statuses["429"], "statuses": dict(statuses), "failures": failures[:20],
            "per_client": per_client, "with_tool_call": with_call[0],
            "fairness": round(min(per_client) / max(per_client), 2) if max(per_client) else None,
            "starved": sum(c == 0 for c in per_client),
            "p50_s": round(percentile(latencies, 50), 2), "p95_s": round(percentile(latencies, 95), 2),
            "throughput_rps": round(ok / wall, 3) if wall else None}


# -- statistics and verdicts ------------------------------------------------------------------

def rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_ci(k, n)
    return {"k": k, "n": n, "pct": round(100 * k / n, 1) if n else None, "ci": [lo, hi]}


def higher_verdict(ours: list[bool], theirs: list[bool]) -> tuple[str, float]:
    """"Ours higher" on paired cases: met when ours is higher and McNemar p < 0.05, missed
    by the gap when it is significantly lower, otherwise not established."""
    b = sum(t and not o for o, t in zip(ours, theirs, strict=True))  # theirs right, ours wrong
    c = sum(o and not t for o, t in zip(ours, theirs, strict=True))
    p = mcnemar_p(b, c)
    diff = 100 * (sum(ours) - sum(theirs)) / len(ours) if ours else 0.0
    if not ours:
        return "not measured", p
    if diff > 0 and p < 0.05:
        return "met", p
    if diff < 0 and p < 0.05:
        return f"missed by {-diff:.1f} points", p
    return f"not established (p = {p:.2g})", p


def median_ci(xs: list[float], iters: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95% interval of the median."""
    if not xs:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(iters))
    return meds[int(0.025 * iters)], meds[min(iters - 1, int(0.975 * iters))]


def versions() -> dict[str, str]:
    out = {}
    for dist in ("kapibara", "llama_cpp_python", "openai", "fastapi", "uvicorn", "httpx"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    return out


# -- the report -------------------------------------------------------------------------------

def summarize(cases_pt: list[Case], cases_oh: list[Case], cache: dict[str, dict[str, Any]], args: argparse.Namespace,
              meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine_info(),
                           "versions": versions(), **meta, "passthrough": None, "overhead": None, "load": None,
                           "targets": []}
    # Pass-through: only cases both servers answered are paired; each server's own rates use all it answered.
    rows = {s: [cache[k] for c in cases_pt if (k := f"pt|{s}|{c.id}") in cache] for s in SERVERS}
    if any(rows.values()):
        pt: dict[str, Any] = {"servers": {}}
        for s, rs in rows.items():
            lat = [r["decision_s"] for r in rs]
            pt["servers"][s] = {
                "n": len(rs), "valid": rate(sum(r["valid"] for r in rs), len(rs)),
                "accuracy": rate(sum(r["correct"] for r in rs), len(rs)),
                "tool": rate(sum(r["tool_correct"] for r in rs), len(rs)),
                "errors": sum(r.get("rule") == ck.ERROR for r in rs),
                "p50_s": round(percentile(lat, 50), 2), "p95_s": round(percentile(lat, 95), 2),
                "rules": dict(Counter(r["rule"] for r in rs if not r["correct"] and r.get("rule"))),
                "repairs": dict(Counter(x for r in rs for x in r.get("repairs") or [])),
                "error_examples": [r["error"] for r in rs if r.get("error")][:3],
                # llama-cpp-python's chatml-function-calling: the model took the "message:" branch,
                # whose grammar then only admits a function name, so the name comes back as text.
                "name_as_text": sum(not r.get("raw_calls") and str(r.get("content") or "").startswith("functions.")
                                    for r in rs)}
        both = [c.id for c in cases_pt if all(f"pt|{s}|{c.id}" in cache for s in SERVERS)]
        ours = [cache[f"pt|kapibara|{i}"] for i in both]
        theirs = [cache[f"pt|llama_cpp|{i}"] for i in both]
        v_valid, p_valid = higher_verdict([r["valid"] for r in ours], [r["valid"] for r in theirs])
        v_acc, p_acc = higher_verdict([r["correct"] for r in ours], [r["correct"] for r in theirs])
        pt["paired"] = {"n": len(both), "valid_p": p_valid, "accuracy_p": p_acc,
                        "valid_diff": round(100 * (sum(r["valid"] for r in ours) - sum(r["valid"] for r in theirs)) / len(both), 1) if both else None,
                        "accuracy_diff": round(100 * (sum(r["correct"] for r in ours) - sum(r["correct"] for r in theirs)) / len(both), 1) if both else None}
        out["passthrough"] = pt
        k, t = pt["servers"]["kapibara"], pt["servers"]["llama_cpp"]
        out["targets"] += [
            {"target": "pass-through valid tool-call rate higher than llama-cpp-python's server",
             "measured": f"{k['valid']['pct']}% vs {t['valid']['pct']}% (paired n={len(both)}, McNemar p={p_valid:.3g})",
             "verdict": v_valid if both else "not measured"},
            {"target": "pass-through BFCL multiple accuracy higher than llama-cpp-python's server",
             "measured": f"{k['accuracy']['pct']}% vs {t['accuracy']['pct']}% (paired n={len(both)}, McNemar p={p_acc:.3g})",
             "verdict": v_acc if both else "not measured"}]
    oh_rows = [cache[k] for c in cases_oh if (k := f"oh|{c.id}") in cache]
    good = [r for r in oh_rows if "error" not in r]
    if oh_rows:
        ratios = [r["server"]["wall_s"] / r["in_process"]["wall_s"] for r in good if r["in_process"]["wall_s"] > 0]
        med = statistics.median(ratios) if ratios else float("nan")
        lo, hi = median_ci(ratios)
        dec_pairs = [(r["in_process"]["decision_s"], r["server"].get("decision_s")) for r in good
                     if r["in_process"].get("decision_s") and r["server"].get("decision_s")]
        oh = {"n": len(good), "errors": [r["error"] for r in oh_rows if "error" in r][:5],
              "in_process_p50_s": round(statistics.median(r["in_process"]["wall_s"] for r in good), 2) if good else None,
              "server_p50_s": round(statistics.median(r["server"]["wall_s"] for r in good), 2) if good else None,
              "median_ratio": round(med, 3), "overhead_pct": round(100 * (med - 1), 1),
              "overhead_ci_pct": [round(100 * (lo - 1), 1), round(100 * (hi - 1), 1)],
              "decision_in_process_p50_s": round(statistics.median(a for a, _ in dec_pairs), 2) if dec_pairs else None,
              "decision_server_p50_s": round(statistics.median(b for _, b in dec_pairs), 2) if dec_pairs else None,
              "decision_median_ratio": round(statistics.median(b / a for a, b in dec_pairs), 3) if dec_pairs else None,
              "same_answer": sum(r["server"]["answer"] == r["in_process"]["answer"] for r in good),
              "same_calls": sum(r["server"]["calls"] == r["in_process"]["calls"] for r in good)}
        out["overhead"] = oh
        if not ratios:
            v = "not measured"
        elif len(ratios) < 10:
            v = f"not established (n = {len(ratios)} < 10)"
        elif 100 * (hi - 1) <= OVERHEAD_TARGET:
            v = "met"
        elif 100 * (lo - 1) > OVERHEAD_TARGET:
            v = f"missed by {100 * (med - 1) - OVERHEAD_TARGET:.1f} points"
        else:
            v = "not established"
        out["targets"].append({"target": f"server overhead <= {OVERHEAD_TARGET:.0f}% of the in-process agent's latency",
                               "measured": f"{oh['overhead_pct']:+.1f}% (median of per-case ratios, n={len(good)}, "
                                           f"95% CI {oh['overhead_ci_pct'][0]:+.1f}..{oh['overhead_ci_pct'][1]:+.1f}%)",
                               "verdict": v})
    load = cache.get(f"load|{args.concurrency}|{args.duration:g}")
    if load is not None:
        out["load"] = load
        out["targets"] += [
            {"target": f"{load['concurrency']} concurrent clients for {load['duration_s']:g} s: 0 failed requests",
             "measured": f"{load['failed']} failed of {load['requests']} ({load['rate_limited']} were 429)",
             "verdict": "met" if load["failed"] == 0 and load["ok"] else f"missed by {load['failed']} failed requests"},
            {"target": "fair queueing: no client starved",
             "measured": f"every client completed {min(load['per_client'])}..{max(load['per_client'])} requests "
                         f"(min/max {load['fairness']})",
             "verdict": "met" if load["starved"] == 0 else f"missed: {load['starved']} clients completed none"},
            {"target": "p50/p95 latency under load stated",
             "measured": f"p50 {load['p50_s']} s, p95 {load['p95_s']} s", "verdict": "met" if load["ok"] else "not measured"}]
    return out


def markdown(out: dict[str, Any]) -> str:
    m, v = out["machine"], out["versions"]
    lines = ["# Serving benchmark (`bench/serve.py`)", "",
             f"Measured {out['date']} on {m['platform']} ({m['processor']}, {m['cpus']} CPUs, shared with other work), "
             f"Python {m['python']}; " + ", ".join(f"{k} {x}" for k, x in v.items()) + ".",
             f"Model: the bundled {MODEL} (Qwen2.5-Coder-0.5B-Instruct GGUF Q4_K_M), `{out.get('gguf', '?')}`.", "",
             "Servers, each a subprocess, run one after the other (never both under load at once):", "",
             f"- `{' '.join(out.get('kapibara_argv') or [])}`",
             f"- `{' '.join(out.get('llama_argv') or [])}`", "",
             f"`{LLAMA_FORMAT}` is llama-cpp-python's documented generic function-calling chat format for ChatML "
             "models (Qwen2.5 is one); it is the only built-in format that returns `tool_calls` for this GGUF. It "
             "chooses `message:` or a `functions.NAME:` by grammar, then decodes the arguments under the tool's JSON "
             "schema; it renders the tools (parameters, not descriptions) only inside a system message and ignores "
             "`max_tokens` on its tool path.", ""]
    pt = out.get("passthrough")
    if pt:
        sys_note = ("each case with Qwen2.5's default system message in front (BFCL cases have none, and "
                    f"`{LLAMA_FORMAT}` shows the tools only in one)") if out.get("system") else "the cases as they are"
        lines += ["## Pass-through vs llama-cpp-python's server (BFCL `multiple`)", "",
                  f"The first {out.get('limit')} cases, {sys_note}; official `openai` SDK, `tool_choice=\"auto\"`, "
                  f"`temperature=0`, `max_tokens={MAX_TOKENS}`; all cases on one server, then all on the other "
                  "(not alternated case by case). Valid = at least one call, each naming an offered tool with JSON-object "
                  "arguments; accuracy = BFCL AST rules (kapibara's checker, as `bench/tool_use.py`). Intervals are "
                  "Wilson 95%; latency is the client's wall time per request.", "",
                  "| server | n | valid tool calls | right tool | accuracy | decision p50 s | p95 s | errors |",
                  "|---|---|---|---|---|---|---|---|"]

        def cell(x: dict[str, Any]) -> str:
            return "–" if not x["n"] else f"{x['pct']}% ({x['k']}/{x['n']}, {x['ci'][0]}–{x['ci'][1]})"

        names = {"kapibara": "`kapibara serve` (pass-through)", "llama_cpp": "`llama_cpp.server` (chatml-function-calling)"}
        for s, r in pt["servers"].items():
            lines.append(f"| {names[s]} | {r['n']} | {cell(r['valid'])} | {cell(r['tool'])} | {cell(r['accuracy'])} | "
                         f"{r['p50_s']} | {r['p95_s']} | {r['errors']} |")
        pr = pt["paired"]
        if pr["n"]:
            lines += ["", f"Paired on {pr['n']} cases (kapibara − llama.cpp): valid {pr['valid_diff']:+.1f} points, "
                          f"McNemar p = {pr['valid_p']:.3g}; accuracy {pr['accuracy_diff']:+.1f} points, "
                          f"McNemar p = {pr['accuracy_p']:.3g}."]
        for s, r in pt["servers"].items():
            lines.append(f"\n{names[s]}: failures by rule {r['rules'] or '{}'}"
                         + (f"; repair rungs fired {r['repairs']}" if r["repairs"] else "")
                         + (f"; errors e.g. {r['error_examples']}" if r["error_examples"] else "") + ".")
            if r.get("name_as_text"):
                lines.append(f"In {r['name_as_text']} of its {r['n']} answers the model took the `message:` branch, whose "
                             "grammar (llama-cpp-python's follow-up tool grammar) admits only a function name, so the "
                             "client got `functions.NAME:` as text and no `tool_calls`.")
    oh = out.get("overhead")
    if oh:
        lines += ["", "## Server overhead vs the in-process agent (domain test split)", "",
                  f"The demo agent (`agent:grocery`: demo tools, `demo_agent_options()`, one step) on the first "
                  f"{out.get('overhead_cases')} domain **test** cases, in this process and through `kapibara serve` "
                  "(non-streamed, no session name, so a fresh session per case; earlier turns of a case sent as its "
                  "history), interleaved case by case, alternating which goes first. Agent mode runs whole turns "
                  "(decision, tools, the answer), so the in-process side runs the same turn (`agent.run`) and the "
                  "ratio is of the two turns' wall times. The server holds its own copy of the model in another "
                  "process (its own llama.cpp context and KV cache), so the two never share a cache; both loaded the "
                  "saved prompt prefix first and ran one untimed warm-up turn.", "",
                  "| n | in-process turn p50 s | server turn p50 s | median per-case ratio | overhead | "
                  "first decision p50 s (in-process / server) | same answer | same calls |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {oh['n']} | {oh['in_process_p50_s']} | {oh['server_p50_s']} | {oh['median_ratio']} | "
                  f"{oh['overhead_pct']:+.1f}% (95% CI {oh['overhead_ci_pct'][0]:+.1f}..{oh['overhead_ci_pct'][1]:+.1f}) | "
                  f"{oh['decision_in_process_p50_s']} / {oh['decision_server_p50_s']} | {oh['same_answer']}/{oh['n']} | "
                  f"{oh['same_calls']}/{oh['n']} |"]
        if oh["errors"]:
            lines.append(f"\nCases that failed (left out): {oh['errors']}")
    ld = out.get("load")
    if ld:
        lines += ["", f"## {ld['concurrency']} concurrent clients for {ld['duration_s']:g} s (pass-through)", "",
                  f"Each client (a thread with its own `openai` client, no retries) sends a one-tool request "
                  f"(`get_weather`, `max_tokens={LOAD_MAX_TOKENS}`) as soon as its last one returns; requests still "
                  f"in flight at the end are waited for (the run took {ld['wall_s']} s). The server's queue is "
                  f"`--queue {out.get('queue')}`.", "",
                  "| requests | 200 | failed | 429 | completed per client | min/max | starved | p50 s | p95 s | req/s |",
                  "|---|---|---|---|---|---|---|---|---|---|",
                  f"| {ld['requests']} | {ld['ok']} | {ld['failed']} | {ld['rate_limited']} | "
                  f"{', '.join(map(str, ld['per_client']))} | {ld['fairness']} | {ld['starved']} | {ld['p50_s']} | "
                  f"{ld['p95_s']} | {ld['throughput_rps']} |"]
        if ld["failures"]:
            lines.append(f"\nFailures: {ld['failures'][:5]}")
        lines.append(f"\n{ld['with_tool_call']} of the {ld['ok']} answers were tool calls.")
    lines += ["", "## Targets (issue 14)", "",
              "Verdicts: met / missed by X / not established at this n (paired McNemar for \"higher\", a bootstrap "
              "interval of the median ratio for the overhead).", "", "| target | measured | verdict |", "|---|---|---|"]
    for t in out["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {t['verdict']} |")
    if not out["targets"]:
        lines.append("| – | nothing measured yet | not established |")
    return "\n".join(lines) + "\n"


# -- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=100, help="BFCL multiple cases for the pass-through comparison")
    ap.add_argument("--overhead-cases", type=int, default=20, help="domain test cases for the overhead")
    ap.add_argument("--concurrency", type=int, default=8, help="clients in the load test")
    ap.add_argument("--duration", type=float, default=120, help="seconds of load")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    ap.add_argument("--render", action="store_true", help="only rewrite serve.md / serve.json from the cache")
    ap.add_argument("--no-system", dest="system", action="store_false",
                    help="send the BFCL cases without Qwen's default system message")
    ap.add_argument("--threads", type=int, default=2, help="llama_cpp.server --n_threads")
    ap.add_argument("--n-ctx", type=int, default=4096, help="llama_cpp.server --n_ctx")
    ap.add_argument("--queue", type=int, default=8, help="kapibara serve --queue")
    ap.add_argument("--out-dir", default=str(RESULTS), help="where results, cache and logs go")
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    if bad := [p for p in parts if p not in PARTS]:
        print(f"unknown part(s) {bad}; use {','.join(PARTS)}", file=sys.stderr)
        return 2
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = out_dir / "serve.cache.jsonl"
    cache = read_cache(cache_path)
    import kapibara.demo  # noqa: F401 - registers the "demo" tool set the domain cases name
    from kapibara.models.bundled import model_path

    cases_pt = load_dataset("bfcl:multiple")[: args.limit]
    cases_oh = load_dataset("domain:test")[: args.overhead_cases]
    gguf = model_path(MODEL)
    kport, lport = free_port(), free_port()
    k_argv = kapibara_argv(kport, out_dir / "serve-bench-sessions.db", args.queue)
    l_argv = llama_argv(lport, gguf, args.threads, args.n_ctx)
    shown = {str(kport): "PORT", str(lport): "PORT"}  # ports are free ones, new each run
    meta = {"gguf": str(gguf), "kapibara_argv": [Path(k_argv[0]).name, *(shown.get(a, a) for a in k_argv[1:])],
            "llama_argv": ["python", *(shown.get(a, a) for a in l_argv[1:])], "limit": args.limit, "overhead_cases": args.overhead_cases,
            "system": args.system, "queue": args.queue}
    if not args.render:
        load_key = f"load|{args.concurrency}|{args.duration:g}"
        need_k = ("passthrough" in parts and any(f"pt|kapibara|{c.id}" not in cache for c in cases_pt)) or \
                 ("overhead" in parts and any(f"oh|{c.id}" not in cache for c in cases_oh)) or \
                 ("load" in parts and load_key not in cache)
        need_l = "passthrough" in parts and any(f"pt|llama_cpp|{c.id}" not in cache for c in cases_pt)
        if need_k:
            with server("kapibara serve", k_argv, kport, "/healthz", out_dir / "serve-kapibara.log") as url:
                if "passthrough" in parts:
                    run_passthrough("kapibara", url, cases_pt, cache, cache_path, args.system)
                if "overhead" in parts:
                    run_overhead(url, cases_oh, cache, cache_path, out_dir)
                if "load" in parts and load_key not in cache:
                    print(f"load: {args.concurrency} clients for {args.duration:g} s", file=sys.stderr, flush=True)
                    row = {"key": load_key, **run_load(url, args.concurrency, args.duration)}
                    append_row(cache_path, row)
                    cache[load_key] = row
        if need_l:
            with server("llama_cpp.server", l_argv, lport, "/v1/models", out_dir / "serve-llama-cpp.log") as url:
                run_passthrough("llama_cpp", url, cases_pt, cache, cache_path, args.system)
    out = summarize(cases_pt, cases_oh, cache, args, meta)
    write_text(out_dir / "serve.json", json.dumps(out, ensure_ascii=False, indent=1))
    md = markdown(out)
    write_text(out_dir / "serve.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
