"""The agent: decide, act, observe, repeat; then answer.

``Agent.stream`` is the loop (read it first: it fits on one screen). The decision with
its repair ladder lives in ``decide.py``; this module adds tool execution (``_act``), the
forced answer when the step budget is spent or a call repeats
(``_answer_from_observations``), and what one run needs (``Run``: the session, the
language, the deadline). The ``Agent`` holds its configuration only, so one agent can
serve several users in several languages at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kapibara.agent.answer import LAYOUTS, AnswerLayout, answer_messages
from kapibara.agent.answer import observations as shown_results
from kapibara.agent.answer_check import answer_problem, repeats_error, unwrap_answer
from kapibara.agent.budget import DEADLINE, Budgets
from kapibara.agent.decide import Decider, Decision, decide, evidence, final_message, generate
from kapibara.agent.doubt import DOUBT_AT, Relevance
from kapibara.agent.events import AgentEvent
from kapibara.agent.examples import ExampleBank
from kapibara.agent.grounding import Grounding
from kapibara.agent.leaks import instructions, leaked_span
from kapibara.agent.parsing import parse_react
from kapibara.agent.policy import (
    STATE_KEY,
    PendingAction,
    SideEffectPolicy,
    Verdict,
    user_words,
    verdicts_for,
)
from kapibara.agent.profile import CompactToolSet, compact_prompt, model_profile, model_tool_format
from kapibara.agent.protocols import OBSERVATION, get_protocol
from kapibara.agent.router import DescriptionRouter, Route, Router
from kapibara.agent.trace import Trace
from kapibara.errors import ConfigError
from kapibara.memory.budget import approx_tokens, fit_to_budget, message_tokens
from kapibara.models.base import (
    CachesPrefix,
    ChatRequest,
    CountsTokens,
    Message,
    Model,
    Sampling,
    ToolCall,
)
from kapibara.models.tool_text import TOOL_FORMATS
from kapibara.models.toolcalls import parse_tool_calls
from kapibara.prompts import Prompt
from kapibara.prompts.loader import detect_language, render_template
from kapibara.tools import ToolContext, ToolResult, ToolSet, execute_calls

Gen = Generator[AgentEvent, None, Any]

__all__ = ["Agent", "Decision", "RunResult"]


@dataclass
class RunResult:
    """What ``Agent.run`` returns: the answer, the calls made and their results, the trace."""

    answer: str
    steps: int
    tool_calls: list[ToolCall]
    tool_results: list[ToolResult]
    trace: list[dict[str, Any]]
    session_id: str
    stop_reason: str = "answer"
    """``answer`` (the model answered), ``direct`` (the tools' own renderings answered,
    ``Tool.direct_answer``), ``max_steps``, ``repeated_call``, ``malformed``,
    ``deadline`` (the turn's time budget ran out) or ``pending`` (calls wait for the user's
    approval: ``pending``; ``tool_calls`` holds them, as proposed)."""
    pending: PendingAction | None = None


@dataclass
class Run:
    """The state of one run: whose session, in which language, until when. Never on the Agent."""

    id: str
    history: list[Message]
    ctx: ToolContext
    trace: Trace
    language: str
    prompt: Prompt | None
    decider: Decider
    results: list[ToolResult] = field(default_factory=list)
    recalled: bool = False
    """Long-term memories are in this turn's context (untrusted text, like tool results)."""
    errors_shown: list[str] = field(default_factory=list)
    """The error messages the model was shown this turn: an answer repeating one is no answer."""


class Agent:
    """A tool-using agent over any ``Model`` with a ``ToolSet``.

    ``protocol`` is ``"native"`` (the model's tool calling) or ``"react"`` (ReAct text).
    ``constrained=True`` decodes every call under a JSON schema / grammar: the model's
    unconstrained output decides call or answer, then a call is decoded again under the
    chosen tool's schema. ``repair=False`` turns the repair ladder off (strict parsing, no
    fuzzy names, no re-ask), for measuring what it buys. ``prompt`` is one ``Prompt`` or
    one per language (``{"zh": ..., "en": ...}``): without a fixed ``language`` a run
    answers in the language of the user's message. ``budgets`` caps tokens per generation
    and the time of a turn; ``grounding`` checks that answers state only facts the tools
    returned. With a ``store``, runs with a ``session_id`` resume the conversation and
    the tool state. With a ``memory`` (``kapibara.memory.longterm.LongTermMemory``), runs
    with a ``user_id`` recall the user's relevant facts before the question.
    ``side_effects`` is the owner's policy for tools that declare side effects (``allow``,
    ``confirm``, ``deny``, per tool as ``{"*": "allow", "add_to_cart": "confirm"}``; see
    ``kapibara.agent.policy``): under ``confirm`` the turn ends with a pending action that
    ``resume`` runs or declines. ``guard`` marks tool results as data in the answer prompt
    and replaces an answer that repeats the system prompt (off only to measure them).
    ``answer_prompt`` lays out the answer from tool results (``kapibara.agent.answer``):
    ``plain`` or ``cached`` (its fixed part's prefilled state is saved by ``cache_prefix``:
    ~3 s less prefill on the 0.5B, but terser answers; see bench/results/first_run.md).
    ``doubt_at``: a call read leniently from free text, which the model's own first token
    gave less than this probability of being a call, to tools the question is far from
    (``relevance``, by default the bundled embedder), is answered instead, unless a router
    that knows when no tool is needed decided (rung ``doubt``, ``kapibara.agent.doubt``);
    0 turns it off. ``ask_missing`` (on by default): a call whose required string value
    the conversation never gave (the model invented it) becomes the agent's question for
    it (rung ``ask``, ``kapibara.agent.repair.missing_required``); off, the call is sent.
    ``tool_format`` is how a backend that renders the prompt itself shows the tools:
    ``signature`` (``kapibara.models.tool_text``: a third fewer tokens on BFCL) or
    ``json`` (the chat template's own form); by default signatures, except to a model
    tuned on its tools, which is shown them as it was trained (``model_tool_format``).
    """

    def __init__(
        self,
        model: Model,
        tools: ToolSet,
        prompt: Prompt | Mapping[str, Prompt] | None = None,
        protocol: Literal["native", "react"] = "native",
        max_steps: int = 5,
        constrained: bool = False,
        repair: bool = True,
        store: Any = None,
        max_context_tokens: int | None = None,
        *,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
        language: str | None = None,
        memory: Any = None,
        budgets: Budgets | None = None,
        grounding: Grounding | None = None,
        router: Router | None = None,
        examples: ExampleBank | None = None,
        shots: int = 4,
        shot_floor: float = 0.3,
        ask_missing: bool = True,
        doubt_at: float = DOUBT_AT,
        relevance: Relevance | None = None,
        side_effects: str | Mapping[str, str] | SideEffectPolicy | None = None,
        guard: bool = True,
        answer_prompt: AnswerLayout = "plain",
        direct_answers: bool = True,
        tool_format: str | None = None,
    ) -> None:
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        if answer_prompt not in LAYOUTS:
            raise ConfigError(f"unknown answer_prompt {answer_prompt!r}", hint="use one of: " + ", ".join(LAYOUTS))
        self.model = model
        self.tools = tools
        self.prompts: dict[str, Prompt] = (
            dict(prompt) if isinstance(prompt, Mapping) else {prompt.language: prompt} if prompt else {})
        self.protocol = get_protocol(protocol)
        if protocol == "native" and not model.supports_tools:
            raise ConfigError(f"model {model.name!r} has no native tool calling", hint='use protocol="react"')
        self.max_steps = max_steps
        self.constrained = constrained
        self.repair = repair
        self.store = store
        self.max_context_tokens = max_context_tokens
        self.budgets = budgets or Budgets()
        if max_tokens is not None:  # one cap for every generation (tests, benchmarks)
            self.budgets = replace(self.budgets, decision_tokens=max_tokens, answer_tokens=max_tokens,
                                   rung_tokens=min(self.budgets.rung_tokens, max_tokens))
        self.sampling = sampling or Sampling()
        # A single prompt fixes its language; without one fixed, each run follows the
        # user's message (an English question got Chinese answers from the 0.5B).
        self.language = language or (next(iter(self.prompts)) if len(self.prompts) == 1 else None)
        self.grounding = grounding
        self.memory = memory
        self.router = router
        if isinstance(router, DescriptionRouter):
            router.describe({t.name: f"{t.name}: {t.description}" for t in self.tools})
        self.examples = examples
        self.shots = shots
        self.shot_floor = shot_floor
        self.ask_missing = ask_missing
        if not 0.0 <= doubt_at <= 1.0:
            raise ConfigError(f"doubt_at must be a probability in [0, 1], got {doubt_at}")
        self.doubt_at = doubt_at
        self.relevance = relevance or Relevance(router.embedder if isinstance(router, DescriptionRouter) else None)
        self.policy = SideEffectPolicy.parse(side_effects)
        self.guard = guard
        self.answer_prompt = answer_prompt
        self.direct_answers = direct_answers
        if tool_format is not None and tool_format not in TOOL_FORMATS:
            raise ConfigError(f"unknown tool_format {tool_format!r}", hint="use one of: " + ", ".join(TOOL_FORMATS))
        self.tool_format = tool_format or model_tool_format(model, tools)
        if model_profile(model, tools) == "compact":
            # A model tuned on the domain learned its tools and examples in the weights:
            # the role line and bare tool signatures, no examples in the prompt. A router
            # stays: it adds no prompt tokens, and with the demo's router the tuned 0.5B's
            # right tool on the domain test split rose from 72% to 93% (docs/finetune.md).
            self.prompts = {lang: compact_prompt(p) for lang, p in self.prompts.items()}
            self.tools = CompactToolSet(tools)
            self.examples, self.shots = None, 0

    @property
    def prompt(self) -> Prompt | None:
        """The prompt of the agent's fixed language (or its only/first prompt)."""
        return self.prompt_for(self.language or "zh")

    # -- the loop ----------------------------------------------------------------------

    def stream(self, question: str, session_id: str | None = None, user_id: str = "",
               history: list[Message] | None = None) -> Iterator[AgentEvent]:
        """Run the agent on one question, yielding events; the last one is ``final``.

        ``history`` gives the earlier turns directly (instead of a stored session).
        """
        run = self._start(question, session_id, user_id, history)
        turn: list[Message] = [{"role": "user", "content": question}]
        self._save(run, turn)
        turn = self._recall(run, user_id, question) + turn
        return self._turn(run, question, turn, 0, [], set())

    def resume(self, session_id: str, action_id: str, approve: bool, user_id: str = "") -> Iterator[AgentEvent]:
        """Approve (run) or reject the session's pending action ``action_id`` and finish its
        turn, yielding events like ``stream``. Works from any process on the same store."""
        if self.store is None:
            raise ConfigError("approving a pending action needs a session store", hint="pass store=open_store(...)")
        data = self.store.get_state(session_id).get(STATE_KEY)
        if not isinstance(data, dict) or data.get("id") != action_id:
            return self._no_pending(session_id, action_id)
        pending = PendingAction.from_dict(data)
        run = self._start(pending.question, session_id, user_id, None, pending.language)
        run.trace.add("approval", action_id=action_id, approved=approve,
                      calls=[{"name": c.name, "arguments": c.arguments} for c in pending.waiting()])
        last = max((i for i, m in enumerate(run.history) if m.get("role") == "user"
                    and m.get("content") == pending.question), default=len(run.history))
        run.history = run.history[:last]  # this turn's messages come back below, with the call
        verdicts: list[Verdict] = [("run" if approve else "decline") if v == "confirm" else v for v in pending.verdicts]
        return self._continue(run, pending, verdicts)

    def _continue(self, run: Run, pending: PendingAction, verdicts: list[Verdict]) -> Gen:
        step, seen = pending.step, {_call_key(c) for c in pending.calls}
        results, _ = yield from self._act(pending.calls, set(), run, step, verdicts)
        run.results += results
        new = [pending.message, *self.protocol.observations(results, run.language)]
        direct = self._direct(run, results, step)  # "已加入购物车：..." needs no model call
        if direct is not None:
            new.append(final_message(self.protocol.name, direct))
        self._save(run, new)
        turn: list[Message] = [{"role": "user", "content": pending.question}, *new]
        return (yield from self._turn(run, pending.question, turn, step, list(pending.calls), seen, direct))

    def _no_pending(self, session_id: str, action_id: str) -> Iterator[AgentEvent]:
        language = self.language or "zh"
        text = render_template("agent_no_pending_action", language, id=action_id)
        yield AgentEvent("final", RunResult(text, 0, [], [], [], session_id, "no_pending"), 0)

    def _turn(self, run: Run, question: str, turn: list[Message], step: int, calls: list[ToolCall],
              seen: set[str], direct: str | None = None) -> Gen:
        """Decide and act until an answer, the step budget, or a pending action (``direct``:
        the answer is already there, rendered from the approved calls' results)."""
        answer, reason = (direct, "direct") if direct is not None else (None, "max_steps")
        pending: PendingAction | None = None
        said = user_words(run.history, question)
        while answer is None and step < self.max_steps:
            if run.decider.out_of_time():
                reason = "deadline"
                break
            step += 1
            messages, route = self._prepare(run, turn, first=step == 1)
            d: Decision = yield from decide(run.decider, messages, step, run.trace, route)
            if d.thought:
                yield AgentEvent("thought", d.thought, step)
            if d.malformed and not d.calls:  # the model sees its error and tries again
                yield AgentEvent("error", d.error, step)
                new = [d.message or {"role": "assistant", "content": d.raw}, self._error_message(run, d)]
                reason = "deadline" if d.out_of_time else "malformed"
            elif not d.calls:
                answer, reason = unwrap_answer(d.text), "answer"
                new = [d.message or final_message(self.protocol.name, d.text)]
                if repeats_error(answer, run.errors_shown, said):
                    # The 0.5B, shown "constrained output is not JSON: ...", wrote that back
                    # as its answer: the user gets an honest failure instead.
                    run.trace.add("answer_replaced", step=step, answer=answer, problem="error_echo")
                    answer = render_template("agent_call_failed", run.language)
                    new = [final_message(self.protocol.name, answer)]
                if run.results and (problem := self._answer_problem(run, question, answer)):
                    # Raw result JSON, the question echoed, a looping phrase: written again
                    # from the results alone, as when the step budget runs out.
                    run.trace.add("answer_rewritten", step=step, answer=answer, problem=problem)
                    answer = yield from self._answer_from_observations(run, question, step, reason)
                    new = [final_message(self.protocol.name, answer)]
            else:
                verdicts, reasons = verdicts_for(self.policy, self.tools, d.calls, said,
                                                 tainted=bool(run.results) or run.recalled)
                # A call made already this turn is refused as a repeat in _act, never held for
                # a confirmation of what has already happened (the 0.5B adds, then adds again).
                verdicts = ["run" if _call_key(c) in seen else v for c, v in zip(d.calls, verdicts, strict=True)]
                if "confirm" in verdicts:  # the turn ends; the user approves or rejects
                    pending = PendingAction.new(d.calls, verdicts, reasons, question, step, run.language,
                                                d.message or {"role": "assistant", "content": d.raw})
                    calls += d.calls
                    answer, reason = self._hold(run, pending), "pending"
                    yield AgentEvent("pending", pending, step)
                    turn.append(final_message(self.protocol.name, answer))
                    self._save(run, turn[-1:])
                    break
                step_results, repeated = yield from self._act(d.calls, seen, run, step, verdicts)
                calls += d.calls
                run.results += step_results
                new = [d.message or {"role": "assistant", "content": d.raw},
                       *self.protocol.observations(step_results, run.language)]
                reason = "max_steps"
                if repeated:
                    yield AgentEvent("error", f"repeated call: {repeated}", step)
                    reason = "repeated_call"
                elif (direct := self._direct(run, step_results, step)) is not None:
                    answer, reason = direct, "direct"
                    new.append(final_message(self.protocol.name, direct))
            turn += new
            self._save(run, new)
            if reason in ("repeated_call", "deadline"):
                break
        if answer is None:  # budget spent, a call repeated, or out of time: answer from what was observed
            answer = yield from self._answer_from_observations(run, question, step, reason)
            answer = self._unleaked(run, question, answer)
            self._save(run, [final_message(self.protocol.name, answer)])
        elif reason == "answer":
            answer = self._unleaked(run, question, answer)
        run.trace.add("run_end", answer=answer, steps=step, stop_reason=reason,
                      errors=_error_counts(run.results), n_tool_calls=len(calls))
        yield AgentEvent("final", RunResult(answer, step, calls, run.results, run.trace.records, run.id, reason,
                                            pending), step)

    def run(self, question: str, session_id: str | None = None, user_id: str = "",
            history: list[Message] | None = None) -> RunResult:
        """Run the agent to the end and return its result (consumes ``stream``)."""
        for event in self.stream(question, session_id=session_id, user_id=user_id, history=history):
            if event.kind == "final":
                result: RunResult = event.data
                return result
        raise RuntimeError("agent stream ended without a final event")  # a bug, not user error

    # -- one decision, for evaluation ------------------------------------------------------

    def decide(self, messages: list[Message], ctx: ToolContext | None = None) -> Decision:
        """One model decision for ``messages`` with the full repair ladder; runs no tool.

        The agent's prompt is put in front unless ``messages`` starts with a system message.
        """
        question = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
        language = self._language_of(question)
        if not messages or messages[0].get("role") != "system":
            messages = self._system_messages(self.prompt_for(language), language) + list(messages)
        trace = Trace(run_id=uuid.uuid4().hex, session_id=ctx.session_id if ctx else None)
        system, rest = messages[:1], list(messages[1:])
        route = self.route(rest)
        gen = decide(self._decider(language), system + self._shots(rest, route) + rest, 1, trace, route)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                decision: Decision = stop.value
                decision.trace = list(trace.records)
                return decision

    # -- acting --------------------------------------------------------------------------

    def _act(self, calls: list[ToolCall], seen: set[str], run: Run, step: int,
             verdicts: list[Verdict] | None = None) -> Gen:
        """Run the step's calls concurrently; a call identical to an earlier one is refused,
        one the policy denies (or the user declined) is not run and the model is told so."""
        fresh: list[ToolCall] = []
        repeated: list[ToolCall] = []
        held: dict[int, ToolResult] = {}
        ruling: list[Verdict] = verdicts or ["run"] * len(calls)
        for call, verdict in zip(calls, ruling, strict=True):
            yield AgentEvent("tool_call", call, step)
            if verdict in ("deny", "decline"):
                held[id(call)] = _refused(call, verdict, run.language)
                run.trace.add("policy", step=step, call_id=call.id, name=call.name, arguments=call.arguments,
                              verdict=verdict)
                continue
            key = _call_key(call)
            (repeated if key in seen else fresh).append(call)
            seen.add(key)
        done = {id(r.call): r for r in execute_calls(self.tools, fresh, run.ctx, language=run.language)} if fresh else {}
        done.update(held)
        results: list[ToolResult] = []
        for call in calls:
            result = done.get(id(call))
            if result is None:
                text = render_template("agent_repeated_call", run.language, name=call.name,
                                       arguments=json.dumps(call.arguments, ensure_ascii=False))
                result = ToolResult(call=call, output=text, error="repeated_call", error_kind=None,
                                    duration_s=0.0)
            results.append(result)
            run.trace.add("tool_call", step=step, call_id=call.id, name=call.name, arguments=call.arguments,
                          output=result.output, error=result.error, error_kind=result.error_kind,
                          duration_s=result.duration_s, repeated=result.call in repeated,
                          value=getattr(result, "value", None))
            yield AgentEvent("observation", result, step)
        if fresh and self.store is not None:
            self.store.set_state(run.id, run.ctx.state)
        names = ", ".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in repeated)
        return results, names

    def _direct(self, run: Run, results: list[ToolResult], step: int) -> str | None:
        """The step's results as the answer, when every call's tool renders its own
        (``Tool.direct_answer``) and every call succeeded; None to let the model answer."""
        if not self.direct_answers or not results:
            return None
        parts: list[str] = []
        for r in results:
            t = self.tools.get(r.call.name)
            if t is None or t.direct_answer is None or not r.ok or r.value is None:
                return None
            try:
                text = t.direct_answer(r.value, run.language)
            except Exception as exc:  # a renderer's bug must not lose the turn: the model answers
                run.trace.add("direct_answer_error", step=step, name=t.name, error=f"{type(exc).__name__}: {exc}")
                return None
            if not text:
                return None
            parts.append(text.strip())
        answer = "\n\n".join(parts)
        run.trace.add("direct_answer", step=step, tools=[r.call.name for r in results], answer=answer)
        return answer

    def _answer_from_observations(self, run: Run, question: str, step: int, reason: str) -> Gen:
        """Answer from the observations so far; no tools offered.

        The question and the observations go into one plain user message: small models
        (measured on the bundled 0.5B) keep calling tools, or refuse, when asked to answer
        inside the tool-calling conversation, but summarise a block of text well. An
        answer stating facts the results do not hold gives way to the results themselves.
        """
        observations = shown_results(run.results, "cached", run.language)  # one line per item, not JSON
        if reason == "deadline" or run.decider.out_of_time():
            seconds = int(run.decider.budgets.timeout_s)
            if not run.results:
                return render_template("agent_turn_timeout", run.language, seconds=seconds)
            return render_template("agent_results_answer", run.language, observations=observations)
        messages = answer_messages(self.answer_prompt, self._answer_role(run.prompt, run.language), run.language,
                                   question, run.results, marked=self.guard)
        request = ChatRequest(messages=messages, sampling=self.sampling,
                              max_tokens=run.decider.budgets.answer_tokens)
        completion = yield from generate(self.model, request, step, run.decider.deadline)
        run.trace.model_call(step=step, attempt=0, rung="answer_from_observations", protocol=self.protocol.name,
                             request=request, completion=completion, model=self.model.name)
        if completion.finish_reason == DEADLINE:  # a half-written answer is worse than the results
            return render_template("agent_results_answer", run.language, observations=observations)
        parsed = parse_react(completion.text)
        answer = parsed.answer if parsed.answer is not None else parse_tool_calls(completion.text).content
        if parsed.thought:
            yield AgentEvent("thought", parsed.thought, step)
        answer = answer.strip() or completion.text.strip()
        if run.results and (problem := self._answer_problem(run, question, answer)):
            run.trace.add("answer_rewritten", step=step, answer=answer, problem=problem)
            return render_template("agent_results_answer", run.language, observations=observations)
        if self.grounding is not None and run.results:
            unsupported = self.grounding.unsupported(answer, evidence(messages))
            if unsupported:
                run.trace.add("ungrounded", step=step, answer=answer, unsupported=unsupported)
                return render_template("agent_results_answer", run.language, observations=observations)
        return answer

    @staticmethod
    def _answer_problem(run: Run, question: str, answer: str) -> str | None:
        """Why an answer written from this turn's results is no answer (``answer_check``)."""
        return answer_problem(answer, question, [r.output for r in run.results])

    def cache_prefix(self, language: str | None = None) -> Any:
        """Save the model's prefilled state for this agent's fixed prefix (system prompt,
        few-shot examples, tools) so the first call of a later process skips that prefill.

        ``language`` picks the prompt (default: the agent's). Returns the state file, or
        None for models that cannot (not ``CachesPrefix``).
        """
        if not isinstance(self.model, CachesPrefix):
            return None
        lang = language or self.language or "zh"
        if self.answer_prompt == "cached":  # first: the KV cache is left holding the decision's prefix
            role = self._answer_role(self.prompt_for(lang), lang)
            self.model.ensure_prefix(answer_messages("cached", role, lang, "", [], marked=self.guard)[:1])
        req = self.protocol.prepare(self._system_messages(self.prompt_for(lang), lang), self.tools, lang)
        return self.model.ensure_prefix(req.messages, req.tools, tool_format=self.tool_format)

    # -- prompt, context and session -----------------------------------------------------

    def _answer_role(self, prompt: Prompt | None, language: str) -> str:
        """The system role of the answer from observations: the prompt's role only."""
        return prompt.role if prompt is not None else render_template("agent_default_system", language)

    def system_messages(self, language: str) -> list[Message]:
        """The messages this agent puts before a conversation in ``language``."""
        return self._system_messages(self.prompt_for(language), language)

    def prompt_for(self, language: str) -> Prompt | None:
        """The prompt for ``language``: its own, else the agent's only/first one."""
        return self.prompts.get(language) or next(iter(self.prompts.values()), None)

    def _language_of(self, text: str) -> str:
        return self.language or (detect_language(text) if text else "zh")

    def _decider(self, language: str) -> Decider:
        deadline = time.monotonic() + self.budgets.timeout_s if self.budgets.timeout_s else None
        return Decider(model=self.model, tools=self.tools, protocol=self.protocol, language=language,
                       sampling=self.sampling, budgets=self.budgets, deadline=deadline,
                       constrained=self.constrained, repair=self.repair, grounding=self.grounding,
                       ask_missing=self.ask_missing, doubt_at=self.doubt_at,
                       relevance=self.relevance, tool_format=self.tool_format)

    def _system_messages(self, prompt: Prompt | None, language: str) -> list[Message]:
        """The prompt's messages before the question (system part and few-shot examples)."""
        if prompt is None:
            return [{"role": "system", "content": render_template("agent_default_system", language)}]
        return list(prompt.render([], self.tools, protocol="react" if self.protocol.name == "react" else "native"))

    def route(self, conversation: list[Message]) -> Route | None:
        """Where the router sends this conversation (None without a router)."""
        return self.router.route(conversation, self.tools.names) if self.router is not None else None

    def _shots(self, conversation: list[Message], route: Route | None) -> list[Message]:
        """The retrieved few-shot examples as example turns (empty without a bank).

        The examples nearest to the conversation, diverse across tools and including
        no-call ones; with a route, only examples of the routed tools (or no call).
        """
        if self.examples is None or not len(self.examples) or self.shots <= 0:
            return []
        allowed = route.tools if route is not None and route.mode != "answer" and route.tools else self.tools.names
        hits = [(ex, sim) for ex, sim in self.examples.search(conversation, k=self.shots, floor=self.shot_floor,
                                                              allowed=allowed) if ex.calls or ex.answer]
        turns: list[Message] = []
        for ex, _sim in reversed(hits):  # the nearest example last, closest to the question
            turns += self.protocol.example_turns(ex.question, ex.calls, ex.answer)
        return turns

    def _prepare(self, run: Run, turn: list[Message], first: bool) -> tuple[list[Message], Route | None]:
        """The messages of one decision and its route. The first decision of a turn is
        routed and gets retrieved examples; later ones (after tool results) decide freely."""
        messages = self._context(run, turn)
        if not first:
            return messages, None
        route = self.route(messages[1:])
        shots = self._shots(messages[1:], route)
        return messages[:1] + shots + messages[1:], route

    def _context(self, run: Run, turn: list[Message]) -> list[Message]:
        """System prompt + as much recent history as fits + the whole current turn."""
        budget = self.max_context_tokens or max(256, int(self.model.context_window) - self.budgets.decision_tokens)
        model = self.model
        count = (lambda text: len(model.tokenize(text)) if text else 0) if isinstance(model, CountsTokens) else approx_tokens
        system = self._system_messages(run.prompt, run.language)
        room = budget - sum(message_tokens(m, count) for m in turn)
        kept = fit_to_budget(system + run.history, room, count) if run.history else system
        return kept + turn

    def _start(self, question: str, session_id: str | None, user_id: str, history: list[Message] | None,
               language: str | None = None) -> Run:
        sid = session_id or uuid.uuid4().hex
        stored = self.store is not None and session_id is not None and history is None
        past = list(history) if history is not None else self.store.messages(sid) if stored else []
        state = self.store.get_state(sid) if stored else {}
        dropped = state.pop(STATE_KEY, None)  # a new turn (or its approval) ends any waiting action
        if dropped is not None and self.store is not None:
            self.store.set_state(sid, state)
        language = language or self._language_of(question)
        run = Run(id=sid, history=past, ctx=ToolContext(session_id=sid, user_id=user_id, state=state),
                  trace=Trace(run_id=uuid.uuid4().hex, session_id=sid, store=self.store),
                  language=language, prompt=self.prompt_for(language), decider=self._decider(language))
        run.trace.add("run_start", question=question, protocol=self.protocol.name, model=self.model.name,
                      tools=self.tools.specs(), max_steps=self.max_steps, constrained=self.constrained,
                      repair=self.repair, user_id=user_id, history_messages=len(past), language=language,
                      budgets=self.budgets)
        if dropped is not None:
            run.trace.add("pending_dropped", action_id=dropped.get("id"))
        return run

    def _hold(self, run: Run, pending: PendingAction) -> str:
        """Store the pending action with the session; the text asking the user about it."""
        run.ctx.state[STATE_KEY] = pending.to_dict()
        if self.store is not None:
            self.store.set_state(run.id, run.ctx.state)
        run.trace.add("pending", **pending.public())
        shown = [{"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}
                 for c in pending.public()["calls"]]
        return render_template("agent_pending_action", run.language, calls=shown, id=pending.id)

    def _unleaked(self, run: Run, question: str, answer: str) -> str:
        """The answer, or a refusal when it repeats a span of the system prompt."""
        if not self.guard:
            return answer
        secret = instructions(run.prompt) if run.prompt is not None else \
            render_template("agent_default_system", run.language)
        span = leaked_span(answer, secret, user_words(run.history, question))
        if span is None:
            return answer
        run.trace.add("prompt_leak", answer=answer, span=span)
        return render_template("agent_prompt_leak", run.language)

    def _recall(self, run: Run, user_id: str, question: str) -> list[Message]:
        """The user's remembered facts relevant to the question: context for this turn only."""
        if self.memory is None or not user_id:
            return []
        recalled = self.memory.recall_message(user_id, question, language=run.language)
        self.memory.observe(user_id, question, source=run.id)
        if recalled is None:
            return []
        run.trace.add("memory_recall", message=recalled)
        run.recalled = True
        return [recalled]

    def _save(self, run: Run, messages: list[Message]) -> None:
        """Append this step's messages now, so a killed process loses only the step in flight."""
        if self.store is not None:
            self.store.append(run.id, messages)

    def _error_message(self, run: Run, d: Decision) -> Message:
        text = render_template("reask_error", run.language, error=d.error or "", tool_names=", ".join(self.tools.names))
        run.errors_shown.append(text)
        return {"role": "user", "content": f"{OBSERVATION} {text}"}


def _refused(call: ToolCall, verdict: Verdict, language: str) -> ToolResult:
    """The observation for a call the policy denied or the user declined (not run)."""
    name = "observation_not_permitted" if verdict == "deny" else "observation_declined"
    return ToolResult(call=call, output=render_template(name, language, tool=call.name),
                      error="not permitted" if verdict == "deny" else "declined by the user",
                      error_kind="not_permitted" if verdict == "deny" else "declined")


def _call_key(call: ToolCall) -> str:
    return call.name + json.dumps(call.arguments, sort_keys=True, ensure_ascii=False)


def _error_counts(results: list[ToolResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        kind = r.error_kind or ("repeated_call" if r.error == "repeated_call" else None)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    return counts
