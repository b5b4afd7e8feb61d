"""Structured prompts and the prompt templates (YAML package data, zh and en).

    from kapibara.prompts import Prompt, render_template

    prompt = Prompt.builtin("grocery_assistant", "zh")
    messages = prompt.render([{"role": "user", "content": "车厘子多少钱？"}], tools, protocol="react")
"""

from kapibara.prompts.loader import (
    detect_language,
    load_prompt_data,
    load_template,
    render_template,
    template_names,
)
from kapibara.prompts.prompt import Example, Prompt, normalize_specs, render_react_format

__all__ = [
    "detect_language",
    "Example",
    "Prompt",
    "load_prompt_data",
    "load_template",
    "normalize_specs",
    "render_react_format",
    "render_template",
    "template_names",
]
