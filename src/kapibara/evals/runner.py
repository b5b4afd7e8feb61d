"""Run cases through a model in one of four configurations and record everything.

Configurations:

- ``raw``: ``model.chat(messages, tools=specs)`` with the model's own chat template; no
  agent, no prompt, no repair. Calls are ``Completion.tool_calls``.
- ``native`` / ``react``: ``Agent(model, tools, protocol=...).decide(messages)``, the
  agent's first decision (prompt, parsing, repair ladder).
- ``constrained``: the same with ``constrained=True`` (grammar / JSON-schema decoding).

With ``episodes=True`` the full ``Agent.run`` episode also runs (its end-to-end time and
final answer are recorded, and the case's answer checks apply to that answer).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kapibara.agent.parsing import parse_tool_calls
from kapibara.errors import ConfigError, DataError
from kapibara.evals import checker as ck
from kapibara.evals.cases import Case, resolve_tools, write_text
from kapibara.models.base import Model, ToolCall, ToolSpec

CONFIGS = ("raw", "native", "react", "constrained")

Progress = Callable[[int, int], None]
AgentFactory = Callable[[Model, Any, str, Any], Any]
"""``(model, toolset, config, prompt) -> agent`` with a ``decide(messages)`` method."""


@dataclass
class CaseResult:
    """What happened on one case, with the verdict and the timings."""

    id: str
    category: str
    config: str
    correct: bool
    tool_correct: bool
    expects_call: bool
    rule: str | None = None
    detail: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    raw: str = ""
    text: str = ""
    repairs: list[str] = field(default_factory=list)
    malformed: bool = False
    error: str | None = None
    ttft_s: float = 0.0
    decision_s: float = 0.0
    e2e_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    decision_error: str | None = None  # why the agent's repair ladder gave up (model-caused)
    answer: str | None = None  # the episode's final answer (episodes mode only)
    # The case itself, so that bad cases can be exported from a saved run alone.
    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: Any = None
    expected: list[Any] = field(default_factory=list)

    @property
    def made_call(self) -> bool:
        return bool(self.calls)


@dataclass
class EvalRun:
    """One dataset run through one model in one configuration."""

    dataset: str
    model: str
    config: str
    results: list[CaseResult] = field(default_factory=list)
    created: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    episodes: bool = False

    def to_dict(self) -> dict[str, Any]:
        from kapibara.evals.report import summarize

        return {
            "dataset": self.dataset,
            "model": self.model,
            "config": self.config,
            "created": self.created,
            "machine": self.machine,
            "episodes": self.episodes,
            "n": len(self.results),
            "summary": summarize(self),
            "results": [asdict(r) for r in self.results],
        }

    def save(self, path: str | Path) -> Path:
        """Write the run as JSON (atomically)."""
        p = Path(path)
        write_text(p, json.dumps(self.to_dict(), ensure_ascii=False, indent=1))
        return p

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> EvalRun:
        names = set(CaseResult.__dataclass_fields__)
        results = [CaseResult(**{k: v for k, v in r.items() if k in names}) for r in obj.get("results", [])]
        return cls(
            dataset=obj.get("dataset", ""),
            model=obj.get("model", ""),
            config=obj.get("config", ""),
            results=results,
            created=obj.get("created", ""),
            machine=obj.get("machine", {}),
            episodes=bool(obj.get("episodes", False)),
        )

    @classmethod
    def load(cls, path: str | Path) -> EvalRun:
        """Read a run saved with :meth:`save`."""
        p = Path(path)
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"run file not found: {p}") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{p} is not a saved eval run: {exc.msg}") from None
        if not isinstance(obj, dict) or "results" not in obj:
            raise DataError(f"{p} is not a saved eval run (no 'results')")
        return cls.from_dict(obj)


def machine_info() -> dict[str, Any]:
    """Where a run was measured (reported with every result)."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def build_toolset(specs: list[ToolSpec]) -> Any:
    """A ToolSet of function-less tools from specs (evals only look at the decision)."""
    from kapibara.tools import Tool, ToolSet

    tools = []
    for spec in specs:
        fn = spec.get("function", spec)
        tools.append(Tool(name=fn["name"], description=fn.get("description", ""), parameters=fn.get("parameters") or {"type": "object", "properties": {}}, fn=None))
    return ToolSet(tools)


def default_agent_factory(model: Model, toolset: Any, config: str, prompt: Any = None) -> Any:
    """``Agent`` for a configuration (``native``, ``react`` or ``constrained``)."""
    from kapibara.agent import Agent

    if config == "react":
        return Agent(model, toolset, prompt=prompt, protocol="react")
    return Agent(model, toolset, prompt=prompt, protocol="native", constrained=(config == "constrained"))


def toolset_prompt(tools: list[ToolSpec] | str) -> Any:
    """The prompt that belongs to a named tool set (the demo's assistant prompt), else None.

    Inline-tool cases (BFCL, HammerBench) get the agent's default prompt.
    """
    if tools == "demo":
        from kapibara.demo import demo_prompt

        return demo_prompt()
    return None


def _demo_or_specs(case: Case, specs: list[ToolSpec], episodes: bool) -> Any:
    if episodes and case.tools == "demo":
        from kapibara.demo import demo_toolset

        return demo_toolset()  # real functions, so the episode can act
    return build_toolset(specs)


def _calls_dicts(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"name": c.name, "arguments": c.arguments} for c in calls]


def _run_episode(agent: Any, case: Case) -> Any:
    """``agent.run`` on the case's last user message, the earlier turns as its session.

    The history goes into a throwaway SQLite session store, so a follow-up ("那它的电池
    呢？") is answered knowing what "它" was.
    """
    import tempfile

    from kapibara.memory.sqlite import SqliteSessionStore

    last = max((i for i, m in enumerate(case.messages) if m.get("role") == "user"), default=-1)
    question = str(case.messages[last].get("content") or "") if last >= 0 else ""
    history = [m for m in case.messages[:max(last, 0)] if m.get("role") != "system"]
    with tempfile.TemporaryDirectory(prefix="kapibara-episode-") as tmp:
        store = SqliteSessionStore(Path(tmp) / "episode.db")
        before = agent.store
        try:
            if history:
                store.append("episode", history)
            agent.store = store
            return agent.run(question, session_id="episode")
        finally:
            agent.store = before
            store.close()


def run_case(
    case: Case,
    model: Model,
    config: str,
    *,
    episodes: bool = False,
    agent_factory: AgentFactory = default_agent_factory,
    max_tokens: int = 512,
) -> CaseResult:
    """Run one case and judge it. Model or agent failures are recorded, not raised."""
    specs = resolve_tools(case.tools)
    res = CaseResult(
        id=case.id,
        category=case.category,
        config=config,
        correct=False,
        tool_correct=False,
        expects_call=case.expects_call,
        messages=case.messages,
        tools=case.tools,
        expected=case.expected,
    )
    t0 = time.perf_counter()
    calls: list[ToolCall] = []
    crashed = False
    try:
        if config == "raw":
            comp = model.chat(case.messages, tools=specs, max_tokens=max_tokens)
            res.decision_s = time.perf_counter() - t0
            calls = list(comp.tool_calls)
            res.raw, res.text = comp.text, comp.content
            res.malformed = comp.parse_error is not None and not calls
            res.ttft_s = comp.usage.ttft_s
            res.prompt_tokens, res.completion_tokens = comp.usage.prompt_tokens, comp.usage.completion_tokens
            if calls and parse_tool_calls(comp.text).lenient:
                # The backend found the calls only by lenient parsing (fences, bare JSON):
                # counted as made, but marked so the strict-format rate stays visible.
                res.repairs = ["lenient_parse"]
        else:
            agent = agent_factory(model, _demo_or_specs(case, specs, episodes), config, toolset_prompt(case.tools))
            d = agent.decide(case.messages)
            res.decision_s = d.decision_s or (time.perf_counter() - t0)
            calls = list(d.calls)
            res.raw, res.text = d.raw or "", d.text or ""
            res.repairs = list(d.repairs or [])
            res.malformed = bool(d.malformed)
            res.ttft_s = d.ttft_s or 0.0
            if d.usage is not None:
                res.prompt_tokens, res.completion_tokens = d.usage.prompt_tokens, d.usage.completion_tokens
            res.decision_error = str(d.error) if d.error else None
            if episodes:
                out = _run_episode(agent, case)
                res.answer = str(getattr(out, "answer", None) or getattr(out, "text", "") or "")
    except Exception as exc:  # noqa: BLE001
        # One failing case (server down, prompt over the context window, an agent bug)
        # must not lose a run of hundreds: it is recorded with its message as a bad case
        # (rule "error") and counted in the report's error rate, never hidden.
        res.error = f"{type(exc).__name__}: {exc}"
        crashed = True
    res.e2e_s = time.perf_counter() - t0
    res.calls = _calls_dicts(calls)
    verdict = ck.check_calls(case.expected, calls, specs)
    res.correct, res.tool_correct, res.rule, res.detail = verdict.correct, verdict.tool_correct, verdict.rule, verdict.detail
    if crashed:
        res.correct, res.tool_correct, res.rule = False, False, ck.ERROR
    elif not res.correct and res.malformed and not calls:
        res.rule = ck.MALFORMED
    if res.correct and case.answer and not calls:
        failed = ck.check_answer(case.answer, res.answer if res.answer is not None else res.text)
        if failed:
            res.correct, (res.rule, res.detail) = False, failed
    return res


def _is_embedded(model: Model) -> bool:
    # llama.cpp contexts are not thread-safe; one embedded model runs one request at a time.
    return type(model).__name__ == "LlamaCppModel" or bool(getattr(model, "serial", False))


def run_eval(
    cases: list[Case],
    model: Model,
    *,
    config: str = "native",
    limit: int | None = None,
    concurrency: int = 1,
    progress: Progress | None = None,
    episodes: bool = False,
    dataset: str = "",
    agent_factory: AgentFactory = default_agent_factory,
    max_tokens: int = 512,
) -> EvalRun:
    """Run ``cases`` (the first ``limit``) through ``model`` in configuration ``config``.

    ``concurrency`` > 1 uses a thread pool (useful for HTTP backends); an embedded model
    always runs one case at a time. ``progress(done, total)`` is called after each case.
    Results keep the order of ``cases``.
    """
    if config not in CONFIGS:
        raise ConfigError(f"unknown configuration {config!r}", hint="one of " + ", ".join(CONFIGS))
    if concurrency < 1:
        raise ConfigError("concurrency must be >= 1")
    todo = cases[:limit] if limit else list(cases)
    workers = 1 if _is_embedded(model) else concurrency
    run = EvalRun(
        dataset=dataset,
        model=getattr(model, "name", type(model).__name__),
        config=config,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine_info(),
        episodes=episodes,
    )

    def one(case: Case) -> CaseResult:
        return run_case(case, model, config, episodes=episodes, agent_factory=agent_factory, max_tokens=max_tokens)

    results: list[CaseResult | None] = [None] * len(todo)
    if workers == 1:
        for i, case in enumerate(todo):
            results[i] = one(case)
            if progress:
                progress(i + 1, len(todo))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(one, c): i for i, c in enumerate(todo)}
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                if progress:
                    progress(done, len(todo))
    run.results = [r for r in results if r is not None]
    return run
