"""What an optimiser changes and writes: a program = prompts + example bank + settings.

A program is files a user can read and version::

    program/
      prompt.yaml       one Prompt per language ({zh: {...}, en: {...}}), as the built-in ones
      examples.jsonl    the example bank (routing and retrieved few-shot)
      program.yaml      settings (shots, router thresholds) and where it came from

``kapibara run --program DIR`` (or ``--prompt DIR/prompt.yaml``) uses it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kapibara.agent.examples import Example, ExampleBank
from kapibara.errors import ConfigError
from kapibara.fileio import write_atomic
from kapibara.prompts import Prompt


@dataclass
class Program:
    """Prompts per language, labelled examples, and agent settings."""

    prompts: dict[str, Prompt]
    examples: list[Example] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Changes whenever anything that changes the agent's behaviour changes."""
        body = json.dumps({
            "prompts": {k: p.model_dump(mode="json") for k, p in sorted(self.prompts.items())},
            "examples": [e.id for e in self.examples],
            "settings": self.settings,
        }, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def with_prompt(self, language: str, prompt: Prompt) -> Program:
        return Program({**self.prompts, language: prompt}, list(self.examples), dict(self.settings), dict(self.notes))

    def bank(self, embedder: Any = None) -> ExampleBank:
        return ExampleBank(self.examples, embedder=embedder)

    def agent_options(self, embedder: Any = None, route: bool = True) -> dict[str, Any]:
        """``Agent`` keyword arguments for this program (routing needs an embedder)."""
        from kapibara.agent.router import LinearRouter

        options: dict[str, Any] = {"prompt": dict(self.prompts), "shots": int(self.settings.get("shots", 0))}
        if route and embedder is not None and self.examples:
            bank = self.bank(embedder)
            options["examples"] = bank
            options["router"] = LinearRouter(bank, call_at=float(self.settings.get("call_at", 0.75)),
                                             answer_at=float(self.settings.get("answer_at", 0.6)))
        return options

    # -- files ---------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write prompt.yaml, examples.jsonl and program.yaml (each atomically)."""
        out = Path(folder)
        data = {lang: yaml.safe_load(p.to_yaml()) for lang, p in self.prompts.items()}
        write_atomic(out / "prompt.yaml", yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100))
        ExampleBank(self.examples).save(out / "examples.jsonl")
        meta = {"settings": self.settings, "notes": self.notes, "fingerprint": self.fingerprint()}
        write_atomic(out / "program.yaml", yaml.safe_dump(meta, allow_unicode=True, sort_keys=False))
        return out

    @classmethod
    def load(cls, folder: str | Path) -> Program:
        """Read a program written by ``save``; a bad folder raises ConfigError naming it."""
        src = Path(folder)
        if not (src / "prompt.yaml").is_file():
            raise ConfigError(f"{src} is not a program folder (no prompt.yaml)",
                              hint="kapibara optimize writes one with --out DIR")
        prompts = load_prompts(src / "prompt.yaml")
        examples = ExampleBank.load(src / "examples.jsonl").examples
        meta = yaml.safe_load((src / "program.yaml").read_text(encoding="utf-8")) if (src / "program.yaml").is_file() else {}
        return cls(prompts, examples, dict((meta or {}).get("settings") or {}), dict((meta or {}).get("notes") or {}))


def load_prompts(path: str | Path) -> dict[str, Prompt]:
    """Prompts from a YAML file holding one prompt, or one per language ({zh: ..., en: ...})."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read the prompt file: {exc}") from None
    if isinstance(data, dict) and data and set(data) <= {"zh", "en"}:
        return {lang: Prompt.from_dict({**body, "language": lang}, f"{p} ({lang})") for lang, body in data.items()}
    prompt = Prompt.from_yaml(p)
    return {prompt.language: prompt}
