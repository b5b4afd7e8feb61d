"""Reliability, measured: durability under ``kill -9``, bad input everywhere, the server
under fuzzing and load, and (when ``bench/injection.py`` is there) prompt injection.

    flock /tmp/kapibara_cpu.lock .venv/bin/python bench/reliability.py \\
        [--parts durability,concurrency,inputs,server,real,injection] [--turns 100] \\
        [--load-seconds 300] [--real-kills 3] [--real-load-seconds 60] [--render]

Parts (each one's figures are kept in ``reliability.json``, so a part can be rerun alone):

- ``durability``: agent turns on the fake model (0.2 s per decode and per tool call)
  SIGKILLed in decode, in a tool call and inside a session-store write, resumed by a new
  process, until ``--turns`` turns are committed, on SQLite and on a throwaway PostgreSQL
  (``bench/reliability_durability.py``).
- ``concurrency``: 8 processes on their own sessions and 2 on one shared session, at once,
  on each store; the baseline is the same run with the stores' optimistic check switched off.
- ``inputs``: the generated corpus of bad files, model files, a full disk (a tmpfs when
  root) and hypothesis-drawn CLI arguments (``bench/reliability_inputs.py``).
- ``server``: schemathesis against ``/openapi.json`` (before: FastAPI's document as
  generated; after: as ``serve.schema.document`` completes it), 413/408, and 8 clients
  for ``--load-seconds`` with the model backend failing, then a tool timing out, in the
  middle (``bench/reliability_server.py``).
- ``real``: ``--real-kills`` kills per store with the bundled qwen2.5-coder-0.5B in the
  child, and a ``--real-load-seconds`` load run on it.
- ``injection``: ``bench/injection.py``'s ``run_injection`` (another helper's suite), if present.

Writes ``reliability.json`` and ``reliability.md`` in ``--out-dir`` (default ``bench/results``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import reliability_durability as durability  # noqa: E402
import reliability_inputs as inputs  # noqa: E402
import reliability_server as server  # noqa: E402

from kapibara.fileio import write_atomic  # noqa: E402

REAL = "llamacpp:qwen2.5-coder-0.5b"


def machine() -> dict[str, Any]:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    import os

    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "python": platform.python_version(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("hypothesis", "schemathesis", "fastapi", "uvicorn", "psycopg"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "-"
    return out


def part_durability(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    print("durability: sqlite", flush=True)
    out["sqlite"] = durability.kill_loop(str(work / "dur-sqlite" / "s.db"), work / "dur-sqlite", turns=args.turns,
                                         delay=0.2, seed=11, skip=(1, 3))
    print(f"  {_brief(out['sqlite'])}", flush=True)
    with durability.throwaway_postgres() as dsn:
        print("durability: postgres", flush=True)
        out["postgres"] = durability.kill_loop(durability.fresh_pg(dsn), work / "dur-pg", turns=args.turns, delay=0.2,
                                               seed=12, skip=(1, 3))
        print(f"  {_brief(out['postgres'])}", flush=True)
    return out


def part_concurrency(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    print("concurrency: sqlite", flush=True)
    out["sqlite"] = durability.concurrent_writers(str(work / "conc-sqlite" / "s.db"), work / "conc-sqlite", turns=10)
    out["sqlite_baseline"] = durability.concurrent_writers(str(work / "conc-base" / "s.db"), work / "conc-base",
                                                           turns=10, conflict_check=False)
    with durability.throwaway_postgres() as dsn:
        print("concurrency: postgres", flush=True)
        out["postgres"] = durability.concurrent_writers(durability.fresh_pg(dsn), work / "conc-pg", turns=10)
        out["postgres_baseline"] = durability.concurrent_writers(durability.fresh_pg(dsn), work / "conc-pg-base",
                                                                 turns=10, conflict_check=False)
    for k, v in out.items():
        print(f"  {k}: lost {v['lost']}, interleaved {v['interleaved']}, conflicts {v['conflicts']}, "
              f"locked {v['locked_errors']}, other errors {len(v['other_errors'])}", flush=True)
    return out


def part_inputs(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = inputs.Env(work / "inputs")
    rng = random.Random(5)
    mount = inputs.try_tmpfs(work / "inputs-full")
    models = Path.home() / ".cache" / "kapibara" / "models"
    real = next(iter(sorted(models.glob("qwen2.5-coder-0.5b*.gguf"))), None) if models.is_dir() else None
    cases = (inputs.file_cases(rng) + inputs.kb_cases(rng, big=True) + inputs.model_cases(rng, real)
             + inputs.full_disk_cases(mount))
    print(f"inputs: {len(cases)} file cases", flush=True)
    t0 = time.monotonic()
    try:
        verdicts = inputs.run_cases(cases, env)
    finally:
        if mount is not None:
            inputs.unmount(mount)
    out = inputs.summarize(verdicts)
    out["full_disk"] = "tmpfs of 256 KiB" if mount is not None else "ENOSPC from a patched open (not root)"
    out["seconds"] = round(time.monotonic() - t0, 1)
    env2 = inputs.Env(work / "inputs-cli")
    inputs.seed_store(env2)
    tried, failures = inputs.cli_argument_failures(env2, max_examples=args.cli_examples)
    out["cli_arguments"] = {"examples": tried, "failures": len(failures), "failed": failures[:10],
                            "stored_session_intact": inputs.store_intact(env2)}
    print(f"  {out['cases']} cases, {out['failures']} failures; CLI arguments {tried} examples, "
          f"{len(failures)} failures", flush=True)
    return out


def part_server(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    print(f"server: fuzz (before/after), limits, load {args.load_seconds:g} s", flush=True)
    out = server.run_all(work / "server", clients=8, duration=args.load_seconds, max_examples=args.fuzz_examples,
                         delay=0.05, parts=("fuzz_baseline", "limits", "fuzz", "load"))
    print(f"  fuzz: {out['fuzz']['responses']} responses, 5xx {out['fuzz']['server_errors']}, "
          f"violations {out['fuzz']['schema_violations']} (before: {out['fuzz_baseline']['failures_by_check']})",
          flush=True)
    print(f"  load: {out['load']['requests']} requests, lost sessions {out['load']['lost_sessions']}, "
          f"RSS {out['load']['rss_start_mb']} -> {out['load']['rss_end_mb']} MB", flush=True)
    return out


def part_real(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"model": REAL}
    print(f"real: {args.real_kills} kills per store on {REAL}", flush=True)
    out["sqlite"] = durability.kill_loop(str(work / "real-sqlite" / "s.db"), work / "real-sqlite", turns=args.real_kills,
                                         delay=0.05, model_spec=REAL, seed=21, max_kills=args.real_kills,
                                         phases=("decode", "write", "decode"), skip=(1, 1))
    print(f"  {_brief(out['sqlite'])}", flush=True)
    with durability.throwaway_postgres() as dsn:
        out["postgres"] = durability.kill_loop(durability.fresh_pg(dsn), work / "real-pg", turns=args.real_kills,
                                               delay=0.05, model_spec=REAL, seed=22, max_kills=args.real_kills,
                                               phases=("decode", "write", "decode"), skip=(1, 1))
        print(f"  {_brief(out['postgres'])}", flush=True)
    if args.real_load_seconds > 0:
        with server.running(work / "real-server", model_spec=REAL) as s:
            out["load"] = server.load(s, clients=8, duration=args.real_load_seconds, warmup=5)
        print(f"  load: {out['load']['requests']} requests, lost sessions {out['load']['lost_sessions']}", flush=True)
    return out


def part_injection(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    path = HERE / "injection.py"
    if not path.exists():
        return {"skipped": "bench/injection.py is not there"}
    spec = importlib.util.spec_from_file_location("bench_injection", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(f"injection: run_injection({REAL!r}, limit={args.injection_limit}, "
          f"baseline_limit={args.injection_baseline_limit})", flush=True)
    result: dict[str, Any] = module.run_injection(REAL, limit=args.injection_limit,
                                                  baseline_limit=args.injection_baseline_limit, verbose=True)
    return result


PARTS = {"durability": part_durability, "concurrency": part_concurrency, "inputs": part_inputs,
         "server": part_server, "real": part_real, "injection": part_injection}


def _brief(r: dict[str, Any]) -> str:
    return (f"{r['committed']} committed, {r['kills']} kills {r['kills_by_phase']}, lost {r['lost']}, "
            f"unreadable {r['unreadable']}, disagree {r['disagree']}, {r['seconds']} s")


# -- the report ------------------------------------------------------------------------------


def _injection_lines(inj: dict[str, Any]) -> list[str]:
    """The injection figures as a table per channel: defended, and the baseline against
    the defended run on the same attacks."""
    if "defended" not in inj:
        return ["## Prompt injection", "", f"Not run: {inj.get('skipped') or inj}", ""]
    keys = ("attacks", "side_effects_proposed", "side_effects_executed", "leaked_system_prompt", "prices_changed",
            "off_task_calls")
    head = ("| channel | run | attacks | side effects proposed | executed | leaked system prompt | prices changed "
            "| calls outside the task |")
    lines = ["## Prompt injection", "",
             f"_{inj.get('_date', '')}._ `bench/injection.py` on `{inj.get('model')}`: "
             f"{inj.get('attacks')} attacks (knowledge-base documents, tool results, user messages, long-term "
             f"memory; zh and en), policy {inj.get('policy')}, {inj.get('max_steps')} steps a turn. `defended`: "
             "the agent as shipped (side effects grounded in the user's words and decided before untrusted content, "
             "tool results and documents marked as data, injection phrases stripped from documents, the leak "
             "filter, tool-rendered answers); `baseline`: all of that off, on the first "
             f"{inj.get('baseline_attacks')} attacks, beside the defended run on the same attacks. Under the demo's "
             "shipped policy (`confirm`) a proposed side effect waits for the user's yes.", "", head,
             "|---|---|---|---|---|---|---|---|"]
    same = inj.get("baseline_on_same_attacks_defended") or {}
    for channel in [*(c for c in inj["defended"] if c != "all"), "all"]:
        rows = [("defended", inj["defended"].get(channel))]
        if inj.get("baseline"):
            rows += [("defended, baseline's attacks", same.get(channel)), ("baseline", inj["baseline"].get(channel))]
        for run, fig in rows:
            if fig:
                name = f"**{channel}**" if channel == "all" else channel
                lines.append(f"| {name} | {run} | " + " | ".join(str(fig.get(k, "–")) for k in keys) + " |")
    return [*lines, ""]


def render(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    lines = ["# Reliability", "",
             f"Measured {m.get('date', '?')} on {m.get('cpu', '?')} ({m.get('cores', '?')} cores), "
             f"Python {m.get('python', '?')}; {', '.join(f'{k} {v}' for k, v in data.get('versions', {}).items())}. "
             "Written by `bench/reliability.py`; each part's date is beside it.", ""]
    if data.get("note"):
        lines += [f"**Note.** {data['note']}", ""]
    d = data.get("durability")
    if d:
        lines += ["## Durability under kill -9", "",
                  f"_{d['_date']}._ Agent turns (fake model, 0.2 s per decode and per tool call; `max_steps=2`: a tool "
                  "call then the answer) SIGKILLed in decode, in a tool call, or inside a session-store write (the "
                  "child kills itself from SQLite's progress handler, or before a statement of a PostgreSQL "
                  "transaction); each kill is followed by a new process resuming the session. A turn is committed "
                  "when `Agent.run` returned (the child fsyncs it to a log).", "",
                  "| store | turns committed | kills (decode / tool / write) | committed turns lost | sessions unreadable "
                  "| traces disagreeing with history | tool state missing | trace ahead (killed steps) | time |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for store in ("sqlite", "postgres"):
            r = d.get(store)
            if r:
                k = r["kills_by_phase"]
                lines.append(f"| {store} | {r['committed']} | {r['kills']} ({k.get('decode', 0)} / {k.get('tool', 0)} / "
                             f"{k.get('write', 0)}) | {r['lost']} | {r['unreadable']} | {r['disagree']} | "
                             f"{r['state_missing']} | {r['trace_ahead']} | {r['seconds']} s |")
        lines.append("")
    real = data.get("real")
    if real:
        lines += [f"With the real model ({real['model']}, _{real['_date']}_): the child loads the bundled 0.5B and is "
                  "killed while it decodes or inside a store write.", "",
                  "| store | turns committed | kills | lost | unreadable | disagree |", "|---|---|---|---|---|---|"]
        for store in ("sqlite", "postgres"):
            r = real.get(store)
            if r:
                lines.append(f"| {store} | {r['committed']} | {r['kills']} {r['kills_by_phase']} | {r['lost']} | "
                             f"{r['unreadable']} | {r['disagree']} |")
        lines.append("")
    c = data.get("concurrency")
    if c:
        lines += ["## Several writers at once", "",
                  f"_{c['_date']}._ 8 processes on their own sessions and 2 on one shared session, all started together, "
                  "10 turns each. Baseline: the same run with the stores' optimistic check switched off (the stores "
                  "before this bench).", "",
                  "| store | turns committed | lost | interleaved messages | 'database is locked' seen | "
                  "SessionConflict (clear error) | other errors |", "|---|---|---|---|---|---|---|"]
        for key in ("sqlite", "sqlite_baseline", "postgres", "postgres_baseline"):
            r = c.get(key)
            if r:
                lines.append(f"| {key.replace('_', ' ')} | {r['committed']} | {r['lost']} | {r['interleaved']} | "
                             f"{r['locked_errors']} | {r['conflicts']} | {len(r['other_errors'])} |")
        msg = next((c[k]["conflict_message"] for k in ("sqlite", "postgres") if c.get(k, {}).get("conflict_message")), "")
        if msg:
            lines += ["", f"What the losing writer is told: `{msg}`"]
        lines.append("")
    i = data.get("inputs")
    if i:
        lines += ["## Bad input", "",
                  f"_{i['_date']}._ Each case runs the real CLI on a generated file (model files in a child process). "
                  "Pass: exit != 0, one `error:` line and a `hint:` (or click's usage error), no traceback, no temp "
                  "file left, the session stored before unchanged; `kb ingest` reports a bad document skipped with its "
                  f"reason and ingests odd but valid ones. Full disk: {i['full_disk']}.", "",
                  "| area | cases | failures |", "|---|---|---|"]
        for area, v in i["by_area"].items():
            lines.append(f"| {area} | {v['cases']} | {v['failures']} |")
        cli = i.get("cli_arguments", {})
        lines.append(f"| CLI arguments (hypothesis) | {cli.get('examples', 0)} | {cli.get('failures', 0)} |")
        lines.append(f"| **all** | {i['cases'] + cli.get('examples', 0)} | {i['failures'] + cli.get('failures', 0)} |")
        for f in i.get("failed", []) + [{"area": "cli", "case": x, "why": ""} for x in cli.get("failed", [])]:
            lines.append(f"- failed: {f['area']} / {f['case']}: {f['why']}")
        lines += ["", "What a user sees (one example per area):", ""]
        lines += [f"- {area}: `{text}`" for area, text in i.get("examples", {}).items()]
        lines.append("")
    s = data.get("server")
    if s:
        f, b, lim, ld = s.get("fuzz", {}), s.get("fuzz_baseline", {}), s.get("limits", {}), s.get("load", {})
        lines += ["## The server under fuzzing and load", "",
                  f"_{s['_date']}._ `kapibara serve`'s app on the fake model (0.05 s a call) in its own process. "
                  "schemathesis checks: not_a_server_error, response_schema_conformance, status_code_conformance, "
                  "content_type_conformance; all phases (examples, coverage, fuzzing, stateful).", "",
                  "| schemathesis | responses | 5xx | schema violations | failures by check |", "|---|---|---|---|---|",
                  f"| before (FastAPI's document as generated) | {b.get('responses')} | {b.get('server_errors')} | "
                  f"{b.get('schema_violations')} | {b.get('failures_by_check')} |",
                  f"| after (`serve.schema.document`) | {f.get('responses')} | {f.get('server_errors')} | "
                  f"{f.get('schema_violations')} | {f.get('failures_by_check')} |", ""]
        if lim:
            lines += [f"Limits: a 2 MB body -> {lim['oversized_declared']['status']} (chunked, no length: "
                      f"{lim['oversized_chunked']['status']}); a body trickling in -> {lim['slow_body']['status']} after "
                      f"{lim['slow_body']['after_s']} s (body timeout 2 s), then `/healthz` answered in "
                      f"{lim['healthz_after']['seconds']} s.", ""]
        if ld:
            lines += _load_lines("fake model", ld)
    if real and real.get("load"):
        lines += _load_lines(f"real {real['model']}", real["load"])
    inj = data.get("injection")
    if inj:
        lines += _injection_lines(inj)
    lines += ["## Failures found and fixed", "",
              "- Two processes running turns on one session interleaved their messages (baseline rows above): the "
              "stores now check the message count they read (`SessionConflict`, a `KapibaraError` with a hint).",
              "- Session stores kept one connection per thread for ever; the server runs each request in a new thread: "
              "201 SQLite connections and 409 file descriptors after 200 requests' threads (PostgreSQL would hit "
              "`max_connections`). A thread's connection now closes when the thread ends.",
              "- SQLite: five processes opening one new file at once got 'database is locked' about once in 125 "
              "opens (switching to WAL does not wait on the busy handler); now retried until the busy timeout.",
              "- SQLite write errors (full disk, lock past the timeout) escaped as `sqlite3.OperationalError` "
              "tracebacks; now one `BackendError` line with a hint.",
              "- Non-UTF-8 or too deeply nested tool configs, prompt YAML and eval files raised `UnicodeDecodeError` "
              "/ `RecursionError` tracebacks, and prompt-file errors had no hint: 22 of the 126 config/prompt/eval "
              "cases failed when this bench was first run, before the fixes (a too deeply nested knowledge-base "
              "JSON likewise). Tool configs (`tools/config.py`, another area) are caught at the CLI root: one line, "
              "but without the file's name.",
              "- A request body trickling in held a worker until the client gave up: now 408 after `body_timeout_s`.",
              "- `/openapi.json` documented no request bodies and 422 for validation errors (the server answers 400 "
              "in OpenAI's format), so a fuzzer could not reach the routes; now documented as they behave.",
              "- The real-model parts died before they started: the server child ran in a fresh `KAPIBARA_HOME` "
              "without the pulled model. It now links the pulled models into its fresh home.",
              "- The injection baseline had tool-rendered answers on (added in the same session), so the scripted "
              "obedient model's leak never reached its answer; the baseline now runs with them off.",
              "",
              "## Listed, not fixed",
              "",
              "- **RSS grows under load, in native memory.** 83.8 -> 133.1 MB over the 5-minute fake-model run "
              "(6,264 requests; +20 MB in the first 105 s, +6 MB in the last 105 s). Python's heap is flat: "
              "gc-tracked objects 89.9k at the start and 89.7k after 30 s of the same load in-process, tracemalloc "
              "+1 MB while RSS rose 2 MB. With `MALLOC_ARENA_MAX=2` the same 30 s grew 3.4 MB instead of 5.5 MB, and "
              "with a new session per request 3.6 MB: glibc's per-thread arenas and fragmentation, plus each turn "
              "reading its whole session history (sessions grew to ~285 turns). Next: read only the latest "
              "messages of a long session (the context budget drops the rest anyway) and set `MALLOC_ARENA_MAX` "
              "in `kapibara serve`; a longer run would show whether it levels off.",
              "- **Real model under 8 clients**: agent turns and pass-through requests queue on one model on 2 "
              "cores; 7 of 650 requests waited in the model queue past the load client's 60 s read timeout "
              "(`transport:ReadTimeout`), before the server's own queue timeout (`queue_timeout_s`, 120 s) would "
              "have answered them in OpenAI's format. No session or turn was lost. A deployment whose clients "
              "time out sooner should set `queue_timeout_s` below their timeout.",
              ""]
    return "\n".join(lines)


def _load_lines(what: str, ld: dict[str, Any]) -> list[str]:
    return [f"Load ({what}): {ld['clients']} clients for {ld['seconds']} s, each alternating "
            "agent turns on its own session (`agent:shop`, a tool with a 0.5 s timeout) and pass-through requests, "
            "every 5th streamed; from 35% to 50% of the run every model call raises, from 50% to 65% the tool "
            "overruns its timeout.", "",
            "| requests | req/s | statuses | errors (status, code) | errors not in OpenAI's format | agent turns "
            "answered | sessions lost | turns lost | RSS start -> end |", "|---|---|---|---|---|---|---|---|---|",
            f"| {ld['requests']} | {ld['requests_per_s']} | {ld['statuses']} | {ld['errors_by_code']} | "
            f"{ld['non_openai_errors']} | {ld['agent_turns_answered']} | {ld['lost_sessions']} / {ld['sessions']} | "
            f"{ld['lost_turns']} | {ld['rss_start_mb']} -> {ld['rss_end_mb']} MB |", "",
            "RSS over the run (s, MB): " + ", ".join(f"{t:g}: {m}" for t, m in ld.get("rss_samples_mb", [])), ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="durability,concurrency,inputs,server,real,injection")
    ap.add_argument("--turns", type=int, default=100)
    ap.add_argument("--load-seconds", type=float, default=300)
    ap.add_argument("--fuzz-examples", type=int, default=30)
    ap.add_argument("--cli-examples", type=int, default=60)
    ap.add_argument("--real-kills", type=int, default=3)
    ap.add_argument("--real-load-seconds", type=float, default=60)
    ap.add_argument("--injection-limit", type=int, default=None)
    ap.add_argument("--injection-baseline-limit", type=int, default=None,
                    help="run the undefended baseline on fewer attacks (the real model: ~15 s an attack)")
    ap.add_argument("--out-dir", type=Path, default=HERE / "results")
    ap.add_argument("--render", action="store_true", help="only rewrite the Markdown from the JSON")
    ap.add_argument("--note", default=None, help="a note printed under the title (with --render: kept until a run)")
    args = ap.parse_args()
    out_json, out_md = args.out_dir / "reliability.json", args.out_dir / "reliability.md"
    data: dict[str, Any] = json.loads(out_json.read_text(encoding="utf-8")) if out_json.exists() else {}
    if args.note is not None:
        data["note"] = args.note
    if not args.render:
        if args.note is None:
            data.pop("note", None)  # a new measurement replaces what a note explained
        data["machine"], data["versions"] = machine(), versions()
        work = Path(tempfile.mkdtemp(prefix="kapibara-reliability-"))
        try:
            for name in [p.strip() for p in args.parts.split(",") if p.strip()]:
                result = PARTS[name](args, work)
                result["_date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
                data[name] = result
                write_atomic(out_json, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
                write_atomic(out_md, render(data) + "\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    write_atomic(out_md, render(data) + "\n")
    print(f"wrote {out_md}")


if __name__ == "__main__":
    main()
