"""Read third-party benchmark files as they are and turn them into :class:`Case` lists.

BFCL (``bfcl/BFCL_v4_<category>.json`` + ``bfcl/possible_answer/...``): the possible
answers are already in our expected-call form. BFCL's own type names are converted to
JSON schema for the model: ``dict`` -> ``object``, ``float`` -> ``number``, ``tuple`` ->
``array``, ``any`` -> no type (anything is accepted).

HammerBench Chinese single-turn (``hammerbench_zh/ST_Perfect.json`` and
``ir_ST_Perfect.json``): each item has one ground-truth call. Its arguments become
one-value allowed lists (``{"city": ["广州"]}``), compared with the checker's string
normalisation; every other parameter the tool defines becomes ``[""]``: it may be left out,
and a value the user never gave (an invented one) fails. In ``ir_`` files the right tool
was removed, so no call is expected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kapibara.errors import DataError
from kapibara.evals.cases import Case, normalize_spec

BFCL_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
HAMMERBENCH_FILES = ("ST_Perfect", "ir_ST_Perfect")
_BFCL_TYPES = {"dict": "object", "float": "number", "tuple": "array"}


def data_dir() -> Path:
    """The shared benchmark data: ``$KAPIBARA_DATA_DIR`` or ``../shared/data`` beside the repo."""
    env = os.environ.get("KAPIBARA_DATA_DIR")
    # src/kapibara/evals/adapters.py -> the repo root is parents[3]; data sits beside the repo.
    p = Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data"
    if not p.is_dir():
        raise DataError(
            f"benchmark data folder not found: {p}",
            hint="set KAPIBARA_DATA_DIR to the folder holding bfcl/ and hammerbench_zh/",
        )
    return p


def bfcl_schema(schema: Any) -> Any:
    """Convert BFCL's type names (recursively) to JSON schema."""
    if isinstance(schema, list):
        return [bfcl_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k == "type" and isinstance(v, str):
            if v == "any":
                continue
            out[k] = _BFCL_TYPES.get(v, v)
        elif k == "properties" and isinstance(v, dict):
            out[k] = {name: bfcl_schema(s) for name, s in v.items()}
        elif k in ("parameters", "items", "additionalProperties"):
            out[k] = bfcl_schema(v)
        else:
            out[k] = v
    return out


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"benchmark file not found: {path}", hint="check KAPIBARA_DATA_DIR")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def bfcl_cases(category: str, root: Path | None = None) -> list[Case]:
    """Cases of one BFCL non-live category, in file order."""
    if category not in BFCL_CATEGORIES:
        raise DataError(
            f"unknown BFCL category {category!r}", hint="one of " + ", ".join(BFCL_CATEGORIES)
        )
    base = (root or data_dir()) / "bfcl"
    questions = _read_jsonl(base / f"BFCL_v4_{category}.json")
    answers: dict[str, Any] = {}
    if category != "irrelevance":
        answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(base / "possible_answer" / f"BFCL_v4_{category}.json")}
    cases = []
    for q in questions:
        turns = q["question"]
        # Non-live categories hold one turn; keep every message of every turn in order anyway.
        messages = [m for turn in turns for m in turn] if turns and isinstance(turns[0], list) else turns
        expected = [] if category == "irrelevance" else [answers[q["id"]]]
        cases.append(
            Case(
                id=q["id"],
                category=f"bfcl_{category}",
                messages=messages,
                tools=[normalize_spec(bfcl_schema(f)) for f in q["function"]],
                expected=expected,
                meta={"source": "bfcl"},
            )
        )
    return cases


def hammerbench_cases(name: str, root: Path | None = None) -> list[Case]:
    """Cases of one HammerBench Chinese single-turn file (``ST_Perfect`` or ``ir_ST_Perfect``)."""
    if name not in HAMMERBENCH_FILES:
        raise DataError(
            f"unknown HammerBench file {name!r}", hint="one of " + ", ".join(HAMMERBENCH_FILES)
        )
    path = (root or data_dir()) / "hammerbench_zh" / f"{name}.json"
    if not path.is_file():
        raise DataError(f"benchmark file not found: {path}", hint="check KAPIBARA_DATA_DIR")
    items = json.loads(path.read_text(encoding="utf-8"))
    irrelevant = name.startswith("ir_")
    cases = []
    for i, item in enumerate(items):
        messages = [m for m in item["messages"] if m["role"] in ("user", "assistant", "system")]
        calls = [m["content"] for m in item["messages"] if m["role"] == "function call"]
        tools = item["multiple_tools"]
        expected: list[Any] = []
        if not irrelevant:
            expected = [[_hammer_expected(c, tools) for c in calls]]
        cases.append(
            Case(
                id=f"{name}_{i}",
                category=f"hammerbench_{name}",
                messages=messages,
                tools=[normalize_spec(t) for t in tools],
                expected=expected,
                meta={"source": "hammerbench"},
            )
        )
    return cases


def _hammer_expected(call: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    name = call["name"]
    args = call.get("arguments") or {}
    params: dict[str, list[Any]] = {k: [v] for k, v in args.items()}
    tool = next((t for t in tools if t.get("name") == name), None)
    if tool is not None:
        for p in (tool.get("parameters") or {}).get("properties") or {}:
            params.setdefault(p, [""])
    return {name: params}


DATASETS = (
    [f"bfcl:{c}" for c in BFCL_CATEGORIES]
    + [f"hammerbench:{n}" for n in HAMMERBENCH_FILES]
    + ["domain:dev", "domain:test"]
)


def domain_path(split: str) -> Path:
    """Path of the bundled grocery-assistant domain set split (``dev`` or ``test``)."""
    from importlib.resources import files

    if split not in ("dev", "test"):
        raise DataError(f"unknown domain split {split!r}", hint="use domain:dev or domain:test")
    return Path(str(files("kapibara.evals") / "data" / "domain" / f"{split}.jsonl"))


def load_dataset(spec: str) -> list[Case]:
    """A named dataset (``bfcl:multiple``, ``hammerbench:ST_Perfect``, ``domain:dev``) or a JSONL path."""
    from kapibara.evals.cases import load_cases

    kind, sep, name = spec.partition(":")
    if sep and kind == "bfcl":
        return bfcl_cases(name)
    if sep and kind == "hammerbench":
        return hammerbench_cases(name)
    if sep and kind == "domain":
        return load_cases(domain_path(name))
    if Path(spec).is_file():
        return load_cases(spec)
    raise DataError(
        f"no dataset {spec!r}: not a file and not a named dataset",
        hint="named datasets: " + ", ".join(DATASETS),
    )
