"""kapibara against the agent frameworks a user would pick instead, on the same local model.

    flock /tmp/kapibara_cpu.lock .venv/bin/python bench/peers.py [--models 0.5b,1.5b] \\
        [--sets domain,multiple,irrelevance,conversation] [--rows all|NAME,...] [--limit N|SET=N,...] [--budget-s 900] [--report-only] [--rescore]

Needs the ``peers`` extra (Qwen-Agent, smolagents, LangGraph, LlamaIndex); a missing one
is reported, never installed. Servers (started and stopped here, loopback, one model at a
time; all with ``--n_ctx 8192`` because smolagents' system prompt alone is ~4.4k tokens):

- ``llama_cfc``: ``python -m llama_cpp.server --chat_format chatml-function-calling``,
  llama-cpp-python's documented function-calling format for ChatML models (Qwen2.5 is one).
- ``llama_jinja``: the same server with no ``--chat_format``: the GGUF's own Qwen2.5
  template (it renders the tools; ``<tool_call>`` replies come back as plain text, which
  a framework that parses text itself reads).
- ``kapibara``: ``kapibara serve`` pass-through (one decision with kapibara's parsing and
  repair ladder; Qwen's ``<tool_call>`` blocks come back as OpenAI ``tool_calls``).

Each peer talks to its server through a logging proxy (:class:`Proxy`) that records every
request (``usage.prompt_tokens``, latency, the reply) and turns streamed requests into one
upstream non-streamed request replayed as a single SSE chunk, so usage is always known.
The tools the peer gets are recording functions: the first one called records the first
decision's calls, and the proxy then refuses the framework's next request (HTTP 400), which
ends its run. A framework that retries after an unparseable reply may make up to
``MAX_REQUESTS`` requests before its first call; they all count toward latency and prompt
tokens. kapibara runs in-process (its default demo agent, as ``bench/tool_use.py``) and
through its OpenAI backend against ``llama_jinja``.

Sets: ``domain`` (the demo's test split), BFCL ``multiple`` and ``irrelevance`` (first 100
each), all scored on the first decision; and ``conversation``: 20 domain test cases (two
per category) run to the framework's final answer with the demo tools running for real
(``live_tools``), scored end to end by ``score_e2e``: right first calls, an answer, and
no product, brand or number in it that neither the user nor a tool gave.

Rows run one after the other (in ``PRIORITY`` order), each over all its cases, after one
untimed warm-up case: every framework is timed in its steady state, its own prompt prefix
in the server's KV cache. Every case result is appended to
``bench/results/peers.cache.jsonl`` keyed by model|row|case, so a run cut short
(``--budget-s``) resumes. Writes ``peers.md``,
``peers.json`` and ``peers.png`` in ``bench/results``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peer_adapters as pa  # noqa: E402
from tool_use import agent_factory, read_cache  # noqa: E402

import kapibara.demo  # noqa: E402, F401 - registers the "demo" tool set
from kapibara.demo.tools import TOOL_FUNCTIONS, demo_prompt  # noqa: E402
from kapibara.errors import KapibaraError, MissingExtraError  # noqa: E402
from kapibara.evals import checker as ck  # noqa: E402
from kapibara.evals.adapters import load_dataset  # noqa: E402
from kapibara.evals.cases import Case, resolve_tools, write_text  # noqa: E402
from kapibara.evals.compare import compare_runs, wilson_ci  # noqa: E402
from kapibara.evals.results import CaseResult, EvalRun, machine_info, metrics, percentile  # noqa: E402
from kapibara.models.base import ToolCall  # noqa: E402
from kapibara.prompts.loader import detect_language  # noqa: E402
from serve import free_port, server  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# Findings written by hand after reading the cache (configuration notes); appended to the report.
NOTES = RESULTS / "peers_notes.md"
BIN = Path(sys.executable).parent
MODELS = {"0.5b": "qwen2.5-coder-0.5b", "1.5b": "qwen2.5-coder-1.5b"}
# Every server and kapibara's default row run the bundled file as shipped (Q4_K_M): the
# same GGUF for all. The 0.5B runs from its Q4_0 CPU copy by default (kapibara.models.quantize);
# row kapibara/cpu_copy shows what the copy adds on top (the 1.5B runs as shipped: for it
# that row is the default row again), and any peer could be served the same copy.
SHIPPED = "q4_k_m"
SETS = {"domain": "domain:test", "multiple": "bfcl:multiple", "irrelevance": "bfcl:irrelevance",
        "conversation": "domain:test"}
N_CTX = 8192
MAX_REQUESTS = 3
# End-to-end conversations: cases of the domain test split (spread over its categories, ids
# prefixed), run to the final answer with the demo tools running for real.
CONVERSATION = "conversation"
CONV_PREFIX = "conv:"
CONVERSATIONS = 20
E2E_STEPS = 3  # tool rounds a framework may take before its answer
E2E_MAX_REQUESTS = 8  # model requests the proxy allows one conversation (a loop ends there)
# Each peer distribution and the module its adapter imports (imported before timing starts).
PEER_DISTS = {"qwen-agent": "qwen_agent.agents", "smolagents": "smolagents", "langgraph": "langgraph.prebuilt",
              "langchain-openai": "langchain_openai", "llama-index-core": "llama_index.core.agent.workflow",
              "llama-index-llms-openai-like": "llama_index.llms.openai_like"}
# What looks like an attempted call in a reply that produced none (malformed output).
CALL_LIKE = re.compile(r"<tool_call>|✿FUNCTION✿|functions\.\w+|\"name\"\s*:|^\s*Action\s*:", re.M)
FINAL_ANSWER = "final_answer"  # smolagents' answer tool: an answer, not a call


@dataclass
class Row:
    """One framework in one configuration against one server."""

    name: str
    framework: str
    config: str
    server: str  # inprocess | llama_cfc | llama_jinja | kapibara
    run: Callable[..., str] | None = None  # a peer adapter; None for kapibara's own rows
    needs: tuple[str, ...] = ()  # peer distributions (PEER_DISTS keys)
    file: str = f"@{SHIPPED}"  # the bundled name's suffix kapibara's in-process row runs ("": its default file)


ROWS = [
    Row("kapibara/default", "kapibara", "default demo agent (native, in-process)", "inprocess"),
    Row("kapibara/cpu_copy", "kapibara", "default demo agent on the model's default file: the 0.5B's Q4_0 CPU copy "
        "(in-process)", "inprocess", file=""),
    Row("kapibara/openai@llama_jinja", "kapibara", "default demo agent, OpenAI backend", "llama_jinja"),
    Row("qwen_agent/nous@llama_jinja", "Qwen-Agent", "Assistant, fncall_prompt_type=nous (default)", "llama_jinja",
        pa.qwen_agent("nous"), ("qwen-agent",)),
    Row("qwen_agent/qwen@llama_jinja", "Qwen-Agent", "Assistant, fncall_prompt_type=qwen", "llama_jinja",
        pa.qwen_agent("qwen"), ("qwen-agent",)),
    Row("qwen_agent/raw_api@kapibara", "Qwen-Agent", "Assistant, use_raw_api (server parses calls)", "kapibara",
        pa.qwen_agent("nous", raw_api=True), ("qwen-agent",)),
    Row("smolagents/required@kapibara", "smolagents", "ToolCallingAgent, tool_choice=required (default)", "kapibara",
        pa.smolagents("required"), ("smolagents",)),
    Row("smolagents/auto@kapibara", "smolagents", "ToolCallingAgent, tool_choice=auto", "kapibara", pa.smolagents("auto"), ("smolagents",)),
    Row("smolagents/required@llama_cfc", "smolagents", "ToolCallingAgent, tool_choice=required (default)", "llama_cfc",
        pa.smolagents("required"), ("smolagents",)),
    Row("smolagents/auto@llama_cfc", "smolagents", "ToolCallingAgent, tool_choice=auto", "llama_cfc", pa.smolagents("auto"), ("smolagents",)),
    Row("langgraph/react@kapibara", "LangGraph", "create_react_agent + ChatOpenAI", "kapibara", pa.langgraph(), ("langgraph", "langchain-openai")),
    Row("langgraph/react@llama_cfc", "LangGraph", "create_react_agent + ChatOpenAI", "llama_cfc", pa.langgraph(), ("langgraph", "langchain-openai")),
    Row("llamaindex/function@kapibara", "LlamaIndex", "FunctionAgent + OpenAILike", "kapibara", pa.llamaindex("function"), ("llama-index-core", "llama-index-llms-openai-like")),
    Row("llamaindex/function@llama_cfc", "LlamaIndex", "FunctionAgent + OpenAILike", "llama_cfc", pa.llamaindex("function"), ("llama-index-core", "llama-index-llms-openai-like")),
    Row("llamaindex/react@llama_jinja", "LlamaIndex", "ReActAgent + OpenAILike", "llama_jinja", pa.llamaindex("react"), ("llama-index-core", "llama-index-llms-openai-like")),
]
# The order rows run in: a run cut short (--budget-s) has measured kapibara, then each peer's
# best configuration for a local model, then the configurations that fail.
PRIORITY = ("kapibara/default", "kapibara/cpu_copy", "kapibara/openai@llama_jinja", "smolagents/required@kapibara", "langgraph/react@kapibara",
            "llamaindex/function@kapibara", "qwen_agent/nous@llama_jinja", "qwen_agent/raw_api@kapibara",
            "qwen_agent/qwen@llama_jinja", "llamaindex/react@llama_jinja", "smolagents/auto@kapibara",
            "langgraph/react@llama_cfc", "llamaindex/function@llama_cfc", "smolagents/required@llama_cfc",
            "smolagents/auto@llama_cfc")
ROWS.sort(key=lambda r: PRIORITY.index(r.name))
ROW_BY_NAME = {r.name: r for r in ROWS}


# -- the logging proxy ------------------------------------------------------------------------

@dataclass
class Capture:
    """What one case's framework run sent and got back, and the calls its tools received."""

    t0: float = field(default_factory=time.perf_counter)
    requests: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    first_call_s: float | None = None
    refused: int = 0
    e2e: bool = False
    """An end-to-end conversation: requests go on after a call (up to ``E2E_MAX_REQUESTS``)."""

    def record(self, name: str, arguments: dict[str, Any], result: Any = None) -> str:
        """A call the framework made; ``result`` is what a live tool returned. Each call
        keeps the number of model requests before it: calls of one reply share it."""
        if self.first_call_s is None:
            self.first_call_s = time.perf_counter() - self.t0
        self.calls.append({"name": name, "arguments": arguments, "request": len(self.requests), "result": result})
        return "ok"

    def done(self) -> bool:
        if self.e2e:
            return len(self.requests) >= E2E_MAX_REQUESTS
        return bool(self.calls) or len(self.requests) >= MAX_REQUESTS


class Proxy:
    """A loopback HTTP proxy in front of one server, recording into ``capture``."""

    def __init__(self, upstream: str, model: str) -> None:
        import httpx

        self.upstream, self.model = upstream, model
        self.http = httpx.Client(timeout=600)
        self.capture = Capture()
        self.port = free_port()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # /v1/models and the like
                r = proxy.http.get(proxy.upstream + self.path)
                self._send(r.status_code, r.content, r.headers.get("content-type", "application/json"))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                status, payload, ctype = proxy.forward(self.path, body)
                self._send(status, payload, ctype)

            def _send(self, status: int, payload: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def forward(self, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
        cap = self.capture
        if cap.done():
            cap.refused += 1
            err = {"error": {"message": "bench: the first decision is over", "type": "invalid_request_error"}}
            return 400, json.dumps(err).encode(), "application/json"
        body["model"] = self.model  # each server answers to its own name
        stream = bool(body.pop("stream", False))
        body.pop("stream_options", None)
        t = time.perf_counter()
        r = self.http.post(self.upstream + path, json=body)
        rec: dict[str, Any] = {"latency_s": round(time.perf_counter() - t, 3), "status": r.status_code,
                               "stream": stream, "tool_choice": body.get("tool_choice"), "tools": len(body.get("tools") or [])}
        if r.status_code != 200:
            rec["error"] = r.text[:300]
            cap.requests.append(rec)
            return r.status_code, r.content, r.headers.get("content-type", "application/json")
        data = r.json()
        usage = data.get("usage") or {}
        msg = (data.get("choices") or [{}])[0].get("message") or {}
        rec.update(prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0),
                   content=msg.get("content"), tool_calls=msg.get("tool_calls"))
        cap.requests.append(rec)
        if not stream:
            return 200, r.content, "application/json"
        return 200, sse(data), "text/event-stream"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.http.close()


def sse(data: dict[str, Any]) -> bytes:
    """A whole completion as one streamed chunk plus ``[DONE]``."""
    choice = (data.get("choices") or [{}])[0]
    msg = dict(choice.get("message") or {})
    delta: dict[str, Any] = {"role": "assistant", "content": msg.get("content")}
    if msg.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(msg["tool_calls"])]
    chunk = {"id": data.get("id", "bench"), "object": "chat.completion.chunk", "created": data.get("created", 0),
             "model": data.get("model", pa.MODEL_NAME),
             "choices": [{"index": 0, "delta": delta, "finish_reason": choice.get("finish_reason") or "stop"}]}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\ndata: [DONE]\n\n".encode()


# -- servers ----------------------------------------------------------------------------------

def gguf_path(short: str) -> Path:
    from kapibara.models.bundled import model_path

    return model_path(MODELS[short])


def served_name(short: str) -> str:
    """The model name ``kapibara serve`` is started with, and so answers to."""
    return f"{MODELS[short]}@{SHIPPED}"


def server_argv(kind: str, short: str, port: int, threads: int) -> tuple[list[str], str, dict[str, str]]:
    """argv, readiness path and extra environment of a server kind."""
    if kind == "kapibara":
        db = Path(tempfile.gettempdir()) / f"kapibara-peers-{os.getpid()}.db"  # pass-through keeps no sessions
        return ([str(BIN / "kapibara"), "serve", "--port", str(port), "--model", served_name(short),
                 "--db", str(db)],
                "/v1/models", {"KAPIBARA_N_CTX": str(N_CTX), "KAPIBARA_THREADS": str(threads)})
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path(short)), "--model_alias", pa.MODEL_NAME,
            "--n_ctx", str(N_CTX), "--n_threads", str(threads), "--n_threads_batch", str(threads),
            "--host", "127.0.0.1", "--port", str(port), "--verbose", "False"]
    if kind == "llama_cfc":
        argv += ["--chat_format", "chatml-function-calling"]
    return argv, "/v1/models", {}


class Servers:
    """Servers started on first use for the current model, all stopped by ``close``."""

    def __init__(self, short: str, threads: int) -> None:
        self.short, self.threads = short, threads
        self.stack = contextlib.ExitStack()
        self.urls: dict[str, str] = {}
        self.proxies: dict[str, Proxy] = {}

    def url(self, kind: str) -> str:
        if kind not in self.urls:
            port = free_port()
            argv, ready, env = server_argv(kind, self.short, port, self.threads)
            old = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                base = self.stack.enter_context(server(kind, argv, port, ready, RESULTS / f"peers-{kind}.log"))
            finally:
                for k, v in old.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            self.urls[kind] = base
        return self.urls[kind]

    def model_name(self, kind: str) -> str:
        """The name each server answers to (``kapibara serve`` serves the shipped file by name)."""
        return served_name(self.short) if kind == "kapibara" else pa.MODEL_NAME

    def proxy(self, kind: str) -> Proxy:
        if kind not in self.proxies:
            self.proxies[kind] = Proxy(self.url(kind), self.model_name(kind))
            self.stack.callback(self.proxies[kind].close)
        return self.proxies[kind]

    def close(self) -> None:
        self.stack.close()


# -- one case -----------------------------------------------------------------------------------

def system_text(case: Case) -> str:
    """The demo prompt's system text (role, rules, examples) in the case's language: what
    kapibara's default agent puts in front, given to every peer that accepts one."""
    question = next((str(m.get("content") or "") for m in reversed(case.messages) if m.get("role") == "user"), "")
    return demo_prompt(detect_language(question)).render_system()


def case_system(case: Case) -> str:
    """A BFCL case has no tool set prompt: peers get no system text (as kapibara's agent gets its default)."""
    return system_text(case) if case.tools == "demo" else ""


def is_conversation(case: Case) -> bool:
    return case.id.startswith(CONV_PREFIX)


def run_peer(row: Row, case: Case, proxy: Proxy) -> dict[str, Any]:
    """One case through a peer; the first decision's calls scored with kapibara's checker."""
    assert row.run is not None
    if is_conversation(case):
        return run_peer_e2e(row, case, proxy)
    specs = resolve_tools(case.tools)
    if case.tools == "demo":
        functions: tuple[Callable[..., Any], ...] = TOOL_FUNCTIONS
    else:
        functions = tuple(schema_function(s["function"]) for s in specs)
    cap = proxy.capture = Capture()
    tools = pa.recording_tools(functions, cap.record)
    text, error = "", None
    try:
        text = row.run([dict(m) for m in case.messages], case_system(case), tools, specs, proxy.url)
    except Exception as exc:  # noqa: BLE001 - a peer's failure is a measured outcome, never lost
        # After the first call (the refusal that follows it is how a run is stopped) what
        # the framework does no longer concerns the first decision.
        if not cap.calls:
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
    decided = cap.first_call_s if cap.first_call_s is not None else time.perf_counter() - cap.t0
    calls = [original_names(model_arguments(c, cap.requests), functions) for c in cap.calls if c["name"] != FINAL_ANSWER]
    if not calls and cap.calls:  # smolagents answered through final_answer
        text = str(cap.calls[0]["arguments"].get("answer", text))
    first = cap.requests[0] if cap.requests else {}
    reply = str(first.get("content") or "")
    server_error = next((r["error"] for r in cap.requests if r.get("error")), None)
    if error is None and server_error and not calls:
        error = f"HTTP {cap.requests[-1]['status']}: {server_error[:200]}"
    malformed = not calls and error is None and bool(CALL_LIKE.search(reply or text))
    return score(case, [ToolCall(c["name"], c["arguments"]) for c in calls], specs, {
        "decision_s": round(decided, 3), "text": text[:500], "raw": reply[:500], "error": error, "malformed": malformed,
        "requests": len(cap.requests), "refused": cap.refused,
        "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in cap.requests),
        "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in cap.requests),
        "server_s": round(sum(r["latency_s"] for r in cap.requests), 3),
        "server_tool_calls": first.get("tool_calls")})


def run_peer_e2e(row: Row, case: Case, proxy: Proxy) -> dict[str, Any]:
    """One conversation through a peer to its final answer, the demo tools running for real
    (a fresh cart per conversation); scored by ``score_e2e``."""
    from kapibara.tools import ToolContext

    assert row.run is not None
    specs = resolve_tools(case.tools)
    cap = proxy.capture = Capture(e2e=True)
    tools = pa.live_tools(TOOL_FUNCTIONS, cap.record, ToolContext())
    text, error = "", None
    try:
        text = row.run([dict(m) for m in case.messages], system_text(case), tools, specs, proxy.url, steps=E2E_STEPS)
    except Exception as exc:  # noqa: BLE001 - a peer's failure is a measured outcome, never lost
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    total = time.perf_counter() - cap.t0
    made = [c for c in cap.calls if c["name"] != FINAL_ANSWER]
    first_at = min((c["request"] for c in made), default=None)
    first = [original_names(model_arguments(c, cap.requests), TOOL_FUNCTIONS) for c in made if c["request"] == first_at]
    results = [json.dumps(c["result"], ensure_ascii=False, default=str) for c in made]
    return score_e2e(case, [ToolCall(c["name"], c["arguments"]) for c in first], specs, text, results, {
        "decision_s": round(total, 3), "e2e_s": round(total, 3), "error": error if not text.strip() else None,
        "framework_error": error, "requests": len(cap.requests), "refused": cap.refused,
        "calls_made": [{"name": c["name"], "arguments": c["arguments"]} for c in made],
        "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in cap.requests),
        "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in cap.requests),
        "server_s": round(sum(r.get("latency_s", 0) for r in cap.requests), 3)})


def score_e2e(case: Case, first: list[ToolCall], specs: list[Any], answer: str, results: list[str],
              extra: dict[str, Any]) -> dict[str, Any]:
    """A conversation is right when its first decision's calls pass kapibara's checker (the
    domain set's rule), a final answer came back, that answer states no product, brand or
    number (over 10) that neither the user nor a tool result gave (the demo's grounding
    check, ``kapibara.demo.grounding``), and, where a tool returned something, it carries
    at least one fact of those results the user had not said (``result_facts``): "Sorry,
    need more steps", an echo of the question, or weather made up after a call all fail.
    A case's own answer checks apply too."""
    said = answer.strip()
    out = score(case, first, specs, {k: v for k, v in extra.items() if k != "error"} | {"text": said})
    out.update(calls_correct=bool(out["correct"]), text=said[:500], raw="", malformed=False,
               results=[r[:RESULT_CHARS] for r in results], error=extra.get("error"))
    return e2e_verdict(case, out)


RESULT_CHARS = 2000  # of each tool result kept in the cache (what a rescore reads)
_JSON_VALUE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(?=[,}\]]|$)|(?<=[:\[,])\s*(-?\d+(?:\.\d+)?)')
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def result_facts(results: list[str], user: str) -> set[str]:
    """The values in tool results (JSON text, possibly cut short) an answer could pass on:
    string values and the numbers over 10 in them, less what the user's own words hold."""
    from kapibara.agent.grounding import SMALL

    facts: set[str] = set()
    for r in results:
        for text, number in _JSON_VALUE.findall(r):
            for v in ([text.strip()] if text else []) + _NUMBER.findall(text or number):
                numeric = bool(_NUMBER.fullmatch(v))
                wide = len(v) >= 2 or (len(v) == 1 and not v.isascii())  # "晴" is a fact, "a" is not
                if wide and v not in user and not (numeric and float(v) <= SMALL):
                    facts.add(v)
    return facts


def e2e_verdict(case: Case, out: dict[str, Any]) -> dict[str, Any]:
    """Sets ``correct``, ``rule`` and the answer's flags from the first calls' verdict
    (``calls_correct``), the answer (``text``), the tool results and any crash (``error``)."""
    from kapibara.demo.grounding import demo_grounding

    said, results = str(out.get("text") or ""), list(out.get("results") or [])
    user = " ".join(str(m.get("content") or "") for m in case.messages if m.get("role") in ("user", "tool"))
    unsupported = demo_grounding().unsupported(said, user + "\n" + "\n".join(results)) if said else []
    facts = result_facts(results, user)
    uses = not facts or any(f.lower() in said.lower() for f in facts)
    out.update(unsupported=unsupported, answered=bool(said), grounded=bool(said) and not unsupported,
               uses_results=bool(said) and uses, correct=bool(out["calls_correct"]))
    if out["correct"]:  # a verdict of an earlier scoring does not linger
        out.update(rule=None, detail="")
    if out.get("error"):
        out.update(correct=False, tool_correct=False, rule=ck.ERROR, detail=str(out["error"])[:200])
    elif out["correct"] and not said:
        out.update(correct=False, rule="no_answer", detail="the conversation ended without a final answer")
    elif out["correct"] and unsupported:
        out.update(correct=False, rule="ungrounded", detail=f"the answer states {unsupported[:3]}, which no tool returned")
    elif out["correct"] and not uses:
        out.update(correct=False, rule="results_unused", detail="the answer passes on nothing the tools returned")
    return out


def rescore(cache: dict[str, dict[str, Any]], data: dict[str, list[Case]], path: Path) -> None:
    """Score every cached peer result again from its recorded calls (BFCL names restored,
    ``original_names``), keeping what was measured; the cache file is rewritten whole."""
    from kapibara.fileio import write_atomic

    cases = {c.id: c for cs in data.values() for c in cs}
    changed = 0
    for k, hit in cache.items():
        case = cases.get(hit["id"])
        if case is not None and is_conversation(case) and "calls_correct" in hit:
            before = hit["correct"]
            cache[k] = e2e_verdict(case, dict(hit))
            changed += cache[k]["correct"] != before
            continue
        if case is None or ROW_BY_NAME.get(hit["row"], ROWS[0]).run is None:
            continue
        specs = resolve_tools(case.tools)
        functions = TOOL_FUNCTIONS if case.tools == "demo" else tuple(schema_function(s["function"]) for s in specs)
        calls = [original_names(c, functions) for c in hit["calls"]]
        extra = {f: hit.get(f) for f in ("decision_s", "text", "raw", "error", "malformed", "requests", "refused",
                                          "prompt_tokens", "completion_tokens", "server_s", "server_tool_calls")}
        new = {"key": k, "model": hit["model"], "row": hit["row"],
               **score(case, [ToolCall(c["name"], c["arguments"]) for c in calls], specs, extra)}
        changed += new["correct"] != hit["correct"]
        cache[k] = new
    write_atomic(path, "".join(json.dumps(v, ensure_ascii=False, default=str) + "\n" for v in cache.values()))
    print(f"rescored the cached peer results: {changed} verdicts changed", file=sys.stderr)


def model_arguments(call: dict[str, Any], requests: list[dict[str, Any]]) -> dict[str, Any]:
    """The call with only the arguments the model wrote: LangChain validates tool input
    with a pydantic model and passes the defaults too (``scenario=""``, ``limit=3``), which
    the checker would count as parameters the model gave. Where the server returned the
    call as ``tool_calls``, keys it did not hold are dropped; values stay the framework's."""
    for req in requests:
        for tc in req.get("tool_calls") or []:
            fn = tc.get("function") or {}
            if fn.get("name") != call["name"]:
                continue
            try:
                given = json.loads(fn.get("arguments") or "{}")
            except (TypeError, ValueError):
                continue
            if isinstance(given, dict):
                return {"name": call["name"], "arguments": {k: v for k, v in call["arguments"].items() if k in given}}
    return call


def original_names(call: dict[str, Any], functions: tuple[Callable[..., Any], ...]) -> dict[str, Any]:
    """The call with the BFCL tool's and parameters' own names (``math.factorial``), where
    ``schema_function`` had to make Python identifiers of them (``math_factorial``), as
    BFCL's own handlers for OpenAI-style models map them back before scoring."""
    for f in functions:
        if f.__name__ == call["name"] and hasattr(f, "bfcl_names"):
            name, params = f.bfcl_names
            return {"name": name, "arguments": {params.get(k, k): v for k, v in call["arguments"].items()}}
    return call


def schema_function(fn: dict[str, Any]) -> Callable[..., Any]:
    """A plain function with a BFCL tool's name, parameters and description (types from the
    JSON schema), for a framework that derives tools from functions. Names that are not
    Python identifiers are changed; ``bfcl_names`` keeps the originals (``original_names``)."""
    import inspect

    types = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list, "object": dict}
    props = (fn.get("parameters") or {}).get("properties") or {}
    required = set((fn.get("parameters") or {}).get("required") or [])
    params, lines, originals = [], [], {}
    for i, (name, sch) in enumerate(props.items()):
        t = types.get(sch.get("type", "string"), str)
        ident = name if name.isidentifier() else re.sub(r"\W", "_", name) if re.sub(r"\W", "_", name).isidentifier() else f"p_{i}"
        originals[ident] = name
        params.append(inspect.Parameter(ident, inspect.Parameter.KEYWORD_ONLY, annotation=t,
                                        default=inspect.Parameter.empty if name in required else None))
        lines.append(f"    {ident}: {sch.get('description', name)}")
    params.sort(key=lambda p: p.default is not inspect.Parameter.empty)

    def f(**kwargs: Any) -> dict[str, Any]:
        return {}

    f.__name__ = re.sub(r"\W", "_", fn["name"])
    f.__doc__ = (fn.get("description") or fn["name"]) + ("\n\nArgs:\n" + "\n".join(lines) if lines else "")
    f.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    f.__annotations__ = {p.name: p.annotation for p in params} | {"return": dict}
    f.bfcl_names = (fn["name"], originals)  # type: ignore[attr-defined]
    return f


def score(case: Case, calls: list[ToolCall], specs: list[Any], extra: dict[str, Any]) -> dict[str, Any]:
    verdict = ck.check_calls(case.expected, calls, specs)
    out = {"id": case.id, "category": case.category, "expects_call": case.expects_call, "correct": verdict.correct,
           "tool_correct": verdict.tool_correct, "rule": verdict.rule, "detail": verdict.detail,
           "calls": [{"name": c.name, "arguments": c.arguments} for c in calls], **extra}
    if extra.get("error"):
        out.update(correct=False, tool_correct=False, rule=ck.ERROR)
    elif not out["correct"] and extra.get("malformed"):
        out["rule"] = ck.MALFORMED
    if out["correct"] and case.answer and not calls:
        failed = ck.check_answer(case.answer, str(extra.get("text") or ""))
        if failed:
            out["correct"], (out["rule"], out["detail"]) = False, failed
    return out


def run_kapibara_e2e(case: Case, model: Any) -> dict[str, Any]:
    """One conversation through kapibara's default demo agent (``Agent.run``, the demo
    tools running, a fresh session), scored as the peers' are."""
    from kapibara.evals.runner import case_agent, run_episode

    specs = resolve_tools(case.tools)
    agent = case_agent(case, model, "native", agent_factory(pa.MAX_TOKENS), episodes=True)
    t0 = time.perf_counter()
    error, answer, trace, results = None, "", [], []
    try:
        out = run_episode(agent, case)
        answer, trace = out.answer or "", out.trace
        results = [r.output for r in out.tool_results]
    except Exception as exc:  # noqa: BLE001 - recorded as the case's error, as for a peer
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    total = time.perf_counter() - t0
    first_step = next((r for r in trace if r.get("type") == "decision"), {})
    first = [ToolCall(c["name"], c.get("arguments") or {}) for c in first_step.get("calls") or []]
    usage = [r.get("usage") or {} for r in trace if r.get("type") == "model_call"]
    made = [{"name": r["name"], "arguments": r.get("arguments")} for r in trace if r.get("type") == "tool_call"]
    return score_e2e(case, first, specs, answer, results, {
        "decision_s": round(total, 3), "e2e_s": round(total, 3), "error": error, "requests": len(usage),
        "calls_made": made, "prompt_tokens": sum(int(u.get("prompt_tokens") or 0) for u in usage),
        "completion_tokens": sum(int(u.get("completion_tokens") or 0) for u in usage),
        "repairs": list(first_step.get("repairs") or [])})


def run_kapibara(case: Case, model: Any) -> dict[str, Any]:
    from kapibara.evals.runner import run_case

    if is_conversation(case):
        return run_kapibara_e2e(case, model)

    res = run_case(case, model, "native", agent_factory=agent_factory(pa.MAX_TOKENS), max_tokens=pa.MAX_TOKENS)
    keep = ("id", "category", "expects_call", "correct", "tool_correct", "rule", "detail", "calls", "decision_s",
            "text", "raw", "error", "malformed", "prompt_tokens", "completion_tokens", "repairs")
    d = asdict(res)
    return {k: d[k] for k in keep} | {"text": res.text[:500], "raw": res.raw[:500], "decision_s": round(res.decision_s, 3)}


# -- the run ------------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    out = {}
    for dist in ("kapibara", "llama-cpp-python", "openai", "qwen-agent", "smolagents", "langgraph", "langgraph-prebuilt",
                 "langchain-openai", "langchain-core", "llama-index-core", "llama-index-llms-openai",
                 "llama-index-llms-openai-like"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def missing_peers() -> dict[str, str]:
    """Peer packages that cannot be imported, with the reason (reported, never installed)."""
    import importlib

    out = {}
    for dist, module in PEER_DISTS.items():
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure makes the peer unrunnable
            out[dist] = f"{type(exc).__name__}: {exc}"
    return out


def cases_for(sets: list[str], limit: int | None | dict[str, int | None]) -> dict[str, list[Case]]:
    """Each set's cases; ``limit`` is one cap for all, or a cap per set (``limits``). The
    conversations are domain test cases with their ids prefixed (their own cache keys)."""
    import dataclasses

    caps = limit if isinstance(limit, dict) else dict.fromkeys(sets, limit)
    out = {s: spread(load_dataset(SETS[s]), caps.get(s)) for s in sets}
    if CONVERSATION in out:
        out[CONVERSATION] = [dataclasses.replace(c, id=CONV_PREFIX + c.id) for c in out[CONVERSATION]]
    return out


def limits(text: str | None, sets: list[str]) -> dict[str, int | None]:
    """``--limit``: ``24`` caps every set, ``domain=24,multiple=30`` each one; a BFCL set
    not named is capped at 100, the conversations at 20, the domain split is whole."""
    caps: dict[str, int | None] = {s: None if s == "domain" else CONVERSATIONS if s == CONVERSATION else 100
                                   for s in sets}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, n = part.rpartition("=")
        for s in [name.strip()] if name else sets:
            if s not in SETS or not n.strip().isdigit():
                raise ValueError(f"--limit: {part!r} is not N or SET=N (sets: {', '.join(SETS)})")
            caps[s] = int(n)
    return caps


def spread(cases: list[Case], limit: int | None) -> list[Case]:
    """At most ``limit`` cases taken round-robin over categories (in file order within
    each), so a shortened run still covers every category; all cases without a limit."""
    if limit is None or limit >= len(cases):
        return list(cases)
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(c.category, []).append(c)
    out: list[Case] = []
    while len(out) < limit:
        for g in groups.values():
            if g and len(out) < limit:
                out.append(g.pop(0))
    return out


def key(short: str, row: str, case_id: str) -> str:
    return f"{short}|{row}|{case_id}"


def one_case(row: Row, case: Case, servers: Servers, models: dict[str, Any], short: str, threads: int) -> dict[str, Any]:
    """One case through one row (kapibara's models are loaded once per process, in ``models``)."""
    if row.framework != "kapibara":
        return run_peer(row, case, servers.proxy(row.server))
    if row.name not in models:
        from kapibara.models.registry import load_model

        if row.server == "inprocess":
            models[row.name] = load_model(f"llamacpp:{MODELS[short]}{row.file}", threads=threads)
        else:  # llama-cpp-python's server takes json_object with a schema, not json_schema
            spec = f"openai:{servers.model_name(row.server)}@{servers.url(row.server)}/v1"
            models[row.name] = load_model(spec, schema_format="json_object", timeout_s=600.0, max_retries=0)
    return run_kapibara(case, models[row.name])


def run(args: argparse.Namespace) -> int:
    import logging

    from tqdm import tqdm


    rows = ROWS if args.rows == "all" else [ROW_BY_NAME[r] for r in args.rows.split(",")]
    missing = missing_peers()
    logging.getLogger("qwen_agent_logger").setLevel(logging.WARNING)  # it logs every request's token count
    unrunnable = {r.name: "; ".join(f"{d}: {missing[d]}" for d in r.needs if d in missing) for r in rows
                  if any(d in missing for d in r.needs)}
    for name, why in unrunnable.items():
        print(f"cannot run {name}: {why} (pip install -e '.[peers]')", file=sys.stderr)
    sets = args.sets.split(",")
    data = cases_for(sets, args.limit)
    cache_path = Path(args.cache)
    cache = read_cache(cache_path)
    if args.rescore:
        rescore(cache, data, cache_path)
    deadline = time.monotonic() + args.budget_s if args.budget_s else None
    for short in [] if args.report_only or args.rescore else args.models.split(","):
        # Row by row, in PRIORITY order, each row's cases in a row: every framework is
        # measured in its steady state, its own system prompt in the server's prefix cache,
        # as a user of that framework would run it. Interleaving the rows case by case
        # would evict that cache on every request. The report pairs rows on shared cases.
        todo = [(s, c, r) for r in rows if r.name not in unrunnable for s in sets for c in data[s]
                if key(short, r.name, c.id) not in cache]
        if not todo:
            continue
        servers = Servers(short, args.threads)
        models: dict[str, Any] = {}
        warmed: set[str] = set()
        try:
            bar = tqdm(todo, desc=short, unit="case", file=sys.stderr)
            for _s, case, row in bar:
                if deadline and time.monotonic() > deadline:
                    print(f"budget of {args.budget_s}s spent; rerun to resume", file=sys.stderr)
                    break
                bar.set_postfix_str(row.name)
                if row.name not in warmed:  # first use in this process: loads, imports, caches; not timed
                    one_case(row, case, servers, models, short, args.threads)
                    warmed.add(row.name)
                out = one_case(row, case, servers, models, short, args.threads)
                k = key(short, row.name, case.id)
                cache[k] = {"key": k, "model": short, "row": row.name, **out}
                with cache_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(cache[k], ensure_ascii=False, default=str) + "\n")
        finally:
            servers.close()
    flags = {kind: server_argv(kind, args.models.split(",")[0], 0, args.threads)[0]
             for kind in sorted({r.server for r in rows} - {"inprocess"})}
    report(data, rows, args.models.split(","), cache, unrunnable, flags, Path(args.out))
    return 0


# -- the report -----------------------------------------------------------------------------------

def as_result(row: dict[str, Any], config: str) -> CaseResult:
    names = set(CaseResult.__dataclass_fields__)
    return CaseResult(**({k: v for k, v in row.items() if k in names} | {"config": config}))


def report(data: dict[str, list[Case]], rows: list[Row], models: list[str], cache: dict[str, dict[str, Any]],
           unrunnable: dict[str, str], flags: dict[str, list[str]], out: Path) -> None:
    created = datetime.now(UTC).isoformat(timespec="seconds")
    table: list[dict[str, Any]] = []
    runs: dict[tuple[str, str, str], EvalRun] = {}
    for short in models:
        for row in rows:
            for s, cases in data.items():
                rs = [as_result(cache[k], row.name) for c in cases if (k := key(short, row.name, c.id)) in cache]
                if not rs:
                    continue
                m = metrics(rs)
                raw = [cache[key(short, row.name, r.id)] for r in rs]
                good = sum(r.correct for r in rs)
                table.append({"model": short, "row": row.name, "framework": row.framework, "config": row.config,
                              "server": row.server, "set": s, **m, "wilson": wilson_ci(good, len(rs)),
                              "prompt_tokens_mean": round(sum(r.prompt_tokens for r in rs) / len(rs)),
                              "requests_mean": round(sum(int(x.get("requests") or 0) for x in raw) / len(rs), 2)})
                runs[(short, row.name, s)] = EvalRun(s, short, row.name, rs)
    write_text(out.with_suffix(".json"), json.dumps({"created": created, "machine": machine_info(), "versions": versions(),
                                                     "servers": flags, "unrunnable": unrunnable, "rows": table},
                                                    ensure_ascii=False, indent=1, default=str))
    md = [
        "# kapibara against peer agent frameworks, same local model",
        "",
        f"Measured {created} on {machine_info()['platform']} ({machine_info()['cpus']} CPUs, shared with other work; "
        "every run under the shared CPU lock). Same GGUF for every row, greedy decoding, max_tokens "
        f"{pa.MAX_TOKENS}, same demo system text where the framework takes one. Accuracy: kapibara's BFCL-rule "
        "checker on the first decision's calls. Decision latency: from the framework's run call to its first "
        "tool call (or its answer). Prompt tokens: the server's `usage.prompt_tokens`, summed over the "
        "requests of the first decision (kapibara in-process: its own usage; 'not reported': no usage reached "
        "kapibara's OpenAI backend from llama-cpp-python's server in its streamed replies). The `conversation` "
        "set is scored end to end and timed to the final answer (its own section below).",
        "",
        "| model | set | framework | configuration | server | n | accuracy [95% CI] | tool | call | no-call "
        "| p50 s | p95 s | prompt tok | requests | malformed % | errors % |",
        "|" + "---|" * 16,
    ]
    for t in table:
        md.append(f"| {t['model']} | {t['set']} | {t['framework']} | {t['config']} | {t['server']} | {t['n']} | "
                  f"{t['accuracy']} [{t['wilson'][0]}–{t['wilson'][1]}] | {t['tool_acc']} | {t['call_acc']} | "
                  f"{t['no_call_acc']} | {t['p50_s']} | {t['p95_s']} | {t['prompt_tokens_mean'] or 'not reported'} | "
                  f"{t['requests_mean'] or '–'} | {t['malformed_rate']} | {t['error_rate']} |")
    md += conversations(data, rows, models, cache)
    md += ["", "## Cells measured (cases in the cache / cases in the set; 0 = not run)", "",
           "| model | row | " + " | ".join(data) + " |", "|---|---|" + "---|" * len(data)]
    for short in MODELS:
        for row in rows:
            cells = [f"{sum(key(short, row.name, c.id) in cache for c in cases)}/{len(cases)}" for cases in data.values()]
            md.append(f"| {short} | {row.name} | " + " | ".join(cells) + " |")
    if unrunnable:
        md += ["", "## Rows that could not run", ""] + [f"- {k}: {v}" for k, v in unrunnable.items()]
    md += ["", "## Paired against kapibara's default (same cases, McNemar)", "",
           "| model | set | peer | n | kapibara % | peer % | peer − kapibara | McNemar p | bootstrap 95% CI |",
           "|---|---|---|---|---|---|---|---|---|"]
    for (short, name, s), run in runs.items():
        base = runs.get((short, "kapibara/default", s))
        if base is None or name == "kapibara/default":
            continue
        d = [x for x in compare_runs(base, run) if x.category == "all"] or compare_runs(base, run)[-1:]
        for x in d:
            md.append(f"| {short} | {s} | {name} | {x.n} | {x.acc_a} | {x.acc_b} | {x.diff:+.1f} | {x.p_value:.3f} | "
                      f"[{x.ci[0]:+.1f}, {x.ci[1]:+.1f}] |")
    md += winners(table)
    md += targets(table)
    md += ["", "## Why cases failed (first failed rule)", "", "| model | set | row | failures |", "|---|---|---|---|"]
    for (short, name, s), run in runs.items():
        fails = metrics(run.results)["failed_rules"]
        md.append(f"| {short} | {s} | {name} | " + ", ".join(f"{k} {v}" for k, v in fails.items()) + " |")
    md += ["", "## What failed cases looked like (most common per row: error, or the first reply's start)", ""]
    for (short, name, s), run in runs.items():
        seen: dict[str, int] = {}
        for r in run.results:
            if r.correct:
                continue
            hit = cache[key(short, name, r.id)]
            what = hit.get("error") or f"{r.rule}: {(hit.get('raw') or hit.get('text') or '').strip()[:70]!r}"
            what = re.sub(r"\s+", " ", re.sub(r"127\.0\.0\.1:\d+", "HOST", str(what)))[:160]
            seen[what] = seen.get(what, 0) + 1
        top = sorted(seen.items(), key=lambda kv: -kv[1])[:3]
        if top:
            md.append(f"- {short} {s} **{name}**: " + "; ".join(f"{n}x `{w.replace('`', chr(39))}`" for w, n in top))
    if NOTES.exists():
        md += ["", NOTES.read_text(encoding="utf-8").strip()]
    md += ["", "## Versions and server flags", ""] + [f"- {k} {v}" for k, v in versions().items()]
    md += [f"- `{kind}`: `{' '.join(a if '/' not in a else Path(a).name for a in argv).replace('--port 0', '--port PORT')}`"
           + (" with KAPIBARA_N_CTX=8192" if kind == "kapibara" else "") for kind, argv in flags.items()]
    write_text(out.with_suffix(".md"), "\n".join(md) + "\n")
    print("\n".join(md))
    with contextlib.suppress(MissingExtraError):
        plot_runs = []
        for short in models:
            for row in rows:
                rs = [r for (m, n, _s), run in runs.items() if m == short and n == row.name and _s == "domain"
                      for r in run.results]
                if rs:
                    plot_runs.append(EvalRun("domain", short, row.name, rs))
        if plot_runs:
            from kapibara.evals.report import plot_accuracy_latency

            plot_accuracy_latency(plot_runs, out.with_suffix(".png"))


def conversations(data: dict[str, list[Case]], rows: list[Row], models: list[str],
                  cache: dict[str, dict[str, Any]]) -> list[str]:
    """The end-to-end table: per row, how often the first calls were right, an answer came
    back, the answer was grounded, and all three; time to the final answer."""
    cases = data.get(CONVERSATION) or []
    if not cases:
        return []
    out = ["", f"## End-to-end conversations ({len(cases)} domain test cases run to the final answer)", "",
           f"The demo tools run for real (a fresh cart each); up to {E2E_STEPS} tool rounds and {E2E_MAX_REQUESTS} "
           "model requests per conversation. *Right calls*: the first decision's calls pass the checker, as in the "
           "domain set. *Grounded*: the final answer names no product or brand and states no number over 10 "
           "that neither the user nor a tool result gave (`kapibara.demo.grounding`). *Uses results*: where a tool "
           "returned something, the answer passes on at least one of its values the user had not said (a "
           "\"need more steps\" reply or an echo of the question does not). *All*: the four together "
           "(the `conversation` rows of the table above). Time: from the framework's run call to its final answer.",
           "", "| model | row | n | right calls % | answered % | grounded % | uses results % | all % [95% CI] | p50 s "
           "| p95 s | model requests | prompt tok | tool calls |", "|" + "---|" * 13]
    for short in models:
        for row in rows:
            hits = [cache[k] for c in cases if (k := key(short, row.name, c.id)) in cache]
            if not hits:
                continue
            n = len(hits)

            def pct(flags: list[bool], n: int = n) -> float:
                return round(100 * sum(flags) / n, 1)

            calls_ok = pct([bool(h.get("calls_correct")) for h in hits])
            lo, hi = wilson_ci(sum(bool(h["correct"]) for h in hits), n)
            times = sorted(float(h.get("e2e_s") or h["decision_s"]) for h in hits)
            out.append(f"| {short} | {row.name} | {n} | {calls_ok} | {pct([bool(h.get('answered')) for h in hits])} | "
                       f"{pct([bool(h.get('grounded')) for h in hits])} | {pct([bool(h.get('uses_results')) for h in hits])} | {pct([bool(h['correct']) for h in hits])} "
                       f"[{lo}–{hi}] | {round(percentile(times, 50), 2)} | {round(percentile(times, 95), 2)} | "
                       f"{round(sum(int(h.get('requests') or 0) for h in hits) / n, 2)} | "
                       f"{round(sum(int(h.get('prompt_tokens') or 0) for h in hits) / n)} | "
                       f"{round(sum(len(h.get('calls_made') or []) for h in hits) / n, 2)} |")
    return out


# The columns a winner is named for: (table key, heading, higher is better).
WIN_COLUMNS = (("accuracy", "accuracy %", True), ("tool_acc", "right tool %", True), ("call_acc", "right call %", True),
               ("no_call_acc", "no-call %", True), ("p50_s", "p50 s (lower)", False), ("p95_s", "p95 s (lower)", False),
               ("prompt_tokens_mean", "prompt tokens (lower)", False), ("malformed_rate", "malformed % (lower)", False),
               ("error_rate", "errors % (lower)", False))


def winners(table: list[dict[str, Any]]) -> list[str]:
    """The best row per model, set and column, every framework and configuration counted
    (kapibara's own rows too). Only rows measured on the most cases of that model and set
    compete; ties name every tied row. A latency winner may be far less accurate: the
    targets table below weighs the two."""
    out = ["", "## Winner per column", "",
           "Rows measured on all of a set's measured cases only; ties name every row; prompt tokens a server "
           "did not report do not compete.", "", "| model | set | column | winner (value) | runner-up (value) |",
           "|---|---|---|---|---|"]
    partial: list[str] = []
    for short, s in sorted({(t["model"], t["set"]) for t in table}):
        group = [t for t in table if t["model"] == short and t["set"] == s]
        most = max(t["n"] for t in group)
        full = [t for t in group if t["n"] == most]
        partial += [f"{short} {s} {t['row']} (n={t['n']} of {most})" for t in group if t["n"] < most]
        for col, head, higher in WIN_COLUMNS:
            vals = sorted({t[col] for t in full if t.get(col) is not None and not (col == "prompt_tokens_mean"
                                                                                    and not t[col])},
                          reverse=higher)
            if not vals:
                continue
            named = [", ".join(t["row"] for t in full if t.get(col) == v) + f" ({v})" for v in vals[:2]]
            out.append(f"| {short} | {s} | {head} | {named[0]} | {named[1] if len(named) > 1 else '–'} |")
    if partial:
        out += ["", "Not competing (partial rows): " + "; ".join(partial) + "."]
    return out


def targets(table: list[dict[str, Any]]) -> list[str]:
    """The issue's targets per model and set: kapibara's default at or above every peer's
    accuracy, and its p50 decision latency at most half the fastest peer row within 5
    points of its accuracy. Only peer rows measured on all of kapibara's cases count; the
    fastest peer row of all is shown beside, whatever its accuracy."""
    out = ["", "## Targets", "",
           "Peer rows measured on fewer cases than kapibara's default are left out of the comparison "
           "(named under the table).", "",
           "| model | set | kapibara default % (p50 s) | best peer row % | accuracy target | fastest peer row within 5 "
           "points (p50 s) | latency ratio (target <= 0.5) | fastest peer row of all: % (p50 s) |",
           "|---|---|---|---|---|---|---|---|"]
    partial: list[str] = []
    for (short, s) in sorted({(t["model"], t["set"]) for t in table}):
        rows = [t for t in table if t["model"] == short and t["set"] == s]
        base = next((t for t in rows if t["row"] == "kapibara/default"), None)
        if base is None:
            continue
        peers = [t for t in rows if t["framework"] != "kapibara" and t["n"] >= base["n"]]
        partial += [f"{short} {s} {t['row']} (n={t['n']} of {base['n']})" for t in rows
                    if t["framework"] != "kapibara" and t["n"] < base["n"]]
        if not peers:
            continue
        best = max(peers, key=lambda t: t["accuracy"] or 0)
        gap = (base["accuracy"] or 0) - (best["accuracy"] or 0)
        acc = f"met ({gap:+.1f})" if gap >= 0 else f"missed by {-gap:.1f} points"
        close = [t for t in peers if (t["accuracy"] or 0) >= (base["accuracy"] or 0) - 5]
        if close:
            fast = min(close, key=lambda t: t["p50_s"])
            ratio = base["p50_s"] / fast["p50_s"] if fast["p50_s"] else float("inf")
            lat = f"{ratio:.2f}: {'met' if ratio <= 0.5 else 'missed'}"
            fast_s = f"{fast['row']} {fast['accuracy']} ({fast['p50_s']})"
        else:
            fast_s, lat = "none (every peer row is more than 5 points below)", "met (no peer row that close)"
        quick = min(peers, key=lambda t: t["p50_s"])
        out.append(f"| {short} | {s} | {base['accuracy']} ({base['p50_s']}) | {best['row']} {best['accuracy']} | {acc} "
                   f"| {fast_s} | {lat} | {quick['row']} {quick['accuracy']} ({quick['p50_s']}) |")
    if partial:
        out += ["", "Not compared (partial rows): " + "; ".join(partial) + "."]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    ap.add_argument("--rows", default="all", help="comma-separated row names: " + ", ".join(ROW_BY_NAME))
    ap.add_argument("--limit", default=None, help="cases per set: N, or SET=N,... (default: the whole domain split, 100 BFCL)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=0, help="stop after this many seconds (resume later)")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--rescore", action="store_true",
                    help="score the cached peer calls again (the checker or the name mapping changed); no model runs")
    ap.add_argument("--cache", default=str(RESULTS / "peers.cache.jsonl"))
    ap.add_argument("--out", default=str(RESULTS / "peers"))
    args = ap.parse_args(argv)
    bad = [r for r in args.rows.split(",") if args.rows != "all" and r not in ROW_BY_NAME]
    bad += [s for s in args.sets.split(",") if s not in SETS] + [m for m in args.models.split(",") if m not in MODELS]
    if bad:
        print(f"error: unknown {bad}; rows: {', '.join(ROW_BY_NAME)}; sets: {', '.join(SETS)}; models: "
              f"{', '.join(MODELS)}", file=sys.stderr)
        return 2
    try:
        args.limit = limits(args.limit, args.sets.split(","))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return run(args)
    except KapibaraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
