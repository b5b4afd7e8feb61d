"""The examples in docs/prompts.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "prompts.md"


def test_python_examples_in_docs_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {"__name__": "docs_prompts"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    assert "Expecting ',' delimiter" in capsys.readouterr().out


def test_yaml_prompt_example_in_docs_is_valid():
    import yaml

    from kapibara.prompts import Prompt

    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    prompts = [b for b in blocks if b.startswith("role:")]
    assert prompts
    p = Prompt.from_dict(yaml.safe_load(prompts[0]))
    assert p.thinking == "react" and p.examples[0].calls[0].name == "get_weather"
