"""``Prompt``: the five parts of a structured prompt, rendered as Markdown sections.

Role, output constraints, thinking mode, context and few-shot examples render into one
system message with ``###`` headings, instructions first. With ``protocol="react"`` the
system message also carries the ReAct format and the tool list in the MSAgent-Bench /
ModelScope style (``Thought:`` / ``Action:`` / ``Action Input:`` / ``Observation:`` /
``Final Answer:``). All wording comes from the template files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kapibara.errors import ConfigError
from kapibara.fileio import write_atomic
from kapibara.models.base import Message, ToolCall, ToolSpec
from kapibara.prompts.loader import load_prompt_data, render_template

Protocol = Literal["native", "react"]


class Example(BaseModel):
    """One few-shot example: the user's message and either the answer or the tool calls."""

    model_config = ConfigDict(extra="forbid")

    user: str
    assistant: str | None = None
    calls: list[ToolCall] = Field(default_factory=list)
    thought: str = ""

    @model_validator(mode="after")
    def _needs_an_answer(self) -> Example:
        if not self.assistant and not self.calls:
            raise ValueError("an example needs 'assistant' (the answer) or 'calls' (the tool calls)")
        return self


class Prompt(BaseModel):
    """A structured prompt: role, context, examples, constraints, thinking mode, language."""

    model_config = ConfigDict(extra="forbid")

    role: str
    context: str = ""
    examples: list[Example] = Field(default_factory=list)
    constraints: list[str] = Field(default_factory=list)
    thinking: Literal["none", "cot", "react"] = "none"
    language: Literal["zh", "en"] = "zh"

    # -- rendering -------------------------------------------------------------------

    def _t(self, name: str, **variables: Any) -> str:
        return render_template(name, self.language, **variables)

    def _section(self, heading: str, body: str) -> str:
        return self._t("section", heading=self._t(heading), body=body.strip())

    def render_system(
        self, tools: Iterable[Any] | None = None, protocol: Protocol = "native"
    ) -> str:
        """The system message text.

        ``tools`` are OpenAI tool dicts (``Tool`` objects and ``ToolSet``s work too).
        Native tool calls send the tools through the chat template, so they are listed
        here only for ``protocol="react"``.
        """
        specs = normalize_specs(tools)
        parts = [self._section("heading_role", self.role)]
        constraints = list(self.constraints)
        if specs:
            constraints.append(self._t("no_tool_guidance"))
        if constraints:
            parts.append(self._section("heading_constraints", "\n".join(f"- {c}" for c in constraints)))
        if protocol == "native" and self.thinking != "none":
            parts.append(self._section("heading_thinking", self._t(f"thinking_{self.thinking}")))
        if protocol == "react" and specs:
            parts.append(self._section("heading_tools", render_react_format(specs, self.language)))
        if self.context.strip():
            parts.append(self._section("heading_context", self.context))
        if self.examples:
            shown = [self._render_example(ex, protocol) for ex in self.examples]
            parts.append(self._section("heading_examples", "\n\n".join(shown)))
        return "\n\n".join(parts)

    def _render_example(self, ex: Example, protocol: Protocol) -> str:
        calls = [
            {"name": c.name, "arguments_json": json.dumps(c.arguments, ensure_ascii=False)}
            for c in ex.calls
        ]
        return self._t(
            "example",
            user=ex.user,
            assistant=ex.assistant or "",
            calls=calls,
            thought=ex.thought,
            protocol=protocol,
        )

    def render(
        self,
        messages: list[Message],
        tools: Iterable[Any] | None = None,
        protocol: Protocol = "native",
    ) -> list[Message]:
        """``messages`` with the system message prepended.

        A system message already at the front is kept, after this prompt's text.
        """
        system = self.render_system(tools, protocol)
        rest = list(messages)
        if rest and rest[0].get("role") == "system":
            system = f"{system}\n\n{rest.pop(0).get('content') or ''}".rstrip()
        return [{"role": "system", "content": system}, *rest]

    # -- files -------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path) -> Prompt:
        """Load a prompt written in YAML; a bad file raises ConfigError naming file and field."""
        p = Path(path)
        hint = "a prompt file is UTF-8 YAML with at least 'role'; see `kapibara optimize` output for an example"
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read prompt file: {exc.strerror}",
                              hint="check the path given with --prompt") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})", hint=hint) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = " ".join(str(exc).split())[:200]
            raise ConfigError(f"{p}: invalid YAML: {first}", hint="check indentation and quoting") from exc
        except RecursionError:
            raise ConfigError(f"{p}: nested too deeply to read", hint=hint) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: a prompt file must be a mapping with at least 'role'", hint=hint)
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<prompt>") -> Prompt:
        """Validate a prompt given as a dict; errors name the source and the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = ".".join(str(x) if not isinstance(x, int) else f"[{x}]" for x in err["loc"])
                field = field.replace(".[", "[")
                problems.append(f"field '{field}': {err['msg']}" if field else err["msg"])
            raise ConfigError(
                f"{source}: invalid prompt: " + "; ".join(problems),
                hint="fields: role, context, examples, constraints, thinking (none|cot|react), language (zh|en)",
            ) from None

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The prompt as YAML text; with ``path`` also written there (atomically)."""
        data = self.model_dump(mode="json", exclude_defaults=True)
        data["role"] = self.role
        for ex in data.get("examples", []):
            for call in ex.get("calls", []):
                if not call.get("id"):
                    call.pop("id", None)
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        if path is not None:
            write_atomic(path, text)
        return text

    @classmethod
    def builtin(cls, name: str = "grocery_assistant", language: str = "zh") -> Prompt:
        """A prompt shipped in ``templates/prompts/`` (e.g. the grocery-assistant demo's)."""
        return cls.from_dict(load_prompt_data(name, language), source=f"built-in prompt '{name}'")


def normalize_specs(tools: Iterable[Any] | None) -> list[ToolSpec]:
    """OpenAI tool dicts from dicts, bare function dicts, ``Tool`` objects or a ``ToolSet``."""
    specs: list[ToolSpec] = []
    for t in tools or []:
        if hasattr(t, "spec") and callable(t.spec):
            specs.append(t.spec())
        elif isinstance(t, dict) and "function" in t:
            specs.append(t)
        elif isinstance(t, dict) and "name" in t:
            specs.append({"type": "function", "function": t})
        else:
            raise ConfigError(f"not a tool spec: {t!r}", hint='use {"type": "function", "function": {...}}')
    return specs


def render_react_format(tools: Iterable[Any], language: str = "zh") -> str:
    """The ReAct format instructions with the tool list (names, descriptions, JSON parameters)."""
    specs = normalize_specs(tools)
    listed = []
    for s in specs:
        fn = s["function"]
        listed.append(
            {
                "name": fn["name"],
                "description": (fn.get("description") or "").strip(),
                "parameters_json": json.dumps(fn.get("parameters") or {}, ensure_ascii=False),
            }
        )
    return render_template(
        "react_format",
        language,
        tools=listed,
        tool_names=", ".join(t["name"] for t in listed),
    )
