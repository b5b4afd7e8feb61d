"""One decision: a model call, then the repair ladder, under the turn's budgets.

``decide`` is a generator: it yields ``token`` events while the model writes and returns
a ``Decision`` (calls to make, or an answer). The rungs, in the order they are climbed
(``RUNGS`` in ``repair.py``; each recorded in ``Decision.repairs`` when it fires):

``lenient_parse``    the call was only readable leniently (JSON5, fences, bare JSON, prose)
``doubt``            a call read leniently that the model itself doubted (its first token
                     gave a call less than ``doubt_at`` of the probability) to a tool far
                     from the question, or any such call to a tool very far from it, or
                     one none of whose required values was said (first or after the
                     re-ask), or a call to a tool the set lacks when no offered tool is
                     near (``doubt.py``), with no
                     router that knows when no tool is needed:
                     the answer is written instead, with no tools offered; or, when
                     another offered tool is near the question, the call is decoded
                     under that tool
``fuzzy_name``       a misspelled tool or parameter name corrected
``drop_ungrounded``  an optional number the user never said dropped (when the user said
                     no number at all, the grammars of the constrained rungs leave the
                     optional numeric parameters out, so none is decoded)
``vocabulary``       a free-text argument mapped onto the terms its tool understands and
                     the user said (``Tool.vocabulary``)
``entities``         a misspelt name of a thing mapped to the name the tool knows
                     (``Tool.entities``: "五长大米" -> "五常大米")
``counts``           a count the user said fills the integer parameter left at its default
``bounds``           a price ceiling the user said fills the price-ceiling parameter left
                     out or holding another number
``fan_out``          things named together ("A和B有优惠吗") get a call each
``referent``         a thing referred to ("第一个", "来两斤" after one product) named from
                     the turns before
``reask``            one re-ask quoting the parse or validation error
``constrained``      after a re-ask that failed too, an answer decoded under a schema that
                     admits only an answer: two invalid calls mean the tool does not fit
                     (a forced call here was right 0 times in 3, in every benchmark run);
                     unless the question is near the one tool called, or the model named
                     no offered tool near it and another one is (``doubt.py``): the call
                     is then decoded under that tool's schema first; an answer cut off
                     here (token cap or a watcher) becomes the honest failure text
``lookup``           an answer stating facts no tool returned (see ``grounding.py``),
                     written where the router expected a tool (first or after the
                     re-ask): the call is decoded under the offered tools' schema
                     instead; a reply claiming an act no tool did ("好的，这个我帮你
                     处理。") is looked up so too, or replaced by an honest "not done"
``ask``              a call whose required argument the conversation never gave (an
                     invented city, plate number, date; a day written as the city; a
                     known product none of whose names was said): the user is asked for
                     it instead

The first three are pure functions of the output (``check``); the last three call the
model again, each with its own token cap (``Budgets``). An answer that still states
unsupported facts after them is replaced by an honest one (``agent_ungrounded_answer``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

from kapibara.agent.answer_check import call_shaped, claims_action, repeats_error
from kapibara.agent.budget import (
    DEADLINE,
    NOT_A_CALL,
    REPETITION,
    Budgets,
    trim_growing,
    trim_loop,
    watch,
)
from kapibara.agent.doubt import Relevance, unheld
from kapibara.agent.events import AgentEvent
from kapibara.agent.examples import routing_text
from kapibara.agent.grounding import Grounding
from kapibara.agent.protocols import EXAMPLE, Action, AgentProtocol
from kapibara.agent.repair import (
    RUNGS,
    answer_constraint,
    coerce_calls,
    drop_ungrounded,
    fan_out,
    fill_bounds,
    fill_counts,
    fuzzy_fix,
    missing_required,
    parameter_label,
    parse_constrained,
    resolve_entities,
    resolve_referents,
    snap_vocabulary,
    tool_constraint,
    unwrap_schema_echo,
    validate_calls,
)
from kapibara.agent.router import Route
from kapibara.agent.trace import Trace, call_dict
from kapibara.models.base import (
    ChatRequest,
    Completion,
    Constraint,
    Message,
    Model,
    Sampling,
    TextDelta,
    ToolCall,
    Usage,
    message_calls,
)
from kapibara.prompts.loader import render_template
from kapibara.tools import Tool, ToolSet

Gen = Generator[AgentEvent, None, Any]


@dataclass
class Decision:
    """One model decision after the repair ladder: calls to make, or an answer.

    ``raw`` is the text of the last model output; ``repairs`` lists the rungs that fired;
    ``malformed`` is True when the ladder did not produce valid calls or a clean answer
    (``error`` says why; ``calls`` may still hold the invalid calls). ``usage`` sums every
    model call made. ``stops`` counts the generations stopped early, by reason
    (``repetition``, ``not_a_call``, ``deadline``, ``length``); ``unsupported`` lists the
    facts an answer stated that no tool returned (the answer was then replaced).
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
    stops: dict[str, int] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    out_of_time: bool = False
    route: Route | None = None
    """Where the router sent the question (None without a router)."""


@dataclass
class Decider:
    """What the ladder needs for one run: the model, the tools offered, the wire protocol,
    the run's language and budgets. Built per run by ``Agent``; holds no run results."""

    model: Model
    tools: ToolSet
    protocol: AgentProtocol
    language: str = "zh"
    sampling: Sampling = field(default_factory=Sampling)
    budgets: Budgets = field(default_factory=Budgets)
    deadline: float | None = None
    """``time.monotonic()`` after which no model call starts and generations stop."""
    constrained: bool = False
    repair: bool = True
    grounding: Grounding | None = None
    ask_missing: bool = False
    """Ask for a required argument the conversation never gave instead of sending the
    model's invention (rung ``ask``). ``Agent`` turns it on by default; here it is off, so
    ``kapibara serve``'s pass-through returns the client's agent the call its model made."""
    lookup_at: float = 0.5
    """With a ``choose`` route, an answer is looked up among the routed tools when the
    router's tool share is at least this and one tool is at least as likely as no tool
    (``Route.expects_tool``)."""
    doubt_at: float = 0.0
    """A call read leniently from free text whose first token the model gave less than
    this probability of opening a call, to tools the question is far from (``relevance``),
    is not trusted (rung ``doubt``); 0 turns it off."""
    relevance: Relevance | None = None
    tool_format: str | None = None
    """How the model is shown the tools (``ChatRequest.tool_format``); None: as its chat
    template shows them, as ``kapibara serve``'s pass-through must (the client's prompt)."""
    latest: str = ""
    """The user's latest message in the decision being made (``decide`` sets it): what a
    follow-up such as "那明天呢" changes."""
    earlier: tuple[str, ...] = ()
    """The turns since the user's previous message, oldest first (their words, the tool
    results, the replies; ``decide`` sets it): what "第一个" or "来两斤" refers to."""

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline


@dataclass
class _Calls:
    """The model calls of one decision: their usages and early stops, in order."""

    usages: list[Usage] = field(default_factory=list)
    stops: dict[str, int] = field(default_factory=dict)

    def add(self, completion: Completion) -> None:
        self.usages.append(completion.usage)
        reason = completion.finish_reason
        if reason in (REPETITION, NOT_A_CALL, DEADLINE, "length"):
            self.stops[reason] = self.stops.get(reason, 0) + 1


def decide(d: Decider, messages: list[Message], step: int, trace: Trace, route: Route | None = None) -> Gen:
    """One decision for ``messages`` (system prompt first) with the whole ladder.

    With a ``route`` (``router.py``): ``call`` decodes the routed tool's call directly
    under its schema; ``choose`` lets the model decide, and an answer written where the
    router expected a tool is looked up among the routed tools.
    """
    t0 = time.perf_counter()
    made = _Calls()
    said = user_text(messages)
    d = replace(d, latest=next((str(m.get("content") or "") for m in reversed(messages)
                                if m.get("role") == "user" and m.get("name") != EXAMPLE), ""),
                earlier=earlier_turns(messages))
    repairs: list[str] = []
    if route is not None and route.mode == "narrow" and route.tools:
        d = replace(d, tools=d.tools.filter(route.tools))  # only the routed tools are offered
    lookup_tools = d.tools.filter(route.tools) if route is not None and route.tools else d.tools
    if route is not None and route.mode == "call":
        routed = tool_constraint(d.model, lookup_tools, allow_answer=False, said=grounded(d, said))
        if routed is not None:
            completion = yield from call_model(d, messages, routed, step, 0, "routed", trace, made,
                                               d.budgets.rung_tokens)
            action, error, fired = check(d, completion, routed, said)
            if action.calls and not error:
                return _finish(d, action, completion, ["routed", *fired], made, t0, step, trace, [], routed,
                               route, evidence_text=evidence(messages))
    expects_tool = route is not None and route.mode == "choose" and route.tool_share >= d.lookup_at \
        and route.expects_tool
    # A native decision that turns into prose is stopped early when its answer would be
    # checked anyway (grounding, or a router expecting a tool): an invented list of
    # products is not worth 300 tokens.
    watch_prose = (d.grounding is not None or expects_tool) and d.protocol.name == "native" and d.tools.names
    prose = d.budgets.prose_chars if watch_prose else None
    completion = yield from call_model(d, messages, None, step, 0, None, trace, made, d.budgets.decision_tokens, prose,
                                       doubt=may_doubt(d, route))
    action, error, fired = check(d, completion, None, said)
    if error and (renamed := rename_call(d, messages, action, said, route)) is not None:
        action, error, fired = renamed[0], None, [*fired, *renamed[1]]
    repairs += fired
    constraint: Constraint | None = None
    if doubtful(d, messages, completion, action, route):
        # A 0.5B writes a fenced JSON "call" for questions its tools do not fit (BFCL
        # irrelevance) but is then less sure of it than of calls that fit: the answer is
        # written with no tools offered, as for a route that needs none. Unless another
        # offered tool is near the question: the call is then decoded under that tool
        # ("Find the Queen of Hearts in a deck" called a recipe unit converter beside
        # find_card_in_deck).
        other = nearest_other(d, messages, action)
        if other is not None:
            near_set = d.tools.filter([other])
            rerouted = yield from _lookup(d, messages, near_set, step, trace, made, said, "rerouted")
            if rerouted is not None:
                action, completion, fired = rerouted
                return _finish(d, action, completion, sorted({*repairs, "doubt", *fired}, key=RUNGS.index), made,
                               t0, step, trace, [], completion_constraint(d, near_set), route,
                               evidence_text=evidence(messages))
        action, completion = yield from _answer_without_tools(d, messages, step, trace, made)
        return _finish(d, action, completion, [*repairs, "doubt"], made, t0, step, trace, [], Constraint(), route)
    if route is not None and route.mode == "answer" and (action.calls or error) and not d.out_of_time():
        # The router is sure no tool is needed, and the model reached for one anyway: on the
        # dev split every such call was wrong (a recipe for "谢谢，今天就到这吧"). The answer
        # is written with no tools offered.
        action, completion = yield from _answer_without_tools(d, messages, step, trace, made)
        return _finish(d, action, completion, [*repairs, "routed"], made, t0, step, trace, [], Constraint(), route)
    repeated = looked_up = False
    if not action.calls and not error and expects_tool and not d.out_of_time() \
            and not restates_results(d, action.text, messages, route):
        looked_up = True
        # The router expected a tool and the model answered: decode a call among the routed
        # tools instead (the 0.5B answers follow-ups such as "有优惠吗" from imagination).
        looked = yield from _lookup(d, messages, lookup_tools, step, trace, made, said)
        if looked is not None and (repeated := repeats_earlier(looked[0].calls, messages)):
            # Its result is in the conversation already ("以旧换新要怎么弄" after the
            # promotions were shown): the same call again would show the same thing.
            trace.add("lookup_dropped", step=step, calls=[call_dict(c) for c in looked[0].calls],
                      problem="repeats an earlier call")
            looked = None
        if looked is not None:
            action, completion, fired = looked
            return _finish(d, action, completion, sorted({*repairs, "lookup", *fired}, key=RUNGS.index), made,
                           t0, step, trace, [], completion_constraint(d, lookup_tools), route,
                           evidence_text=evidence(messages))
    if completion.finish_reason == NOT_A_CALL and not action.calls:
        action, error, completion = yield from _prose(d, messages, completion, step, trace, made, said, repairs)
    elif d.constrained and not error and len(action.calls) == 1:
        # Two stages: the unconstrained output decided to call (and which tool); the call
        # is decoded again under that tool's schema, with no answer branch. An answer is
        # kept as written, and an invalid call goes down the ladder, whose constrained rung
        # admits an answer: a call that cannot be filled in is often a tool that does not
        # fit (forcing one cost the 0.5B 27 points on BFCL irrelevance). Constraining from
        # the first token let the 0.5B take the answer branch almost always.
        constraint = tool_constraint(d.model, d.tools.filter([action.calls[0].name]), allow_answer=False,
                                     said=grounded(d, said))
        if constraint is not None:
            repairs.clear()  # the first stage's rungs only read the decision; the call is redone
            completion = yield from call_model(d, messages, constraint, step, 1, "constrained_args", trace,
                                               made, d.budgets.rung_tokens)
            action, error, fired = check(d, completion, constraint, said)
            repairs += fired
    last_constraint = constraint
    reask: list[Message] = []
    if error and d.repair and not d.out_of_time():
        repairs.append("reask")
        reask = [
            {"role": "assistant", "content": completion.text},
            {"role": "user", "content": render_template(
                "reask_error", d.language, error=error, tool_names=", ".join(d.tools.names))},
        ]
        completion = yield from call_model(d, messages + reask, constraint, step, 1, "reask", trace, made,
                                           d.budgets.rung_tokens)
        action, error, fired = check(d, completion, constraint, said)
        repairs += fired
        if not error and constraint is None and guessed(d, messages, action, route):
            # The re-ask got a call none of whose required values was said, to a tool the
            # question does not point at: after a first output that was no valid call,
            # the re-ask's list of tools was taken as an order (BFCL irrelevance: "Find the
            # fastest route from New York to Boston." -> prime_numbers_in_range(1, 100)).
            action, completion = yield from _answer_without_tools(d, messages, step, trace, made)
            return _finish(d, action, completion, [*repairs, "doubt"], made, t0, step, trace, [], Constraint(),
                           route)
        # Two invalid calls: the tool does not fit what the user said (or said too
        # little), so the last rung answers. Regeneration under the tools' schema with an
        # answer branch made the 0.5B answer only because a sorted schema put "arguments"
        # first; once "name" came first it forced calls, and every one measured was wrong
        # (BFCL irrelevance fell from 15 to 6 of 30).
        regen = None if constraint else answer_constraint(d.model)
        # ...unless the question is near the one tool called: then the call is first
        # decoded under that tool's schema (BFCL multiple: "SELECT * FROM user ..."
        # answered where database.query was expected).
        near = None if constraint or not error else near_call(d, messages, action, route)
        forced = tool_constraint(d.model, d.tools.filter([near]), allow_answer=False,
                                 said=grounded(d, said)) if near else None
        for rung, last in (("constrained_call", forced), ("constrained", regen)):
            if last is None or not error or d.out_of_time():
                continue
            repairs.append("constrained")
            completion = yield from call_model(d, messages, last, step, 2, rung, trace, made, d.budgets.rung_tokens)
            action, error, fired = check(d, completion, last, said)
            repairs += fired
            last_constraint = last
            if error and rung == "constrained" and completion.finish_reason not in ("stop", "tool_calls", DEADLINE):
                # The answer was cut off, at the rung's token cap or by a watcher (the
                # 0.5B, refused a raw newline after '{"answer": "```json', wrote
                # "```jsonrpc,2000,1000,1000,..."): the honest failure, not a malformed
                # decision the loop would spend another step on.
                trace.add("answer_replaced", step=step, answer=completion.text, problem="cut_off")
                action, error = Action(text=render_template("agent_call_failed", d.language)), None
    if not action.calls and not error and reask and repeats_error(action.text, [str(reask[-1]["content"])], said):
        # The re-ask's error written back as the answer ("你上一次的输出无法执行：..."):
        # an honest failure instead.
        trace.add("answer_replaced", step=step, answer=action.text, problem="error_echo")
        action = Action(text=render_template("agent_call_failed", d.language))
    if completion.finish_reason == DEADLINE and not action.calls:  # never show half an answer
        seconds = int(d.budgets.timeout_s)
        action, error = Action(text=render_template("agent_turn_timeout", d.language, seconds=seconds)), None
    answered = not action.calls and not error and not repeated and not d.out_of_time()
    claim = answered and route is not None and not acted_this_turn(messages) and claims_action(action.text)
    late = answered and bool(reask) and "constrained" not in repairs and expects_tool \
        and not restates_results(d, action.text, messages, route)
    if claim or late:
        # An answer where a call was due: one written after the re-ask where the router
        # expected a tool (the tuned 0.5B refused "Where does the Wuchang rice come from?"
        # once its first call failed), or one that says an act is done when no tool ran
        # ("好的，这个我帮你处理。" to "那就买它吧，来一台"). The call is looked up among the
        # routed tools when the router expects one, as for a first answer. A claim that is
        # not looked up, or whose look-up fails, is not shown: the user is told it was not
        # done. Tried on the dev split: a claim looked up at a tool share of 0.5 without one
        # tool beating no tool turned "好的，删除农夫山泉。" (no tool deletes) into add_to_cart.
        # A claim not looked up here goes on to the grounding step (a claimed cart change
        # is a fact only add_to_cart's result holds), and is replaced after it.
        looked = None
        if lookup_tools.names and not looked_up and expects_tool:
            looked = yield from _lookup(d, messages, lookup_tools, step, trace, made, said)
        if looked is not None and not repeats_earlier(looked[0].calls, messages):
            action, completion, fired = looked
            return _finish(d, action, completion, sorted({*repairs, "lookup", *fired}, key=RUNGS.index), made,
                           t0, step, trace, [], completion_constraint(d, lookup_tools), route,
                           evidence_text=evidence(messages))
    unsupported: list[str] = []
    if not action.calls and not error and d.grounding is not None and completion.finish_reason != DEADLINE:
        unsupported = d.grounding.unsupported(action.text, evidence(messages))
        if unsupported and lookup_tools.names and not repeated and not d.out_of_time() \
                and (route is None or route.mode != "answer"):
            # Facts no tool returned: look them up instead (the offered tools' schema, no
            # answer branch); a call that does not validate leaves the honest answer.
            repairs.append("lookup")
            looked = yield from _lookup(d, messages, lookup_tools, step, trace, made, said)
            if looked is not None:
                action, completion, fired = looked
                unsupported, last_constraint = [], completion_constraint(d, lookup_tools)
                repairs += fired
        if unsupported:
            action = Action(text=render_template("agent_ungrounded_answer", d.language), thought=action.thought)
    if claim and not action.calls and not error and claims_action(action.text):
        # Still claiming an act no tool did after the look-ups (the grounding step looks up
        # a claimed cart change itself): told it was not done, never shown as done.
        trace.add("answer_replaced", step=step, answer=action.text, problem="claimed_action")
        template = "agent_cannot_do" if route is not None and route.mode == "answer" else "agent_call_failed"
        action = Action(text=render_template(template, d.language), thought=action.thought)
    return _finish(d, action, completion, repairs, made, t0, step, trace, unsupported, last_constraint, route,
                   error, evidence_text=evidence(messages))


def restates_results(d: Decider, answer: str, messages: list[Message], route: Route | None) -> bool:
    """Whether an answer only restates results the router's expected tool already returned
    in this conversation: it states facts (``Grounding.supported``), each found in a tool
    result, and the top routed tool was called before ("这两款里哪个更便宜？" after a
    recommendation). A look-up would only repeat what the user was shown."""
    if d.grounding is None or route is None or not route.tools or not answer.strip():
        return False
    if route.tools[0] not in {c.name for c in earlier_calls(messages)}:
        return False
    results = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "tool")
    supported = getattr(d.grounding, "supported", None)
    return bool(results) and callable(supported) and bool(supported(answer, results)) \
        and not d.grounding.unsupported(answer, evidence(messages))


def acted_this_turn(messages: list[Message]) -> bool:
    """Whether a tool ran since the user's latest message ("已加入。" after add_to_cart's
    result is the truth, not a claim)."""
    for m in reversed(messages):
        if m.get("role") == "tool":
            return True
        if m.get("role") == "user" and m.get("name") != EXAMPLE:
            return False
    return False


def earlier_calls(messages: list[Message]) -> list[ToolCall]:
    """The calls the assistant made earlier in the conversation (``tool_calls``; retrieved
    example turns and turns whose arguments are not JSON left out)."""
    out: list[ToolCall] = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("name") != EXAMPLE:
            try:
                out += message_calls(m)
            except json.JSONDecodeError:
                continue
    return out


def repeats_earlier(calls: list[ToolCall], messages: list[Message]) -> bool:
    """Whether every one of ``calls`` was already made, with the same arguments."""
    before = [(c.name, c.arguments) for c in earlier_calls(messages)]
    return bool(calls) and all((c.name, c.arguments) in before for c in calls)


def _answer_without_tools(d: Decider, messages: list[Message], step: int, trace: Trace, made: _Calls) -> Gen:
    """The answer written with no tools offered (and no grounding check): (action, completion)."""
    plain = replace(d, tools=ToolSet([]), grounding=None)
    completion = yield from call_model(plain, messages, None, step, 1, "answer", trace, made, d.budgets.answer_tokens)
    text = plain.protocol.parse(completion).text or completion.text
    if (name := call_shaped(text)) is not None:  # the model still reaches for a tool: none does this
        trace.add("answer_replaced", step=step, answer=text, problem=f"call to {name}")
        text = render_template("agent_cannot_do", d.language)
    return Action(text=text), completion


def may_doubt(d: Decider, route: Route | None) -> bool:
    """Whether rung ``doubt`` can fire in this decision (the model is then asked for its
    ``call_probability``)."""
    return d.doubt_at > 0 and d.repair and d.relevance is not None and (route is None or route.mode == "narrow")


def doubtful(d: Decider, messages: list[Message], completion: Completion, action: Action,
             route: Route | None) -> bool:
    """Whether a first output's call is doubted (rung ``doubt``): read leniently, given a
    low probability by the model itself, to tools far from the question, and no router
    able to say "no tool" decided; never a call to the one of several offered tools the
    question points at (``nearest_tool``). A call naming only tools the set lacks is
    doubted when no offered tool is near the question (``Relevance.none_near``)."""
    p = completion.call_probability
    if not (action.calls and action.lenient and p is not None and may_doubt(d, route)
            and d.relevance is not None and not d.out_of_time()):
        return False
    texts = tool_texts(d, action.calls)
    question = routing_text(messages)
    if not texts:
        # Every call names a tool the set lacks (no misspelling of one, no offered tool
        # its arguments fit): a guess at a tool that does not exist, unless an offered
        # tool is near the question or leads the others, when the ladder may still reach
        # it (the last rung decodes the call under the nearest).
        none_near = getattr(d.relevance, "none_near", None)
        offered = [tool_text(t) for t in d.tools]
        return callable(none_near) and bool(offered) and none_near(question, offered, d.language) \
            and nearest_tool(d, question) is None
    if len(texts) != len(action.calls):
        return False
    doubted = (p < d.doubt_at and d.relevance.far(question, texts, d.language)) or \
        d.relevance.far(question, texts, d.language, sure=True) or \
        (d.language in getattr(d.relevance, "floor", {}) and unheld(action.calls, d.tools, evidence(messages)))
    return doubted and not pointed_at(d, question, action)


def pointed_at(d: Decider, question: str, action: Action) -> bool:
    """Whether ``action`` calls one tool, the one of several offered that is nearest the
    question (by a clear lead, ``nearest_tool``): the choice the question points at,
    however far every tool is from it ("Translate Hello, how are you? from English to
    French." sits 0.15 from ``translate``, which leads the other tools by 0.11)."""
    names = {c.name for c in action.calls}
    return len(names) == 1 and nearest_tool(d, question) in names


def guessed(d: Decider, messages: list[Message], action: Action, route: Route | None) -> bool:
    """Whether a free-text call the re-ask got is a guess (rung ``doubt``): none of its
    required values was said (``unheld``, in a language with a measured floor), and the
    question does not point at its tool (``pointed_at``)."""
    if not (action.calls and action.lenient and may_doubt(d, route) and d.relevance is not None
            and d.language in getattr(d.relevance, "floor", {}) and not d.out_of_time()):
        return False
    return unheld(action.calls, d.tools, evidence(messages)) and \
        not pointed_at(d, routing_text(messages), action)


def tool_text(tool: Tool) -> str:
    """``name: description``: what relevance compares a question with."""
    return f"{tool.name}: {tool.description}"


def tool_texts(d: Decider, calls: list[ToolCall]) -> list[str]:
    """``tool_text`` of each called tool the set has."""
    return [tool_text(t) for c in calls if (t := d.tools.get(c.name)) is not None]


def near_call(d: Decider, messages: list[Message], action: Action, route: Route | None) -> str | None:
    """The tool to decode an invalid call under at the last rung; None to answer instead.

    The one tool called, when it is near the question (``Relevance.near``). Otherwise the
    offered tool nearest the question, when that one is near (``Relevance.nearest``): the
    model named a tool the set does not have ("european_history.get_kings" for
    ``get_monarchs``) or one far from what was asked, and the question still points at a
    tool. Several tools called: None."""
    names = {c.name for c in action.calls}
    if len(names) > 1 or not may_doubt(d, route) or d.relevance is None:
        return None
    question = routing_text(messages)
    texts = tool_texts(d, action.calls[:1])
    if texts and d.relevance.near(question, texts, d.language):
        return action.calls[0].name
    return nearest_tool(d, question)


def nearest_tool(d: Decider, question: str) -> str | None:
    """The offered tool nearest ``question``, when it is near (``Relevance.nearest``) and
    two or more are offered: nearest among several is a choice (on BFCL ``multiple`` the
    expected tool in 192 of 200 cases), the only tool is no choice at all (on BFCL
    ``irrelevance`` tools the model did not name sat up to 0.53 similar to questions they
    do not fit)."""
    if len(d.tools) < 2:
        return None
    nearest = getattr(d.relevance, "nearest", None)
    offered = {t.name: tool_text(t) for t in d.tools}
    return nearest(question, offered, d.language) if callable(nearest) else None


def rename_call(d: Decider, messages: list[Message], action: Action, said: str,
                route: Route | None) -> tuple[Action, list[str]] | None:
    """A call to a tool the set does not have, whose arguments make a valid call of the
    offered tool nearest the question (``nearest_tool``): that call, and the rungs that
    fired (``fuzzy_name`` first). A 0.5B names a call after what it is for ("C major scale
    melody" with ``key``, ``start_note``, ``tempo`` for ``music_generator.generate_melody``);
    its arguments are kept, no model call is needed. None: the ladder goes on."""
    if len(action.calls) != 1 or action.calls[0].name in d.tools or not may_doubt(d, route):
        return None
    name = nearest_tool(d, routing_text(messages))
    if name is None:
        return None
    renamed = Action(calls=[ToolCall(name, dict(action.calls[0].arguments), action.calls[0].id)],
                     thought=action.thought, lenient=action.lenient)
    fired = ["fuzzy_name"]
    return (renamed, fired) if repair_calls(d, renamed, said, fired) is None else None


def nearest_other(d: Decider, messages: list[Message], action: Action) -> str | None:
    """Where a doubted call goes instead of an answer: the offered tool nearest the
    question, when it is near and not one the model called. With one tool offered the
    nearest is the one called, so a doubted call there is always answered."""
    name = nearest_tool(d, routing_text(messages))
    return name if name is not None and name not in {c.name for c in action.calls} else None


def _finish(d: Decider, action: Action, completion: Completion, repairs: list[str], made: _Calls, t0: float,
            step: int, trace: Trace, unsupported: list[str], constraint: Constraint | None,
            route: Route | None, error: str | None = None, evidence_text: str = "") -> Decision:
    """The Decision, its conversation message and its trace record.

    A call whose required argument the conversation never gave becomes a question to the
    user (rung ``ask``): its next message supplies the value, and the call follows then.
    """
    missing = missing_required(action.calls, d.tools, evidence_text) if action.calls and d.ask_missing else None
    if missing is not None:
        what = parameter_label(d.tools, *missing)
        action = Action(text=render_template("agent_ask_missing", d.language, what=what), thought=action.thought)
        repairs = [*repairs, "ask"]
        constraint = constraint or Constraint()  # the message is the question, not the call's raw text
    decision = Decision(
        calls=action.calls,
        text=action.text,
        raw=completion.text,
        repairs=sorted(set(repairs), key=RUNGS.index),
        usage=sum_usage(made.usages),
        decision_s=time.perf_counter() - t0,
        ttft_s=made.usages[0].ttft_s if made.usages else 0.0,
        malformed=error is not None,
        error=error,
        thought=action.thought,
        stops=made.stops,
        unsupported=unsupported,
        out_of_time=d.out_of_time(),
        route=route,
    )
    for i, call in enumerate(decision.calls):
        call.id = call.id or f"call_{step}_{i}"
    if (constraint is not None or unsupported or completion.finish_reason == NOT_A_CALL) \
            and not action.calls and not error:
        decision.message = final_message(d.protocol.name, action.text)  # the answer, not its wrapper
    else:
        decision.message = d.protocol.assistant_message(completion, action)
    trace.add("decision", step=step, calls=[call_dict(c) for c in decision.calls], text=decision.text,
              thought=decision.thought, raw=decision.raw, repairs=decision.repairs,
              malformed=decision.malformed, error=error, decision_s=decision.decision_s,
              ttft_s=decision.ttft_s, usage=decision.usage, stops=decision.stops,
              unsupported=unsupported, route=route.to_dict() if route is not None else None)
    return decision


def grounded(d: Decider, said: str) -> str | None:
    """The user's words for a constraint to leave unsaid numbers out of, when the rungs
    would drop them (``drop_ungrounded`` runs only with ``repair``)."""
    return said if d.repair else None


def completion_constraint(d: Decider, tools: ToolSet) -> Constraint | None:
    return tool_constraint(d.model, tools, allow_answer=False)


def _lookup(d: Decider, messages: list[Message], tools: ToolSet, step: int, trace: Trace, made: _Calls,
            said: str, rung: str = "lookup") -> Gen:
    """A call decoded under ``tools``' schema with no answer branch; None if it does not validate."""
    constraint = tool_constraint(d.model, tools, allow_answer=False, said=grounded(d, said))
    if constraint is None:
        return None
    found = yield from call_model(d, messages, constraint, step, 3, rung, trace, made, d.budgets.rung_tokens)
    looked, problem, fired = check(d, found, constraint, said)
    if looked.calls and not problem:
        return looked, found, fired
    return None


def _prose(d: Decider, messages: list[Message], first: Completion, step: int, trace: Trace, made: _Calls,
           said: str, repairs: list[str]) -> Gen:
    """A native decision stopped as prose: an answer candidate.

    With facts no tool returned it stays cut (the grounding step looks them up or says so
    honestly). Otherwise the answer is written in full under the answer cap: greedy
    decoding reproduces the cut text, and its prompt is still in the KV cache.
    """
    problems = d.grounding.unsupported(first.text, evidence(messages)) if d.grounding else []
    if problems or d.out_of_time():
        return Action(text=first.text), None, first
    completion = yield from call_model(d, messages, None, step, 1, "answer", trace, made, d.budgets.answer_tokens)
    action, error, fired = check(d, completion, None, said)
    repairs += fired
    return action, error, completion


def check(d: Decider, completion: Completion, constraint: Constraint | None,
          said: str) -> tuple[Action, str | None, list[str]]:
    """Interpret one output and climb the rungs that need no model call.

    Returns (action, the error the model can fix or None, the rungs that fired).
    """
    fired: list[str] = []
    if constraint is not None:
        # A call stopped in a growing list is read with the list cut to its first item.
        text = trim_growing(completion.text) if completion.finish_reason == REPETITION else completion.text
        out = parse_constrained(text)
        action = Action(calls=out.calls, text=out.answer or "", error=out.error)
    else:
        action = d.protocol.parse(completion)
    if completion.finish_reason == REPETITION and not action.calls:
        action.text = trim_loop(action.text)
    if action.error:
        return action, action.error, fired
    if not action.calls:
        return action, None, fired
    if action.lenient and constraint is None:
        if not d.repair:
            return Action(text=completion.text), render_template(
                "agent_format_error", d.language, protocol=d.protocol.name), fired
        fired.append("lenient_parse")
    error = repair_calls(d, action, said, fired)
    return action, error, fired


def repair_calls(d: Decider, action: Action, said: str, fired: list[str]) -> str | None:
    """The rungs that need no model call, on ``action.calls`` in place (each one that
    fires appended to ``fired``); then validation: the error the model can fix, or None."""
    if d.repair:
        action.calls, changes = fuzzy_fix(action.calls, d.tools)
        if changes:
            fired.append("fuzzy_name")
        action.calls, echoed = unwrap_schema_echo(action.calls, d.tools)
        if echoed:
            fired.append("lenient_parse")
        action.calls, dropped = drop_ungrounded(action.calls, d.tools, said)
        if dropped:
            fired.append("drop_ungrounded")
        action.calls, snapped = snap_vocabulary(action.calls, d.tools, said, d.latest)
        if snapped:
            fired.append("vocabulary")
        action.calls, resolved = resolve_entities(action.calls, d.tools)
        if resolved:
            fired.append("entities")
        action.calls, counted = fill_counts(action.calls, d.tools, said)
        if counted:
            fired.append("counts")
        action.calls, bounded = fill_bounds(action.calls, d.tools, said, d.latest)
        if bounded:
            fired.append("bounds")
        action.calls, added = fan_out(action.calls, d.tools, d.latest)
        if added:
            fired.append("fan_out")
        action.calls, referred = resolve_referents(action.calls, d.tools, d.latest, list(d.earlier))
        if referred:
            fired.append("referent")
    error = validate_calls(action.calls, d.tools, said if d.repair else None)
    if error is None:
        action.calls = coerce_calls(action.calls, d.tools)
    return error


def call_model(d: Decider, messages: list[Message], constraint: Constraint | None, step: int, attempt: int,
               rung: str | None, trace: Trace, made: _Calls, max_tokens: int,
               prose_chars: int | None = None, doubt: bool = False) -> Gen:
    """One streamed model call of the ladder; yields token events, traces the call.
    ``doubt`` asks the model for its ``call_probability`` (rung ``doubt``)."""
    req = d.protocol.prepare(messages, d.tools, d.language)
    request = ChatRequest(messages=req.messages, tools=req.tools, stop=req.stop, sampling=d.sampling,
                          max_tokens=max_tokens, constraint=constraint, call_probability=doubt,
                          tool_format=d.tool_format)
    if constraint is not None and not (constraint.prefix and getattr(d.model, "write_prefix", False)):
        # The output's shape, said in words. Not when the backend writes the call's start
        # (``{"name": "recommend_products", "arguments":``) into the prompt: the tool and
        # the shape are then fixed, and the ~75 tokens of instruction were most of a routed
        # call's prefill (1.1 of its 1.7 s for the tuned 0.5B; the rest of the prompt is
        # the cached prefix).
        allow_call, allow_answer = shapes(constraint)
        request.messages = request.messages + [{"role": "user", "content": render_template(
            "agent_constrained_format", d.language, tool_names=", ".join(d.tools.names),
            allow_call=allow_call, allow_answer=allow_answer)}]
    completion = yield from generate(d.model, request, step, d.deadline, prose_chars)
    made.add(completion)
    trace.model_call(step=step, attempt=attempt, rung=rung, protocol=d.protocol.name, request=request,
                     completion=completion, model=getattr(d.model, "name", ""))
    return completion


def shapes(constraint: Constraint) -> tuple[bool, bool]:
    """Whether a constraint built here admits a call, and an answer."""
    if constraint.json_schema is not None:
        options = constraint.json_schema.get("anyOf") or [constraint.json_schema]
        keys = {k for o in options for k in o.get("properties", {})}
        return "name" in keys, "answer" in keys
    grammar = constraint.grammar or ""
    call = "call ::=" in grammar
    return call, "| answer" in grammar or not call


def generate(model: Model, request: ChatRequest, step: int, deadline: float | None = None,
             prose_chars: int | None = None) -> Gen:
    """Run ``request`` on ``model`` under a watch (loops, the deadline, prose), streaming
    tokens as events. Returns the Completion (its ``usage.ttft_s`` always set)."""
    t0 = time.perf_counter()
    request.watch = watch(deadline=deadline, prose_chars=prose_chars)
    request.stream = model.can_stream
    ttft = 0.0
    completion: Completion | None = None
    for ev in model.complete(request):
        if isinstance(ev, TextDelta):
            ttft = ttft or time.perf_counter() - t0
            yield AgentEvent("token", ev.text, step)
        else:
            completion = ev
    if completion is None:
        raise RuntimeError("model stream ended without a final Completion")  # a backend bug
    if not completion.usage.ttft_s:
        completion.usage.ttft_s = ttft or time.perf_counter() - t0
    return completion


def final_message(protocol: str, text: str) -> Message:
    """The assistant message that gives ``text`` as the answer in ``protocol``'s format."""
    return {"role": "assistant", "content": f"Final Answer: {text}" if protocol == "react" else text}


def sum_usage(usages: list[Usage]) -> Usage:
    """Token counts and times of several calls: sums, and the first call's TTFT and rates."""
    if not usages:
        return Usage()
    first = usages[0]
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        cached_prompt_tokens=sum(u.cached_prompt_tokens for u in usages),
        completion_tokens=sum(u.completion_tokens for u in usages),
        forced_tokens=sum(u.forced_tokens for u in usages),
        drafted_tokens=sum(u.drafted_tokens for u in usages),
        accepted_tokens=sum(u.accepted_tokens for u in usages),
        ttft_s=first.ttft_s,
        total_s=sum(u.total_s for u in usages),
        prefill_tps=first.prefill_tps,
        decode_tps=first.decode_tps,
    )


def user_text(messages: list[Message]) -> str:
    """What the user said in the conversation (the evidence an argument value needs);
    retrieved example turns are not the user's words."""
    return "\n".join(str(m.get("content") or "") for m in messages
                     if m.get("role") == "user" and m.get("name") != EXAMPLE)


def earlier_turns(messages: list[Message]) -> tuple[str, ...]:
    """The texts of the turns between the user's previous message (included) and the
    latest one, oldest first: the context a follow-up refers to."""
    turns = [m for m in messages if m.get("role") != "system" and m.get("name") != EXAMPLE]
    users = [i for i, m in enumerate(turns) if m.get("role") == "user"]
    if len(users) < 2:
        return ()
    return tuple(str(m.get("content") or "") for m in turns[users[-2]:users[-1]] if m.get("content"))


def evidence(messages: list[Message]) -> str:
    """What an answer's facts may come from: the user's words and every tool result.

    ReAct observations arrive as user messages, so ``user_text`` covers them.
    """
    return "\n".join(str(m.get("content") or "") for m in messages
                     if m.get("role") in ("user", "tool") and m.get("name") != EXAMPLE)
