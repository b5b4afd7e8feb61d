"""``kapibara serve`` under fuzzing and load (part of ``bench/reliability.py``).

The server runs in its own process (``python bench/reliability_server.py serve PORT DB FLAGS``)
on the fake model with a scripted delay, serving the model as ``m`` and an agent
``agent:shop`` whose one tool (``add_to_cart``) has a 0.5 s timeout. Faults are switched
on from outside by creating files in FLAGS: ``backend`` makes every model call raise,
``tool`` makes the tool overrun its timeout.

- **Fuzzing**: schemathesis (``st run``) against the server's ``/openapi.json``, with the
  checks ``not_a_server_error``, ``response_schema_conformance``,
  ``status_code_conformance`` and ``content_type_conformance``.
- **Limits**: an oversized body gets 413 (declared and chunked), a body trickling in gets 408
  after ``body_timeout_s``, and the server answers ``/healthz`` at once afterwards.
- **Load**: N clients for D seconds, each alternating agent turns on its own session and
  pass-through requests; in the middle the backend fails for a while, then the tool times
  out for a while. Every non-200 answer must be an OpenAI error body, every turn answered
  200 must be in the session store afterwards, and the server's RSS is read at the start
  and at the end.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from kapibara.tools import ToolContext  # noqa: E402  (module level: @tool resolves its hints)

SESSION_HEADER = "X-Kapibara-Session"


# -- the server process ------------------------------------------------------------------------


def serve(port: int, db: str, flags: str, delay: float = 0.05, body_timeout_s: float = 2.0,
          model_spec: str = "fake") -> None:
    import uvicorn

    from kapibara.memory import open_store
    from kapibara.models.base import Message, ToolSpec
    from kapibara.models.fake import FakeModel
    from kapibara.serve import AgentSpec, ServeConfig, create_app
    from kapibara.tools import ToolSet, tool
    from kapibara.toolsets import register_toolset

    flag = Path(flags)

    @tool(timeout_s=0.5)
    def add_to_cart(product_name: str, ctx: ToolContext, quantity: int = 1) -> str:
        """Add a product to the cart.

        Args:
            product_name: the product
            quantity: how many
        """
        if (flag / "tool").exists():
            time.sleep(2.0)
        cart = ctx.state.setdefault("cart", {})
        cart[product_name] = cart.get(product_name, 0) + quantity
        return f"cart: {cart}"

    def respond(messages: list[Message], tools: list[ToolSpec] | None) -> str:
        time.sleep(delay)
        if (flag / "backend").exists():
            raise RuntimeError("injected backend failure")
        if messages and messages[-1].get("role") == "tool":
            return f"done: {messages[-1].get('content')}"
        names = {t.get("function", {}).get("name") for t in tools or []}
        if "add_to_cart" in names:
            return '<tool_call>{"name": "add_to_cart", "arguments": {"product_name": "apple"}}</tool_call>'
        return "hello from the fake model"

    if model_spec == "fake":
        model: Any = FakeModel(respond, name="m")
        # The fake records every request for tests' assertions; a server running for minutes
        # would grow by that record alone (measured: ~60 KB a request), so keep the last few.
        model.calls = collections.deque(maxlen=64)
    else:  # the real model, failing while the backend flag is set
        from kapibara.models.registry import load_configured

        model = load_configured(model_spec)
        complete = model.complete

        def failing(request: Any) -> Any:
            if (flag / "backend").exists():
                raise RuntimeError("injected backend failure")
            return complete(request)

        model.complete = failing
    register_toolset("reliability-shop", lambda: ToolSet([add_to_cart]).specs(),
                     toolset_factory=lambda: ToolSet([add_to_cart]))
    app = create_app({"m": model}, store=open_store(db),
                     agents=(AgentSpec("shop", "reliability-shop"),),
                     config=ServeConfig(max_waiting=16, body_timeout_s=body_timeout_s, max_body_bytes=1_000_000))
    if os.environ.get("KAPIBARA_BENCH_TRACEMALLOC"):  # diagnosing growth: SIGUSR1 writes the top allocations
        import signal
        import tracemalloc

        tracemalloc.start(12)
        first = [tracemalloc.take_snapshot()]

        def dump(*_: Any) -> None:
            now = tracemalloc.take_snapshot()
            with open(Path(flags) / "tracemalloc.txt", "w", encoding="utf-8") as fh:
                fh.write(f"traced {tracemalloc.get_traced_memory()}\n")
                for stat in now.compare_to(first[0], "traceback")[:6]:
                    fh.write(f"{stat.size_diff // 1024} KiB {stat.count_diff}\n" + "\n".join(stat.traceback.format()[-14:]) + "\n")

        signal.signal(signal.SIGUSR1, dump)
    if os.environ.get("KAPIBARA_BENCH_PLAIN_OPENAPI"):  # the baseline: FastAPI's document as generated
        import types

        from fastapi import FastAPI

        app.openapi = types.MethodType(FastAPI.openapi, app)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The server process; ``url``, ``pid``, ``flags`` (fault switches), ``db``."""

    def __init__(self, workdir: Path, delay: float = 0.05, body_timeout_s: float = 2.0,
                 plain_openapi: bool = False, model_spec: str = "fake") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = str(workdir / "serve-sessions.db")
        self.flags = workdir / "flags"
        self.flags.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "server.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "serve", str(self.port), self.db, str(self.flags),
               str(delay), str(body_timeout_s), model_spec]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "KAPIBARA_HOME": str(workdir / "home")}
        if model_spec != "fake":  # a fresh home, but the pulled models of this one (the real 0.5B)
            from kapibara.models.bundled import models_dir

            (workdir / "home").mkdir(parents=True, exist_ok=True)
            link = workdir / "home" / "models"
            if not link.exists():
                link.symlink_to(models_dir(), target_is_directory=True)
        if plain_openapi:
            env["KAPIBARA_BENCH_PLAIN_OPENAPI"] = "1"
        self._logfh = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._logfh, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def fault(self, name: str, on: bool) -> None:
        path = self.flags / name
        if on:
            path.touch()
        else:
            path.unlink(missing_ok=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._logfh.close()


@contextlib.contextmanager
def running(workdir: Path, **kwargs: Any) -> Iterator[Server]:
    server = Server(workdir, **kwargs)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# -- checks ----------------------------------------------------------------------------------


def is_openai_error(body: Any) -> bool:
    err = body.get("error") if isinstance(body, dict) else None
    return isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str) \
        and "code" in err


def fuzz(url: str, workdir: Path, max_examples: int = 30, seed: int = 1,
         phases: str = "examples,coverage,fuzzing,stateful") -> dict[str, Any]:
    """schemathesis against ``url``/openapi.json; failures by check."""
    st = Path(sys.executable).with_name("st")
    report = workdir / "schemathesis.json"
    cmd = [str(st), "run", f"{url}/openapi.json", "--checks",
           "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
           "--max-examples", str(max_examples), "--seed", str(seed), "--phases", phases, "--report", "ndjson",
           "--report-ndjson-path", str(report), "--no-color", "--request-timeout", "30"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=workdir,  # its .schemathesis/ cache
                          env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    out = proc.stdout + proc.stderr
    failures: Counter[str] = Counter()
    responses = 0
    statuses: Counter[str] = Counter()
    if report.exists():
        for line in report.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                _walk(json.loads(line), failures, statuses)
    responses = sum(statuses.values())
    return {"exit_code": proc.returncode, "responses": responses, "statuses": dict(statuses),
            "failures_by_check": dict(failures), "server_errors": sum(v for k, v in statuses.items() if k.startswith("5")),
            "schema_violations": failures.get("response_schema_conformance", 0)
            + failures.get("status_code_conformance", 0) + failures.get("content_type_conformance", 0),
            "seconds": round(time.monotonic() - t0, 1), "summary": _summary(out)}


def _walk(node: Any, failures: Counter[str], statuses: Counter[str]) -> None:
    """Collect response statuses and failed checks from schemathesis' NDJSON events."""
    if isinstance(node, dict):
        if "status_code" in node and isinstance(node["status_code"], int) and "elapsed" in node:
            statuses[str(node["status_code"])] += 1
        if node.get("status") in ("FAILURE", "failure") and isinstance(node.get("name"), str):
            failures[node["name"]] += 1
        for v in node.values():
            _walk(v, failures, statuses)
    elif isinstance(node, list):
        for v in node:
            _walk(v, failures, statuses)


def _summary(out: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    keep = [ln for ln in lines if any(w in ln for w in ("passed", "failed", "errored", "Test cases", "API probing",
                                                           "Examples", "Stateful", "Coverage", "Fuzzing"))]
    return "\n".join(keep[-12:])


def limits(url: str, body_timeout_s: float) -> dict[str, Any]:
    """413 for big bodies, 408 for slow ones, and the server still answering afterwards."""
    import httpx

    out: dict[str, Any] = {}
    big = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * 2_000_000 + b'"}]}'
    r = httpx.post(url + "/v1/chat/completions", content=big, headers={"content-type": "application/json"}, timeout=30)
    out["oversized_declared"] = {"status": r.status_code, "openai_error": is_openai_error(_json(r))}

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    r = httpx.post(url + "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"},
                   timeout=30)
    out["oversized_chunked"] = {"status": r.status_code, "openai_error": is_openai_error(_json(r))}

    host, port = url.removeprefix("http://").split(":")
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=body_timeout_s + 20) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{\"model\": ")
        data = b""
        with contextlib.suppress(TimeoutError, OSError):
            while True:  # the 408 says Connection: close, so the answer ends when the socket does
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    out["slow_body"] = {"status": status, "after_s": round(time.monotonic() - t0, 2),
                        "openai_error": is_openai_error(_loads(body))}
    t1 = time.monotonic()
    r = httpx.get(url + "/healthz", timeout=10)
    out["healthz_after"] = {"status": r.status_code, "seconds": round(time.monotonic() - t1, 3)}
    out["ok"] = (out["oversized_declared"]["status"] == 413 and out["oversized_chunked"]["status"] == 413
                 and status == 408 and out["slow_body"]["openai_error"] and r.status_code == 200)
    return out


def _json(r: Any) -> Any:
    with contextlib.suppress(ValueError):
        return r.json()
    return None


def _loads(raw: bytes) -> Any:
    with contextlib.suppress(ValueError):
        return json.loads(raw)
    return None


def load(server: Server, clients: int = 8, duration: float = 20.0, warmup: float = 3.0) -> dict[str, Any]:
    """``clients`` threads for ``duration`` s; backend fault in [0.35, 0.5) of the run, tool
    timeouts in [0.5, 0.65). The RSS at the start is read after ``warmup`` s of the same
    load (imports, caches and allocator pools settle first)."""
    import httpx

    stop = threading.Event()
    statuses: Counter[str] = Counter()
    bad_errors: list[str] = []
    answered: dict[str, list[str]] = {}
    lock = threading.Lock()
    errors_seen: Counter[str] = Counter()

    def client(c: int) -> None:
        session = f"load-{c}"
        turn = 0
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while not stop.is_set():
                agent = turn % 2 == 0
                question = f"client {c} turn {turn}: add an apple"
                body = {"model": "agent:shop" if agent else "m", "messages": [{"role": "user", "content": question}],
                        "max_tokens": 64}
                if turn % 5 == 4:
                    body["stream"] = True
                try:
                    r = http.post("/v1/chat/completions", json=body, headers={SESSION_HEADER: session})
                except httpx.HTTPError as exc:
                    with lock:
                        statuses["transport:" + type(exc).__name__] += 1
                    turn += 1
                    continue
                text = r.text
                with lock:
                    statuses[str(r.status_code)] += 1
                    if r.status_code != 200:
                        payload = _loads(r.content)
                        if not is_openai_error(payload):
                            bad_errors.append(f"{r.status_code}: {text[:120]}")
                        else:
                            errors_seen[f"{r.status_code} {payload['error'].get('code')}"] += 1
                    elif body.get("stream"):
                        # an error after the stream began arrives as an OpenAI error chunk
                        for line in text.splitlines():
                            payload = _loads(line[6:].encode()) if line.startswith("data: {") else None
                            if isinstance(payload, dict) and "error" in payload:
                                if is_openai_error(payload):
                                    errors_seen[f"stream {payload['error'].get('code')}"] += 1
                                else:
                                    bad_errors.append(f"stream: {line[:120]}")
                                break
                        else:
                            if agent:
                                answered.setdefault(session, []).append(question)
                    elif agent:
                        answered.setdefault(session, []).append(question)
                turn += 1

    rss_boot = server.rss_mb()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    with lock:
        statuses.clear()
        answered.clear()
    rss_start = server.rss_mb()
    t0 = time.monotonic()
    samples = [(0.0, rss_start)]
    schedule = [(0.35, "backend", True), (0.5, "backend", False), (0.5, "tool", True), (0.65, "tool", False)]
    for at, name, on in schedule:
        time.sleep(max(0.0, t0 + at * duration - time.monotonic()))
        server.fault(name, on)
        samples.append((round(time.monotonic() - t0, 1), server.rss_mb()))
    while time.monotonic() < t0 + duration:
        time.sleep(min(duration / 10, max(0.0, t0 + duration - time.monotonic())))
        samples.append((round(time.monotonic() - t0, 1), server.rss_mb()))
    stop.set()
    for t in threads:
        t.join(timeout=120)
    elapsed = time.monotonic() - t0
    rss_end = server.rss_mb()
    lost = _lost_sessions(server.db, answered)
    total = sum(statuses.values())
    return {"clients": clients, "seconds": round(elapsed, 1), "requests": total,
            "requests_per_s": round(total / elapsed, 1), "statuses": dict(statuses),
            "errors_by_code": dict(errors_seen), "non_openai_errors": len(bad_errors),
            "non_openai_examples": bad_errors[:5], "agent_turns_answered": sum(len(v) for v in answered.values()),
            "sessions": len(answered), "lost_sessions": lost["sessions"], "lost_turns": lost["turns"],
            "rss_boot_mb": round(rss_boot, 1), "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
            "rss_samples_mb": [(t, round(m, 1)) for t, m in samples]}


def _lost_sessions(db: str, answered: dict[str, list[str]]) -> dict[str, int]:
    from kapibara.memory import open_store

    store = open_store(db)
    lost_turns, lost_sessions = 0, 0
    try:
        for session, questions in answered.items():
            stored = {m.get("content") for m in store.messages(session) if m.get("role") == "user"}
            missing = [q for q in questions if q not in stored]
            lost_turns += len(missing)
            lost_sessions += 1 if missing else 0
    finally:
        store.close()
    return {"turns": lost_turns, "sessions": lost_sessions}


def run_all(workdir: Path | None = None, *, clients: int = 8, duration: float = 20.0, max_examples: int = 30,
            delay: float = 0.05, body_timeout_s: float = 2.0, parts: tuple[str, ...] = ("fuzz", "limits", "load"),
            phases: str = "examples,coverage,fuzzing,stateful") -> dict[str, Any]:
    """Start the server and run ``parts``; ``fuzz_baseline`` fuzzes FastAPI's document as it
    was before this bench (no request bodies, 422 for validation errors)."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="kapibara-serve-rel-"))
    out: dict[str, Any] = {}
    if "fuzz_baseline" in parts:
        with running(workdir / "baseline", delay=delay, body_timeout_s=body_timeout_s, plain_openapi=True) as plain:
            out["fuzz_baseline"] = fuzz(plain.url, workdir / "baseline", max_examples=max_examples, phases=phases)
    with running(workdir, delay=delay, body_timeout_s=body_timeout_s) as server:
        if "limits" in parts:
            out["limits"] = limits(server.url, body_timeout_s)
        if "fuzz" in parts:
            out["fuzz"] = fuzz(server.url, workdir, max_examples=max_examples, phases=phases)
        if "load" in parts:
            out["load"] = load(server, clients=clients, duration=duration)
    return out


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "serve":
    a = sys.argv[2:]
    serve(int(a[0]), a[1], a[2], float(a[3]), float(a[4]), a[5] if len(a) > 5 else "fake")
