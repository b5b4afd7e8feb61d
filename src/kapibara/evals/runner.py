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

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from typing import Any

from kapibara.errors import ConfigError
from kapibara.evals import checker as ck
from kapibara.evals.cases import Case, resolve_tools
from kapibara.evals.results import CaseResult, EvalRun, machine_info
from kapibara.models.base import Model, ToolCall, ToolSpec
from kapibara.models.toolcalls import parse_tool_calls
from kapibara.toolsets import toolset_entry

CONFIGS = ("raw", "native", "react", "constrained")

Progress = Callable[[int, int], None]
AgentFactory = Callable[[Model, Any, str, Any], Any]
"""``(model, toolset, config, prompt) -> agent`` with a ``decide(messages)`` method."""


def build_toolset(specs: list[ToolSpec]) -> Any:
    """A ToolSet of function-less tools from specs (evals only look at the decision)."""
    from kapibara.tools import Tool, ToolSet

    tools = []
    for spec in specs:
        fn = spec.get("function", spec)
        tools.append(Tool(name=fn["name"], description=fn.get("description", ""), parameters=fn.get("parameters") or {"type": "object", "properties": {}}, fn=None))
    return ToolSet(tools)


def default_agent_factory(model: Model, toolset: Any, config: str, prompt: Any = None, **options: Any) -> Any:
    """``Agent`` for a configuration (``native``, ``react`` or ``constrained``); ``options``
    are the tool set's default agent settings (router, examples, grounding, prompts)."""
    from kapibara.agent import Agent

    if config == "react":
        return Agent(model, toolset, prompt=prompt, protocol="react", **options)
    return Agent(model, toolset, prompt=prompt, protocol="native", constrained=(config == "constrained"), **options)


def toolset_prompt(tools: list[ToolSpec] | str) -> Any:
    """The prompt registered with a named tool set (the demo's assistant prompt), else None.

    Inline-tool cases (BFCL, HammerBench) get the agent's default prompt.
    """
    if isinstance(tools, str):
        factory = toolset_entry(tools).prompt
        return factory() if factory is not None else None
    return None


def toolset_options(tools: list[ToolSpec] | str) -> dict[str, Any]:
    """The default agent settings registered with a named tool set (none for inline tools)."""
    if isinstance(tools, str):
        factory = toolset_entry(tools).agent_options
        return dict(factory()) if factory is not None else {}
    return {}


def _demo_or_specs(case: Case, specs: list[ToolSpec]) -> Any:
    """The registered tool set for a named one (the agent a user runs: its functions for
    episodes, and what shapes a decision, such as ``Tool.vocabulary``), else tools built
    from the case's inline specs."""
    if isinstance(case.tools, str):
        factory = toolset_entry(case.tools).toolset
        if factory is not None:
            return factory()
    return build_toolset(specs)


def _calls_dicts(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [{"name": c.name, "arguments": c.arguments} for c in calls]


def case_agent(case: Case, model: Model, config: str, agent_factory: AgentFactory = default_agent_factory,
               *, episodes: bool = False) -> Any:
    """The agent a case runs through: the tool set's registered tools, prompt and default
    agent settings (inline-spec tools and the default prompt otherwise)."""
    options = toolset_options(case.tools)
    if episodes and "side_effects" in options:
        # The case's user asked for what it asks: a call grounded in their words runs
        # (a "confirm" would stop every cart episode at the question); one they did not
        # ask for is still held. The decision scored is the same under any policy.
        options["side_effects"] = "allow"
    toolset = _demo_or_specs(case, resolve_tools(case.tools))
    prompt = options.pop("prompt", None) or toolset_prompt(case.tools)
    return agent_factory(model, toolset, config, prompt, **options) if options else \
        agent_factory(model, toolset, config, prompt)


def run_episode(agent: Any, case: Case) -> Any:
    """``agent.run`` on the case's last user message, the earlier turns as its history, so
    a follow-up ("那它的电池呢？") is answered knowing what "它" was."""
    last = max((i for i, m in enumerate(case.messages) if m.get("role") == "user"), default=-1)
    question = str(case.messages[last].get("content") or "") if last >= 0 else ""
    history = [m for m in case.messages[:max(last, 0)] if m.get("role") != "system"]
    return agent.run(question, history=history)


def _episode_tokens(records: list[dict[str, Any]]) -> int:
    """Tokens generated by every model call of an episode's trace."""
    return sum(int((rec.get("usage") or {}).get("completion_tokens") or 0)
               for rec in records if rec.get("type") == "model_call")


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
            agent = case_agent(case, model, config, agent_factory, episodes=episodes)
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
            res.stops = dict(d.stops)
            res.unsupported = list(d.unsupported)
            res.turn_tokens = res.completion_tokens
            if episodes:
                out = run_episode(agent, case)
                res.answer = str(getattr(out, "answer", None) or getattr(out, "text", "") or "")
                res.turn_tokens = max(res.turn_tokens, _episode_tokens(out.trace))
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
    workers = concurrency if model.thread_safe else 1
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
