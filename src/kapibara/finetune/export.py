"""Training samples as the files fine-tuning tools read, plus LlamaFactory's dataset entry
and a LoRA training YAML.

    from kapibara.finetune.export import export

    export(samples, "out/", "sharegpt")   # out/kapibara_sharegpt.jsonl, dataset_info.json, train_lora.yaml

Formats (LlamaFactory's ``data/README.md``):

``sharegpt``  ``conversations`` with ``human`` / ``gpt`` / ``function_call`` /
              ``observation`` turns, ``system``, and ``tools`` as a JSON string
``alpaca``    ``instruction`` / ``input`` / ``output`` with ``system``, ``history`` (earlier
              [user, assistant] pairs) and ``tools``; a call is written the way Qwen2.5's
              chat template writes one (``<tool_call>{...}</tool_call>``), a tool result as
              ``<tool_response>...</tool_response>`` in the next user turn
``openai``    OpenAI fine-tuning chat JSONL: ``messages`` (system first) and ``tools``
``dpo``       LlamaFactory's sharegpt ranking format: the conversation up to the last user
              turn, ``chosen`` (the right call or answer) and ``rejected`` (what the model
              actually produced); only samples that carry ``rejected``

The sources of samples (``samples_from_*``): a samples JSONL, the example bank, eval bad
cases (their corrected expectation is chosen, the model's output rejected) and stored
agent sessions (every call re-run on the real tools first).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from kapibara.errors import ConfigError, DataError
from kapibara.fileio import write_atomic, write_jsonl_atomic
from kapibara.finetune.samples import (
    Sample,
    call_message,
    calls_of,
    reply_message,
    sample_id,
    validate_sample,
)
from kapibara.models.base import Message, ToolCall, ToolSpec
from kapibara.prompts.loader import detect_language

FORMATS = ("sharegpt", "alpaca", "openai", "dpo")
#: The Hugging Face checkpoint of the bundled 0.5B GGUF (what LlamaFactory trains).
BASE_MODEL = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
DATASET_NAME = "kapibara_{fmt}"


# -- pieces -------------------------------------------------------------------------------
def functions_of(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """``{"name", "description", "parameters"}`` of each OpenAI tool (LlamaFactory's ``tools``)."""
    return [t.get("function", t) for t in tools]


def call_json(calls: list[ToolCall]) -> str:
    """LlamaFactory's ``function_call`` value: one ``{"name", "arguments"}`` object, a list for several."""
    objs = [{"name": c.name, "arguments": c.arguments} for c in calls]
    return json.dumps(objs[0] if len(objs) == 1 else objs, ensure_ascii=False)


def call_markup(calls: list[ToolCall]) -> str:
    """Calls as Qwen2.5's chat template writes them."""
    return "\n".join(
        "<tool_call>\n" + json.dumps({"name": c.name, "arguments": c.arguments}, ensure_ascii=False) + "\n</tool_call>"
        for c in calls)


def _turns(messages: list[Message]) -> list[tuple[str, str]]:
    """(role, value) in sharegpt roles; consecutive tool results merge into one observation."""
    out: list[tuple[str, str]] = []
    for m in messages:
        role = m.get("role")
        if role == "user":
            out.append(("human", str(m.get("content") or "")))
        elif role == "assistant":
            calls = calls_of(m)
            out.append(("function_call", call_json(calls)) if calls else ("gpt", str(m.get("content") or "")))
        elif role == "tool":
            value = str(m.get("content") or "")
            if out and out[-1][0] == "observation":
                prev = out[-1][1]
                items = json.loads(prev) if prev.startswith("[") and prev.endswith("]") and "\x00" not in prev else None
                merged = [*(items if isinstance(items, list) else [prev]), value]
                out[-1] = ("observation", json.dumps(merged, ensure_ascii=False))
            else:
                out.append(("observation", value))
    return out


def system_text(sample: Sample, system: str | None) -> str:
    """``system`` as given, or (``"agent"``) the demo agent's own prompt in the user's language."""
    if system != "agent":
        return system or ""
    from kapibara.demo import demo_prompt

    return demo_prompt(detect_language(sample.last_user)).render_system(sample.tools, "native")


# -- one row per format -------------------------------------------------------------------
def to_sharegpt(s: Sample, system: str | None = "agent") -> dict[str, Any]:
    return {"conversations": [{"from": r, "value": v} for r, v in _turns(s.messages)],
            "system": system_text(s, system), "tools": json.dumps(functions_of(s.tools), ensure_ascii=False)}


def to_openai(s: Sample, system: str | None = "agent") -> dict[str, Any]:
    text = system_text(s, system)
    messages = ([{"role": "system", "content": text}] if text else []) + s.messages
    return {"messages": messages, "tools": s.tools}


def _assistant_text(m: Message) -> str:
    calls = calls_of(m)
    return call_markup(calls) if calls else str(m.get("content") or "")


def to_alpaca(s: Sample, system: str | None = "agent") -> dict[str, Any]:
    """Earlier turns become [prompt, response] pairs; tool results join the next prompt."""
    pairs: list[list[str]] = []
    prompt: list[str] = []
    for m in s.context:
        role = m.get("role")
        if role == "user":
            prompt.append(str(m.get("content") or ""))
        elif role == "tool":
            prompt.append(f"<tool_response>\n{m.get('content') or ''}\n</tool_response>")
        elif role == "assistant":
            pairs.append(["\n".join(prompt), _assistant_text(m)])
            prompt = []
    return {"instruction": "\n".join(prompt), "input": "", "output": _assistant_text(s.target),
            "system": system_text(s, system), "history": pairs,
            "tools": json.dumps(functions_of(s.tools), ensure_ascii=False)}


def to_dpo(s: Sample, system: str | None = "agent") -> dict[str, Any]:
    if s.rejected is None:
        raise DataError(f"sample {s.id} has no rejected output", hint="DPO pairs come from bad cases (--from badcases)")
    turns = _turns(s.messages)
    (chosen_role, chosen), = _turns([s.target])
    (rejected_role, rejected), = _turns([s.rejected])
    return {"conversations": [{"from": r, "value": v} for r, v in turns[:-1]],
            "chosen": {"from": chosen_role, "value": chosen}, "rejected": {"from": rejected_role, "value": rejected},
            "system": system_text(s, system), "tools": json.dumps(functions_of(s.tools), ensure_ascii=False)}


ROW = {"sharegpt": to_sharegpt, "alpaca": to_alpaca, "openai": to_openai, "dpo": to_dpo}


def dataset_info(fmt: str, file_name: str) -> dict[str, Any]:
    """LlamaFactory's ``dataset_info.json`` entry for a file written by ``export``."""
    if fmt == "alpaca":
        entry: dict[str, Any] = {"file_name": file_name, "columns": {
            "prompt": "instruction", "query": "input", "response": "output", "system": "system",
            "history": "history", "tools": "tools"}}
    elif fmt == "openai":
        entry = {"file_name": file_name, "formatting": "openai", "columns": {"messages": "messages", "tools": "tools"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                          "assistant_tag": "assistant", "observation_tag": "tool", "function_tag": "function_call",
                          "system_tag": "system"}}
    elif fmt == "sharegpt":
        entry = {"file_name": file_name, "formatting": "sharegpt",
                 "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}
    else:
        entry = {"file_name": file_name, "formatting": "sharegpt", "ranking": True,
                 "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected",
                             "system": "system", "tools": "tools"}}
    return {DATASET_NAME.format(fmt=fmt): entry}


def train_yaml(fmt: str, dataset_dir: str, *, base_model: str = BASE_MODEL, output_dir: str = "saves/kapibara-lora",
               epochs: float = 3.0) -> dict[str, Any]:
    """A LlamaFactory LoRA run over the exported dataset (``llamafactory-cli train FILE``)."""
    dpo = fmt == "dpo"
    cfg: dict[str, Any] = {
        "model_name_or_path": base_model,
        "stage": "dpo" if dpo else "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "lora_target": "all",
        "dataset": DATASET_NAME.format(fmt=fmt),
        "dataset_dir": dataset_dir,
        "template": "qwen",
        "cutoff_len": 2048,
        "overwrite_cache": True,
        "preprocessing_num_workers": 1,
        "output_dir": output_dir,
        "logging_steps": 10,
        "save_steps": 200,
        "plot_loss": True,
        "overwrite_output_dir": True,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "learning_rate": 5.0e-6 if dpo else 2.0e-4,
        "num_train_epochs": epochs,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 10,  # an int: transformers 5 dropped warmup_ratio, 4.x takes no fraction here
        "seed": 13,
    }
    if dpo:
        cfg.update(pref_beta=0.1, pref_loss="sigmoid")
    return cfg


def export(samples: list[Sample], out_dir: str | Path, fmt: str, *, system: str | None = "agent",
           base_model: str = BASE_MODEL) -> dict[str, Path]:
    """Write ``samples`` in ``fmt`` with ``dataset_info.json`` and ``train_lora.yaml``; the paths.

    An existing ``dataset_info.json`` keeps its other entries. Every file is written
    atomically, after every row was built (a bad sample leaves no file behind).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}", hint="use " + "|".join(FORMATS))
    for i, s in enumerate(samples):
        validate_sample(s, f"sample {i}")
    use = [s for s in samples if s.rejected is not None] if fmt == "dpo" else samples
    if not use:
        hint = "DPO needs samples with a rejected output: --from badcases" if fmt == "dpo" else "nothing to export"
        raise DataError(f"no samples to export as {fmt}", hint=hint)
    rows = [ROW[fmt](s, system) for s in use]
    out = Path(out_dir)
    name = f"{DATASET_NAME.format(fmt=fmt)}.jsonl"
    info_path = out / "dataset_info.json"
    info: dict[str, Any] = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{info_path}: not JSON ({exc.msg})", hint="remove it or pick another --out") from None
    info.update(dataset_info(fmt, name))
    paths = {"data": write_jsonl_atomic(out / name, rows)}
    paths["dataset_info"] = write_atomic(info_path, json.dumps(info, ensure_ascii=False, indent=2) + "\n")
    cfg = train_yaml(fmt, str(out.resolve()), base_model=base_model)
    paths["train_yaml"] = write_atomic(out / f"train_lora_{fmt}.yaml",
                                       yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    return paths


# -- sources ------------------------------------------------------------------------------
def _demo_tools() -> list[ToolSpec]:
    from kapibara.demo import demo_toolset

    return demo_toolset().specs()


def samples_from_bank(paths: Iterable[Path]) -> list[Sample]:
    """Example-bank examples that carry calls or an answer (the others only route)."""
    from kapibara.agent.examples import ExampleBank

    tools = _demo_tools()
    out = []
    for path in paths:
        for ex in ExampleBank.load(path).examples:
            if not ex.calls and not ex.answer:
                continue
            target = call_message(ex.calls, prefix="call_bank") if ex.calls else reply_message(ex.answer)
            messages = [m for m in ex.messages if m.get("role") in ("user", "assistant", "tool")] + [target]
            out.append(Sample(sample_id("bank", messages), messages, tools, f"bank:{ex.source or ex.id}", "bank"))
    return out


def _rejected_message(actual: dict[str, Any]) -> Message | None:
    calls = [ToolCall(str(c.get("name", "")), dict(c.get("arguments") or {})) for c in actual.get("calls") or []
             if isinstance(c, dict) and c.get("name")]
    if calls:
        return call_message(calls, prefix="call_rejected")
    text = str(actual.get("text") or actual.get("answer") or actual.get("raw") or "").strip()
    return reply_message(text) if text else None


def samples_from_badcases(paths: Iterable[Path],
                          replies: Callable[[str, str], str | None] | None = None) -> list[Sample]:
    """DPO samples from ``kapibara eval`` bad-case files: chosen = the corrected expectation
    (each argument's first acceptable value), rejected = what the model produced.

    A no-call case needs a chosen reply: ``replies(case_id, language)`` gives one (the
    build's ``dataset.dev_reply``); without one the case is skipped.
    """
    from kapibara.evals.cases import case_from_dict
    from kapibara.optimize.bank import calls_from_expected

    tools = _demo_tools()
    out = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DataError(f"{path}: cannot read: {exc}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not JSON: {exc.msg}") from None
            if not isinstance(obj, dict) or "input" not in obj or "expected" not in obj:
                raise DataError(f"{path}:{n}: not a bad-case record (needs input, expected, actual)",
                                hint="bad cases are written by kapibara eval as <dataset>.<config>.bad.jsonl")
            # A case's messages end with its input, so the record's context is the turns before it.
            context = [m for m in obj.get("context") or [] if m.get("role") in ("user", "assistant", "tool")]
            messages: list[Message] = [*context, {"role": "user", "content": obj["input"]}]
            expected = obj["expected"]
            if isinstance(expected, list) and expected and isinstance(expected[0], list):
                expected = {"one_of": expected}
            case = case_from_dict({"id": obj.get("id", f"line{n}"), "category": obj.get("category", ""),
                                   "messages": messages, "tools": "demo", "expected": expected or "no_call"},
                                  f"{path}:{n}")
            calls = calls_from_expected(case.expected)
            if calls:
                target = call_message(calls, prefix="call_chosen")
            else:
                text = replies(case.id, detect_language(str(obj["input"]))) if replies else None
                if not text:
                    continue
                target = reply_message(text)
            rejected = _rejected_message(obj.get("actual") or {})
            if rejected is None:
                continue
            full = [*messages, target]
            out.append(Sample(sample_id("dpo", full), full, tools, f"badcase:{case.id}", case.category, rejected))
    return out


def samples_from_sessions(db: str | None, session_ids: list[str] | None = None) -> list[Sample]:
    """Every assistant turn of stored agent sessions; calls re-run and checked on the tools
    (a failing call, and everything after it in that session, is left out)."""
    from kapibara.demo import demo_toolset
    from kapibara.finetune.verify import CallVerifier
    from kapibara.memory import open_store

    toolset = demo_toolset()
    verifier = CallVerifier(toolset)
    tools = toolset.specs()
    store = open_store(db)
    out = []
    try:
        ids = session_ids or [info.session_id for info in store.list_sessions()]
        for sid in ids:
            messages = [m for m in store.messages(sid) if m.get("role") in ("user", "assistant", "tool")]
            for i, m in enumerate(messages):
                if m.get("role") != "assistant" or i == 0 or not (m.get("tool_calls") or m.get("content")):
                    continue
                s = Sample(sample_id("trace", messages[: i + 1]), messages[: i + 1], tools, f"trace:{sid}", "trace")
                if s.target_calls and not verifier.verify(s).ok:
                    break
                out.append(s)
    finally:
        store.close()
    return out
