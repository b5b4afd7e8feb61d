"""The peer frameworks, one short adapter each, in the configuration each documents for a
local OpenAI-compatible model. ``bench/peers.py`` runs them.

Every adapter gets the same things: the case's messages (OpenAI dicts, earlier turns and
tool results included), the system instruction text, the seven demo tools as plain
recording functions (:func:`recording_tools`), the server's base URL (``.../v1``), greedy
decoding and ``MAX_TOKENS``. It returns the text of the framework's reply (if any). The
first decision is intercepted by the tools: a call is recorded, and the logging proxy in
``peers.py`` refuses the framework's next model request, which ends the run.

For an end-to-end conversation (``steps`` > 1) the tools run for real (:func:`live_tools`)
and the framework goes on to its final answer, with room for ``steps`` tool rounds.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable
from typing import Any

MAX_TOKENS = 256
MODEL_NAME = "local"  # the alias every server answers to

Recorder = Callable[..., str]
"""``record(name, arguments)`` for a recorded call; ``record(name, arguments, result)`` for a live one."""


class Stopped(Exception):
    """Raised by an adapter when the framework ended because the proxy refused a request."""


def recording_tools(functions: tuple[Callable[..., Any], ...], record: Recorder) -> list[Callable[..., Any]]:
    """The demo tools as plain functions with their real signatures and docstrings (so each
    framework derives the same schema it would from the real tool); calling one records
    the call instead of running it. The session ``ctx`` parameter is left out."""
    return _wrapped(functions, lambda fn: _bind(record, fn.__name__))


def live_tools(functions: tuple[Callable[..., Any], ...], record: Recorder, ctx: Any) -> list[Callable[..., Any]]:
    """The same functions, run for real: a call runs the tool (with the conversation's
    ``ctx`` where it takes one, so the cart persists), records the call and its result,
    and returns the result. A tool's exception (``ToolArgumentError`` for an argument out
    of range) comes back as ``{"error": message}``, as kapibara's executor shows it to the
    model, so no framework's own error handling decides the outcome."""
    return _wrapped(functions, lambda fn: _live(record, fn, ctx))


def run_tool(fn: Callable[..., Any], arguments: dict[str, Any], ctx: Any) -> Any:
    """``fn(**arguments)`` (``ctx`` added where the function takes it); an exception is an
    ``{"error": ...}`` result."""
    kwargs = dict(arguments)
    if "ctx" in inspect.signature(fn).parameters:
        kwargs["ctx"] = ctx
    try:
        return fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - the model sees the error, as in kapibara's executor
        return {"error": f"{type(exc).__name__}: {exc}"}


def _live(record: Recorder, fn: Callable[..., Any], ctx: Any) -> Callable[..., Any]:
    def wrapper(**kwargs: Any) -> Any:
        result = run_tool(fn, kwargs, ctx)
        record(fn.__name__, kwargs, result)
        return result

    return wrapper


def _wrapped(functions: tuple[Callable[..., Any], ...],
             make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> list[Callable[..., Any]]:
    out = []
    for fn in functions:
        hints = typing.get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "ctx"]

        wrapper = make(fn)
        wrapper.__name__ = wrapper.__qualname__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        wrapper.__signature__ = inspect.Signature(params, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: hints[p.name] for p in params} | {"return": dict[str, Any]}
        out.append(wrapper)
    return out


def _bind(record: Recorder, name: str) -> Callable[..., dict[str, Any]]:
    def wrapper(**kwargs: Any) -> dict[str, Any]:
        return {"result": record(name, kwargs)}

    return wrapper


def _history_text(messages: list[dict[str, Any]]) -> str:
    """Earlier turns as text, for a framework whose ``run`` takes one task string."""
    lines = []
    for m in messages:
        if m.get("tool_calls"):
            for tc in m["tool_calls"]:
                lines.append(f"assistant called {tc['function']['name']}({tc['function']['arguments']})")
        elif m.get("role") == "tool":
            lines.append(f"tool {m.get('name', '')} returned: {m.get('content')}")
        elif m.get("content"):
            lines.append(f"{m['role']}: {m['content']}")
    return "\n".join(lines)


def _split(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    return messages[:last], str(messages[last]["content"])


# -- Qwen-Agent --------------------------------------------------------------------------

def qwen_agent(prompt_type: str, raw_api: bool = False) -> Callable[..., str]:
    """``Assistant(llm={'model_type': 'oai', ...}, function_list=[BaseTool...])``.

    ``prompt_type`` is Qwen-Agent's function-calling prompt (``nous``: Qwen2.5's own
    ``<tool_call>`` format, the default; ``qwen``: its older ✿FUNCTION✿ format); Qwen-Agent
    writes the tools into the prompt and parses the reply itself. ``raw_api`` sends the
    tools to the server instead (the server must parse the calls).
    """
    def run(messages: list[dict[str, Any]], system: str, tools: list[Callable[..., Any]], specs: list[dict[str, Any]],
            base_url: str, steps: int = 1) -> str:
        from qwen_agent.agents import Assistant
        from qwen_agent.tools.base import BaseTool

        by_name = {t.__name__: t for t in tools}
        qtools = []
        for spec in specs:
            fn = spec["function"]
            params = fn.get("parameters") or {}

            class _T(BaseTool):
                name = fn["name"]
                description = fn.get("description", "")
                # Qwen-Agent accepts exactly these three keys.
                parameters = {"type": "object", "properties": params.get("properties") or {},
                              "required": params.get("required") or []}

                def call(self, params: str | dict[str, Any], **kwargs: Any) -> str:
                    args = self._verify_json_format_args(params)
                    tool, args = python_call(by_name, self.name, args)
                    return json.dumps(tool(**args), ensure_ascii=False)

            qtools.append(_T())
        cfg: dict[str, Any] = {"temperature": 0, "max_tokens": MAX_TOKENS, "fncall_prompt_type": prompt_type}
        if raw_api:
            cfg["use_raw_api"] = True
        bot = Assistant(llm={"model": MODEL_NAME, "model_type": "oai", "model_server": base_url, "api_key": "none",
                             "generate_cfg": cfg}, function_list=qtools, system_message=system)
        last: list[Any] = []
        for responses in bot.run(messages=_qwen_messages(messages)):
            last = responses
        return "".join(str(m.get("content") or "") for m in last if m.get("role") == "assistant")

    return run


def python_call(by_name: dict[str, Callable[..., Any]], name: str,
                args: dict[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The Python function a spec-named call reaches, and its arguments under Python names:
    a framework that takes the JSON specs (Qwen-Agent) calls ``triangle_properties.get``,
    whose function ``schema_function`` had to name ``triangle_properties_get``."""
    tool = by_name.get(name) or by_name[re.sub(r"\W", "_", name)]
    return tool, {k if k.isidentifier() else re.sub(r"\W", "_", k): v for k, v in args.items()}


def _qwen_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("tool_calls"):
            for tc in m["tool_calls"]:
                out.append({"role": "assistant", "content": "",
                            "function_call": {"name": tc["function"]["name"], "arguments": tc["function"]["arguments"]}})
        elif m.get("role") == "tool":
            out.append({"role": "function", "name": m.get("name", ""), "content": m.get("content", "")})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    return out


# -- smolagents ---------------------------------------------------------------------------

def smolagents(tool_choice: str | None = "required") -> Callable[..., str]:
    """``ToolCallingAgent(tools=[tool(fn)...], model=OpenAIServerModel(...), max_steps=1)``.

    smolagents' ``run`` takes one task string: earlier turns go in front of it as text.
    A reply without tools is smolagents' ``final_answer`` tool (not counted as a call).
    ``tool_choice``: smolagents sends ``required`` by default.
    """
    def run(messages: list[dict[str, Any]], system: str, tools: list[Callable[..., Any]], specs: list[dict[str, Any]],
            base_url: str, steps: int = 1) -> str:
        from smolagents import OpenAIServerModel, ToolCallingAgent, tool

        kwargs: dict[str, Any] = {"temperature": 0, "max_tokens": MAX_TOKENS}
        if tool_choice != "required":
            kwargs["tool_choice"] = tool_choice
        model = OpenAIServerModel(model_id=MODEL_NAME, api_base=base_url, api_key="none", client_kwargs={"max_retries": 0},
                                  **kwargs)
        agent = ToolCallingAgent(tools=[tool(t) for t in tools], model=model, instructions=system, max_steps=steps,
                                 verbosity_level=0)
        history, question = _split(messages)
        task = f"{_history_text(history)}\n\nuser: {question}" if history else question
        return str(agent.run(task) or "")

    return run


# -- LangGraph ----------------------------------------------------------------------------

def langgraph() -> Callable[..., str]:
    """``create_react_agent(ChatOpenAI(base_url=...), tools=[fn...], prompt=system)``."""
    def run(messages: list[dict[str, Any]], system: str, tools: list[Callable[..., Any]], specs: list[dict[str, Any]],
            base_url: str, steps: int = 1) -> str:
        from langchain_openai import ChatOpenAI
        from langgraph.prebuilt import create_react_agent
        from pydantic import SecretStr

        llm = ChatOpenAI(model=MODEL_NAME, base_url=base_url, api_key=SecretStr("none"), temperature=0,
                         max_completion_tokens=MAX_TOKENS, max_retries=0)
        agent = create_react_agent(llm, tools=tools, prompt=system)
        # a model step and a tool step per round, and the answer's model step
        out = agent.invoke({"messages": messages}, {"recursion_limit": 2 * steps + 2})
        return str(out["messages"][-1].content or "")

    return run


# -- LlamaIndex ---------------------------------------------------------------------------

def llamaindex(kind: str = "function") -> Callable[..., str]:
    """``FunctionAgent`` (tools sent to the server) or ``ReActAgent`` (tools in its text
    prompt, parsed by LlamaIndex) with ``OpenAILike(api_base=..., is_chat_model=True)``."""
    def run(messages: list[dict[str, Any]], system: str, tools: list[Callable[..., Any]], specs: list[dict[str, Any]],
            base_url: str, steps: int = 1) -> str:
        import asyncio

        from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
        from llama_index.core.llms import ChatMessage
        from llama_index.core.tools import FunctionTool
        from llama_index.llms.openai_like import OpenAILike

        llm = OpenAILike(model=MODEL_NAME, api_base=base_url, api_key="none", is_chat_model=True,
                         is_function_calling_model=kind == "function", context_window=8192, temperature=0,
                         max_tokens=MAX_TOKENS, max_retries=0)
        ftools: list[Any] = [FunctionTool.from_defaults(fn=t) for t in tools]
        cls = FunctionAgent if kind == "function" else ReActAgent
        agent = cls(tools=ftools, llm=llm, system_prompt=system, streaming=False)
        history, question = _split(messages)
        chat = []
        for m in history:
            extra: dict[str, Any] = {}
            if m.get("tool_calls"):
                extra["tool_calls"] = m["tool_calls"]
            if m.get("role") == "tool":
                extra["tool_call_id"] = m.get("tool_call_id", "")
            chat.append(ChatMessage(role=m["role"], content=m.get("content") or "", additional_kwargs=extra))

        async def go() -> str:
            return str(await agent.run(user_msg=question, chat_history=chat, max_iterations=steps + 1))

        return asyncio.run(go())

    return run
