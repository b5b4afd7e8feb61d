"""What the tuned model is sent: a training sample rendered exactly as the agent sends it.

The trainer does not write its own prompt. It builds the domain's agent with the model
profile the tuned model will declare (``compact``: role line, tool signatures without
descriptions; see ``kapibara.agent.profile``), takes the agent's system messages and
tool specs, and renders the conversation with the GGUF's own chat template, the one
``LlamaCppModel`` uses at inference. ``kapibara.finetune.parity`` then checks that the
training tokenizer turns that text into the same token ids as llama.cpp.

    frame = agent_frame("demo", profile="compact")
    prefix, target = frame.render(sample)   # prompt text, then the text to learn
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapibara.agent import Agent
from kapibara.errors import DataError
from kapibara.finetune.samples import Sample
from kapibara.models.base import Message, ToolSpec
from kapibara.models.fake import FakeModel
from kapibara.prompts.loader import detect_language
from kapibara.toolsets import toolset_entry

#: Where the rendered target ends: the end-of-turn token is learned (the model must stop),
#: the newline the template writes after it is not (inference stops before it).
END_OF_TURN = "<|im_end|>"


class _ProfileModel(FakeModel):
    """Stands in for the tuned model while the agent builds its prompt: same profile."""

    def __init__(self, profile: str) -> None:
        super().__init__(default="")
        self.profile = profile


@dataclass
class Frame:
    """The agent's fixed prompt part per language, and the template that renders it."""

    system: dict[str, list[Message]]
    specs: list[ToolSpec]
    template: Any
    profile: str

    def messages(self, sample: Sample) -> list[Message]:
        """System messages in the sample's language, then the sample's conversation."""
        return self.system[self.language(sample)] + list(sample.messages)

    def language(self, sample: Sample) -> str:
        lang = detect_language(sample.last_user)
        return lang if lang in self.system else next(iter(self.system))

    def render(self, sample: Sample) -> tuple[str, str]:
        """``(prompt, target)``: the text up to the assistant's turn (generation prompt
        included), then the target turn through its end-of-turn token."""
        from kapibara.models.llamacpp import normalise_messages

        msgs = normalise_messages(self.messages(sample))
        prompt = self.template.render(messages=msgs[:-1], tools=self.specs, add_generation_prompt=True)
        full = self.template.render(messages=msgs, tools=self.specs, add_generation_prompt=False)
        if not full.startswith(prompt):
            raise DataError(f"sample {sample.id}: the chat template renders its context differently "
                            "with and without the target turn", hint="check the sample's last message")
        target = full[len(prompt):]
        end = target.rfind(END_OF_TURN)
        if end < 0:
            raise DataError(f"sample {sample.id}: the rendered target has no {END_OF_TURN}",
                            hint="the last message must be an assistant turn")
        return prompt, target[: end + len(END_OF_TURN)]

    def prefix(self, language: str) -> str:
        """The text every sample of ``language`` starts with (the system turn)."""
        from kapibara.models.llamacpp import normalise_messages

        probe = normalise_messages(self.system[language] + [{"role": "user", "content": "x"}])
        text = self.template.render(messages=probe, tools=self.specs, add_generation_prompt=False)
        return text[: text.index("<|im_start|>user")]


def agent_frame(toolset: str = "demo", *, profile: str = "compact", template: Any = None,
                languages: tuple[str, ...] = ("zh", "en")) -> Frame:
    """The frame of the agent that runs ``toolset`` for a model with ``profile``."""
    from kapibara.models.bundled import model_path

    entry = toolset_entry(toolset)
    if entry.toolset is None:
        raise DataError(f"tool set {toolset!r} has no callable tools", hint="register it with toolset_factory=")
    options = dict(entry.agent_options()) if entry.agent_options is not None else {}
    options.pop("router", None)
    options.pop("examples", None)
    agent = Agent(_ProfileModel(profile), entry.toolset(), **options)
    system = {lang: agent.system_messages(lang) for lang in languages}
    if template is None:
        template = gguf_template(model_path("qwen2.5-coder-0.5b"))
    return Frame(system=system, specs=agent.tools.specs(), template=template, profile=profile)


def gguf_template(path: Any) -> Any:
    """The chat template stored in a GGUF file, compiled as ``LlamaCppModel`` compiles it."""
    from kapibara.models.llamacpp import compile_template, read_chat_template

    return compile_template(read_chat_template(path))
