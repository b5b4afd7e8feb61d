"""The agent: a ReAct / native tool-calling loop with a repair ladder, events and traces.

    from kapibara.agent import Agent
    agent = Agent(model, tools, protocol="native")
    result = agent.run("北京今天天气怎么样？")
"""

from kapibara.agent.budget import Budgets
from kapibara.agent.decide import Decider, Decision, decide
from kapibara.agent.events import AgentEvent, EventKind
from kapibara.agent.grounding import ClaimGrounding, Grounding, NameGrounding, NumberGrounding
from kapibara.agent.loop import Agent, Run, RunResult
from kapibara.agent.parsing import ParsedCalls, ReactParsed, parse_react, parse_tool_calls
from kapibara.agent.protocols import Action, NativeProtocol, ReactProtocol, get_protocol
from kapibara.agent.repair import RUNGS, fuzzy_fix, tool_constraint, validate_calls
from kapibara.agent.trace import Trace, export_jsonl, read_jsonl

__all__ = [
    "RUNGS",
    "Action",
    "Agent",
    "AgentEvent",
    "Budgets",
    "ClaimGrounding",
    "Decider",
    "Decision",
    "EventKind",
    "Grounding",
    "NameGrounding",
    "NumberGrounding",
    "NativeProtocol",
    "ParsedCalls",
    "ReactParsed",
    "ReactProtocol",
    "Run",
    "RunResult",
    "Trace",
    "decide",
    "export_jsonl",
    "fuzzy_fix",
    "get_protocol",
    "parse_react",
    "parse_tool_calls",
    "read_jsonl",
    "tool_constraint",
    "validate_calls",
]
