"""The agent: decide, act, observe, repeat; then answer.

``Agent.stream`` is the loop (read it first: it fits on one screen). Everything else
in this module is a helper it calls: one model decision with the repair ladder
(``_decide``), tool execution (``_act``), the forced answer when the step budget is
spent or a call repeats (``_answer_from_observations``), and session load/save.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from kapibara.agent.events import AgentEvent
from kapibara.agent.parsing import parse_react, parse_tool_calls
from kapibara.agent.protocols import OBSERVATION, Action, get_protocol
from kapibara.agent.repair import (
    RUNGS,
    coerce_calls,
    drop_ungrounded,
    fuzzy_fix,
    parse_constrained,
    tool_constraint,
    unwrap_schema_echo,
    validate_calls,
)
from kapibara.agent.trace import Trace, call_dict
from kapibara.errors import ConfigError
from kapibara.memory.budget import approx_tokens, fit_to_budget, message_tokens
from kapibara.models.base import (
    Completion,
    Constraint,
    Message,
    Sampling,
    TextDelta,
    ToolCall,
    Usage,
)
from kapibara.prompts.loader import detect_language, render_template
from kapibara.tools import ToolContext, ToolResult, ToolSet, execute_calls

Gen = Generator[AgentEvent, None, Any]


@dataclass
class Decision:
    """One model decision after the repair ladder: calls to make, or an answer.

    ``raw`` is the text of the last model output; ``repairs`` lists the rungs that fired
    (``lenient_parse``, ``fuzzy_name``, ``reask``, ``constrained``); ``malformed`` is True
    when the ladder did not produce valid calls or a clean answer (``error`` says why;
    ``calls`` may still hold the invalid calls). ``usage`` sums every model call made.
    """

    calls: list[ToolCall]
    text: str
    raw: str
    repairs: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    decision_s: float = 0.0
    ttft_s: float = 0.0
    malformed: bool = False
    error: str | None = None
    thought: str = ""
    message: Message | None = None
    """The assistant message to append to the conversation (protocol format)."""
    trace: list[dict[str, Any]] = field(default_factory=list)
    """This decision's trace records (its model calls, then the ``decision`` record)."""


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
    """``answer`` (the model answered), ``max_steps``, ``repeated_call`` or ``malformed``."""


@dataclass
class _Session:
    id: str
    history: list[Message]
    ctx: ToolContext
    trace: Trace


class Agent:
    """A tool-using agent over any ``Model`` with a ``ToolSet``.

    ``protocol`` is ``"native"`` (the model's tool calling) or ``"react"`` (ReAct text).
    ``constrained=True`` decodes every call under a JSON schema / grammar: the model's
    unconstrained output decides call or answer, then a call is decoded again under the
    chosen tool's schema. ``repair=False`` turns the repair ladder off (strict
    parsing, no fuzzy names, no re-ask), for measuring what it buys. With a ``store``,
    runs with a ``session_id`` resume the conversation and the tool state. With a
    ``memory`` (``kapibara.memory.longterm.LongTermMemory``), runs with a ``user_id``
    recall the user's relevant facts before the question and remember new ones.
    """

    def __init__(
        self,
        model: Any,
        tools: ToolSet,
        prompt: Any = None,
        protocol: Literal["native", "react"] = "native",
        max_steps: int = 5,
        constrained: bool = False,
        repair: bool = True,
        store: Any = None,
        max_context_tokens: int | None = None,
        *,
        max_tokens: int = 512,
        sampling: Sampling | None = None,
        language: str | None = None,
        memory: Any = None,
    ) -> None:
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        self.model = model
        self.tools = tools
        self.prompt = prompt
        self.protocol = get_protocol(protocol)
        if protocol == "native" and not getattr(model, "supports_tools", False):
            raise ConfigError(
                f"model {getattr(model, 'name', model)!r} has no native tool calling",
                hint='use protocol="react"',
            )
        self.max_steps = max_steps
        self.constrained = constrained
        self.repair = repair
        self.store = store
        self.max_context_tokens = max_context_tokens
        self.max_tokens = max_tokens
        self.sampling = sampling or Sampling()
        # Without a prompt or caller that fixes it, the language of the user's latest
        # message sets the agent's own texts (an English question got Chinese format
        # instructions and Chinese thoughts back from the 0.5B).
        self._fixed_language = language or getattr(prompt, "language", None)
        self.language = self._fixed_language or "zh"
        self.memory = memory  # a LongTermMemory: facts a user stated, recalled across sessions

    # -- the loop ----------------------------------------------------------------------

    def stream(self, question: str, session_id: str | None = None, user_id: str = "") -> Iterator[AgentEvent]:
        """Run the agent on one question, yielding events; the last one is ``final``."""
        self._follow_language(question)
        s = self._open(session_id, user_id, question)
        turn: list[Message] = [{"role": "user", "content": question}]
        self._save(s, turn)
        if self.memory is not None and user_id:
            recalled = self.memory.recall_message(user_id, question, language=self.language)
            self.memory.observe(user_id, question, source=s.id)
            if recalled is not None:  # context for this turn only; the store keeps the question
                turn = [recalled, *turn]
                s.trace.add("memory_recall", message=recalled)
        calls: list[ToolCall] = []
        results: list[ToolResult] = []
        seen: set[str] = set()
        answer, reason, step = None, "max_steps", 0
        while answer is None and step < self.max_steps:
            step += 1
            d: Decision = yield from self._decide(self._context(s.history, turn), step, s.trace)
            if d.thought:
                yield AgentEvent("thought", d.thought, step)
            if d.malformed and not d.calls:  # the model sees its error and tries again
                yield AgentEvent("error", d.error, step)
                new = [d.message or {"role": "assistant", "content": d.raw}, self._error_message(d)]
                reason = "malformed"
            elif not d.calls:
                answer, reason = d.text, "answer"
                new = [d.message or self._final_message(d.text)]
            else:
                step_results, repeated = yield from self._act(d.calls, seen, s, step)
                calls += d.calls
                results += step_results
                new = [d.message or {"role": "assistant", "content": d.raw},
                       *self.protocol.observations(step_results, self.language)]
                reason = "max_steps"
                if repeated:
                    yield AgentEvent("error", f"repeated call: {repeated}", step)
                    reason = "repeated_call"
            turn += new
            self._save(s, new)
            if reason == "repeated_call":
                break
        if answer is None:  # budget spent or a call repeated: answer from what was observed
            answer = yield from self._answer_from_observations(s, question, results, step)
            final = self._final_message(answer)
            self._save(s, [final])
        s.trace.add("run_end", answer=answer, steps=step, stop_reason=reason,
                    errors=_error_counts(results), n_tool_calls=len(calls))
        yield AgentEvent("final", RunResult(answer, step, calls, results, s.trace.records, s.id, reason), step)

    def run(self, question: str, session_id: str | None = None, user_id: str = "") -> RunResult:
        """Run the agent to the end and return its result (consumes ``stream``)."""
        for event in self.stream(question, session_id=session_id, user_id=user_id):
            if event.kind == "final":
                result: RunResult = event.data
                return result
        raise RuntimeError("agent stream ended without a final event")  # a bug, not user error

    # -- one decision with the repair ladder -------------------------------------------

    def decide(self, messages: list[Message], ctx: ToolContext | None = None) -> Decision:
        """One model decision for ``messages`` with the full repair ladder; runs no tool.

        The agent's prompt is put in front unless ``messages`` starts with a system message.
        """
        self._follow_language(next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), ""))
        if not messages or messages[0].get("role") != "system":
            messages = self._system_messages() + list(messages)
        trace = Trace(run_id=uuid.uuid4().hex, session_id=ctx.session_id if ctx else None)
        gen = self._decide(messages, 1, trace)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                decision: Decision = stop.value
                decision.trace = list(trace.records)
                return decision

    def _decide(self, messages: list[Message], step: int, trace: Trace) -> Gen:
        t0 = time.perf_counter()
        repairs: list[str] = []
        usages: list[Usage] = []
        said = _user_text(messages)
        completion = yield from self._call(messages, None, step, 0, None, trace, usages)
        action, error = self._check(completion, None, repairs, said)
        constraint = None
        if self.constrained and not error and len(action.calls) == 1:
            # Two stages: the unconstrained output decided to call (and which tool); the
            # call is decoded again under that tool's schema, with no answer branch. An
            # answer is kept as written, and an invalid call goes down the repair ladder,
            # whose constrained rung admits an answer: a call that cannot be filled in
            # is often a tool that does not fit (measured on BFCL irrelevance: forcing a
            # call there cost the 0.5B 27 points). Constraining from the first token let
            # the 0.5B take the answer branch almost always (0% calls on BFCL).
            constraint = self._call_constraint(action.calls[0])
            if constraint is not None:
                repairs.clear()  # the first stage's rungs only read the decision; the call is redone
                completion = yield from self._call(messages, constraint, step, 1, "constrained_args", trace, usages)
                action, error = self._check(completion, constraint, repairs, said)
        last_constraint = constraint
        if error and self.repair:
            repairs.append("reask")
            reask = [
                {"role": "assistant", "content": completion.text},
                {"role": "user", "content": render_template(
                    "reask_error", self.language, error=error, tool_names=", ".join(self.tools.names))},
            ]
            completion = yield from self._call(messages + reask, constraint, step, 1, "reask", trace, usages)
            action, error = self._check(completion, constraint, repairs, said)
            # The answer stays admitted: forcing a call would make a model that was dumping
            # every tool act (measured: it added an unasked-for phone to the cart).
            regen = None if constraint else tool_constraint(self.model, self.tools)
            if error and regen is not None:
                repairs.append("constrained")
                completion = yield from self._call(messages, regen, step, 2, "constrained", trace, usages)
                action, error = self._check(completion, regen, repairs, said)
                last_constraint = regen
        d = Decision(
            calls=action.calls,
            text=action.text,
            raw=completion.text,
            repairs=repairs,
            usage=_sum_usage(usages),
            decision_s=time.perf_counter() - t0,
            ttft_s=usages[0].ttft_s if usages else 0.0,
            malformed=error is not None,
            error=error,
            thought=action.thought,
        )
        for i, call in enumerate(d.calls):
            call.id = call.id or f"call_{step}_{i}"
        if last_constraint is not None and not action.calls and not error:
            d.message = self._final_message(action.text)  # the answer, not its JSON wrapper
        else:
            d.message = self.protocol.assistant_message(completion, action)
        trace.add("decision", step=step, calls=[call_dict(c) for c in d.calls], text=d.text,
                  thought=d.thought, raw=d.raw, repairs=repairs, malformed=d.malformed, error=error,
                  decision_s=d.decision_s, ttft_s=d.ttft_s, usage=d.usage)
        return d

    def _call_constraint(self, call: ToolCall) -> Constraint | None:
        """The schema for a valid call's second stage: that tool only, never an answer."""
        return tool_constraint(self.model, self.tools.filter([call.name]), allow_answer=False)

    def _check(self, completion: Completion, constraint: Constraint | None, repairs: list[str],
               said: str) -> tuple[Action, str | None]:
        """Interpret one output and climb the non-model rungs. Returns (action, error)."""
        if constraint is not None:
            out = parse_constrained(completion.text)
            action = Action(calls=out.calls, text=out.answer or "", error=out.error)
        else:
            action = self.protocol.parse(completion)
        if action.error:
            return action, action.error
        if not action.calls:
            return action, None
        if action.lenient and constraint is None:
            if not self.repair:
                return Action(text=completion.text), render_template(
                    "agent_format_error", self.language, protocol=self.protocol.name
                )
            _once(repairs, "lenient_parse")
        if self.repair:
            action.calls, changes = fuzzy_fix(action.calls, self.tools)
            if changes:
                _once(repairs, "fuzzy_name")
            action.calls, echoed = unwrap_schema_echo(action.calls, self.tools)
            if echoed:
                _once(repairs, "lenient_parse")
            action.calls, dropped = drop_ungrounded(action.calls, self.tools, said)
            if dropped:
                _once(repairs, "drop_ungrounded")
        error = validate_calls(action.calls, self.tools)
        if error is None:
            action.calls = coerce_calls(action.calls, self.tools)
        return action, error

    def _call(self, messages: list[Message], constraint: Constraint | None, step: int, attempt: int,
              rung: str | None, trace: Trace, usages: list[Usage]) -> Gen:
        """One streamed model call; yields token events, records a ``model_call`` trace."""
        req = self.protocol.prepare(messages, self.tools, self.language)
        if constraint is not None:
            allow_answer = constraint.grammar is None or "| answer" in constraint.grammar
            if constraint.json_schema is not None:
                allow_answer = any("answer" in o.get("properties", {})
                                   for o in constraint.json_schema.get("anyOf", []))
            req.messages = req.messages + [{"role": "user", "content": render_template(
                "agent_constrained_format", self.language, tool_names=", ".join(self.tools.names),
                allow_answer=allow_answer)}]
        completion, ttft = yield from self._generate(req.messages, req.tools, constraint, req.stop, step)
        usages.append(completion.usage)
        trace.add("model_call", step=step, attempt=attempt, rung=rung, protocol=self.protocol.name,
                  messages=req.messages, tools=req.tools, stop=req.stop, constraint=constraint,
                  sampling=self.sampling, max_tokens=self.max_tokens, raw=completion.text,
                  content=completion.content, tool_calls=[call_dict(c) for c in completion.tool_calls],
                  parse_error=completion.parse_error, finish_reason=completion.finish_reason,
                  usage=completion.usage, model=completion.model or getattr(self.model, "name", ""),
                  ttft_s=ttft)
        return completion

    def _generate(self, messages: list[Message], tools: Any, constraint: Constraint | None,
                  stop: list[str] | None, step: int) -> Gen:
        """Call the model, streaming when it can. Returns (completion, time to first token)."""
        t0 = time.perf_counter()
        kwargs = dict(tools=tools, constraint=constraint, sampling=self.sampling, stop=stop,
                      max_tokens=self.max_tokens)
        if not getattr(self.model, "can_stream", False):
            completion = self.model.chat(messages, **kwargs)
            return completion, completion.usage.ttft_s or time.perf_counter() - t0
        ttft = 0.0
        completion = None
        for ev in self.model.chat(messages, stream=True, **kwargs):
            if isinstance(ev, TextDelta):
                ttft = ttft or time.perf_counter() - t0
                yield AgentEvent("token", ev.text, step)
            else:
                completion = ev
        if completion is None:
            raise RuntimeError("model stream ended without a final Completion")
        if not completion.usage.ttft_s:
            completion.usage.ttft_s = ttft or time.perf_counter() - t0
        return completion, completion.usage.ttft_s

    # -- acting --------------------------------------------------------------------------

    def _act(self, calls: list[ToolCall], seen: set[str], s: _Session, step: int) -> Gen:
        """Run the step's calls concurrently; a call identical to an earlier one is refused."""
        fresh: list[ToolCall] = []
        repeated: list[ToolCall] = []
        for call in calls:
            yield AgentEvent("tool_call", call, step)
            key = _call_key(call)
            (repeated if key in seen else fresh).append(call)
            seen.add(key)
        done = {id(r.call): r for r in execute_calls(self.tools, fresh, s.ctx, language=self.language)} if fresh else {}
        results: list[ToolResult] = []
        for call in calls:
            result = done.get(id(call))
            if result is None:
                text = render_template("agent_repeated_call", self.language, name=call.name,
                                       arguments=json.dumps(call.arguments, ensure_ascii=False))
                result = ToolResult(call=call, output=text, error="repeated_call", error_kind=None,
                                    duration_s=0.0)
            results.append(result)
            s.trace.add("tool_call", step=step, call_id=call.id, name=call.name, arguments=call.arguments,
                        output=result.output, error=result.error, error_kind=result.error_kind,
                        duration_s=result.duration_s, repeated=result.call in repeated,
                        value=getattr(result, "value", None))
            yield AgentEvent("observation", result, step)
        if fresh and self.store is not None:
            self.store.set_state(s.id, s.ctx.state)
        names = ", ".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in repeated)
        return results, names

    def _answer_from_observations(self, s: _Session, question: str, results: list[ToolResult],
                                  step: int) -> Gen:
        """Answer from the observations so far; no tools offered.

        The question and the observations go into one plain user message: small models
        (measured on the bundled 0.5B) keep calling tools, or refuse, when asked to
        answer inside the tool-calling conversation, but summarise a block of text well.
        """
        observations = "\n".join(f"[{r.call.name}] {r.output}" for r in results)
        role = self.prompt.role if self.prompt is not None else render_template(
            "agent_default_system", self.language)
        messages: list[Message] = [
            {"role": "system", "content": role},
            {"role": "user", "content": render_template(
                "answer_from_observations", self.language, question=question,
                observations=observations or "-")},
        ]
        completion, ttft = yield from self._generate(messages, None, None, None, step)
        parsed = parse_react(completion.text)
        answer = parsed.answer if parsed.answer is not None else parse_tool_calls(completion.text).content
        if parsed.thought:
            yield AgentEvent("thought", parsed.thought, step)
        s.trace.add("model_call", step=step, attempt=0, rung="answer_from_observations",
                    protocol=self.protocol.name, messages=messages, tools=None, stop=None,
                    constraint=None, sampling=self.sampling, max_tokens=self.max_tokens,
                    raw=completion.text, content=completion.content, tool_calls=[], parse_error=None,
                    finish_reason=completion.finish_reason, usage=completion.usage,
                    model=completion.model or getattr(self.model, "name", ""), ttft_s=ttft)
        return answer.strip() or completion.text.strip()

    def cache_prefix(self) -> Any:
        """Save the model's prefilled state for this agent's fixed prefix (system prompt,
        few-shot examples, tools) so the first call of a later process skips that prefill.

        Returns the state file, or None for models that cannot (no ``ensure_prefix``).
        """
        ensure = getattr(self.model, "ensure_prefix", None)
        if ensure is None:
            return None
        req = self.protocol.prepare(self._system_messages(), self.tools, self.language)
        return ensure(req.messages, req.tools)

    # -- prompt, context and session -----------------------------------------------------

    def _follow_language(self, text: str) -> None:
        if not self._fixed_language and text:
            self.language = detect_language(text)

    def _system_messages(self) -> list[Message]:
        """The prompt's messages before the question (system part and few-shot examples)."""
        if self.prompt is None:
            return [{"role": "system", "content": render_template("agent_default_system", self.language)}]
        return list(self.prompt.render([], self.tools, protocol=self.protocol.name))

    def _context(self, history: list[Message], turn: list[Message]) -> list[Message]:
        """System prompt + as much recent history as fits + the whole current turn."""
        budget = self.max_context_tokens or max(
            256, int(getattr(self.model, "context_window", 4096)) - self.max_tokens)
        count = self._counter()
        system = self._system_messages()
        room = budget - sum(message_tokens(m, count) for m in turn)
        kept = fit_to_budget(system + history, room, count) if history else system
        return kept + turn

    def _counter(self) -> Any:
        tokenize = getattr(self.model, "tokenize", None)
        if tokenize is None:
            return approx_tokens
        return lambda text: len(tokenize(text)) if text else 0

    def _open(self, session_id: str | None, user_id: str, question: str) -> _Session:
        sid = session_id or uuid.uuid4().hex
        history = self.store.messages(sid) if self.store is not None and session_id else []
        state = self.store.get_state(sid) if self.store is not None and session_id else {}
        s = _Session(sid, history, ToolContext(session_id=sid, user_id=user_id, state=state),
                     Trace(run_id=uuid.uuid4().hex, session_id=sid, store=self.store))
        s.trace.add("run_start", question=question, protocol=self.protocol.name,
                    model=getattr(self.model, "name", ""), tools=self.tools.specs(),
                    max_steps=self.max_steps, constrained=self.constrained, repair=self.repair,
                    user_id=user_id, history_messages=len(history))
        return s

    def _save(self, s: _Session, messages: list[Message]) -> None:
        """Append this step's messages now, so a killed process loses only the step in flight."""
        if self.store is not None:
            self.store.append(s.id, messages)

    def _final_message(self, text: str) -> Message:
        content = f"Final Answer: {text}" if self.protocol.name == "react" else text
        return {"role": "assistant", "content": content}

    def _error_message(self, d: Decision) -> Message:
        text = render_template("reask_error", self.language, error=d.error or "",
                               tool_names=", ".join(self.tools.names))
        return {"role": "user", "content": f"{OBSERVATION} {text}"}


def _once(repairs: list[str], rung: str) -> None:
    """Record a rung once, keeping the ladder's order (a later check may fire an earlier rung)."""
    if rung not in repairs:
        repairs.append(rung)
        repairs.sort(key=RUNGS.index)


def _call_key(call: ToolCall) -> str:
    return call.name + json.dumps(call.arguments, sort_keys=True, ensure_ascii=False)


def _sum_usage(usages: list[Usage]) -> Usage:
    if not usages:
        return Usage()
    first = usages[0]
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        cached_prompt_tokens=sum(u.cached_prompt_tokens for u in usages),
        completion_tokens=sum(u.completion_tokens for u in usages),
        ttft_s=first.ttft_s,
        total_s=sum(u.total_s for u in usages),
        prefill_tps=first.prefill_tps,
        decode_tps=first.decode_tps,
    )


def _error_counts(results: list[ToolResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        kind = r.error_kind or ("repeated_call" if r.error == "repeated_call" else None)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def _user_text(messages: list[Message]) -> str:
    """What the user said in the conversation (the evidence an argument value needs)."""
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
