"""Prompt profiles: how much of the prompt a model needs.

A model fine-tuned on a domain has learned its tools and its style in the weights, so
the agent sends it a **compact** prompt: the role line only (no constraints, no few-shot
examples, no retrieved examples) and the tool signatures without their descriptions.
Fewer prompt tokens to prefill and to attend over at every decoded token. A router, when
the agent has one, still routes: it costs no prompt tokens, and what it knows (the example
bank) catches requests the tuned model maps to the wrong tool or to a refusal. A model
declares the profile it was trained with (``model.profile``); the trainer renders its
samples through the same functions, so what the model learned is exactly what it is sent
(``kapibara.finetune.frame``).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from kapibara.models.base import ToolSpec
from kapibara.prompts import Prompt
from kapibara.tools import ToolSet

Profile = Literal["default", "compact"]
PROFILES: tuple[str, ...] = ("default", "compact")


def model_profile(model: Any, tools: Any = None) -> str:
    """The prompt profile a model declares for ``tools`` (``default`` when it declares none).

    A tuned model names the tools it learned (``model.tuned_tools``); for any other tool
    it has only the descriptions to go on, so it gets the default prompt then.
    """
    profile = getattr(model, "profile", None) or "default"
    if profile not in PROFILES:
        return "default"
    learned = set(getattr(model, "tuned_tools", None) or ())
    if profile != "default" and learned and tools is not None and not {t.name for t in tools} <= learned:
        return "default"
    return str(profile)


def model_tool_format(model: Any, tools: Any = None) -> str:
    """How the agent shows ``tools`` to ``model`` by default (``ChatRequest.tool_format``).

    Signatures (``kapibara.models.tool_text``), a third fewer prompt tokens, for any model
    that learned tools from their JSON in pretraining; JSON to a model tuned with a prompt
    profile of its own (``compact``): its training samples showed the tools in the chat
    template's JSON (``kapibara.finetune.frame``), and a tuned model sees what it learned.
    """
    return "json" if model_profile(model, tools) != "default" else "signature"


def compact_prompt(prompt: Prompt) -> Prompt:
    """The role line alone, in the prompt's language."""
    return prompt.model_copy(update={"context": "", "constraints": [], "examples": [], "thinking": "none"})


def compact_spec(spec: ToolSpec) -> ToolSpec:
    """A tool spec without descriptions: name, parameter names, types, enums, required."""
    spec = copy.deepcopy(spec)
    fn = spec.get("function", spec)
    fn.pop("description", None)
    _strip(fn.get("parameters") or {})
    return spec


def _strip(schema: dict[str, Any]) -> None:
    schema.pop("description", None)
    schema.pop("title", None)
    for sub in (schema.get("properties") or {}).values():
        if isinstance(sub, dict):
            _strip(sub)
    items = schema.get("items")
    if isinstance(items, dict):
        _strip(items)


class CompactToolSet(ToolSet):
    """The same tools, their specs without descriptions; running tools is unchanged."""

    def __init__(self, tools: ToolSet) -> None:
        super().__init__(list(tools))

    def specs(self) -> list[ToolSpec]:
        return [compact_spec(s) for s in super().specs()]
