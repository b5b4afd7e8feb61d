"""Read third-party benchmark files as they are and turn them into :class:`Case` lists.

BFCL (``BFCL_v4_<category>.json`` + ``possible_answer/<same name>``): the possible
answers are already in our expected-call form. BFCL's own type names are converted to
JSON schema for the model: ``dict`` -> ``object``, ``float`` -> ``number``, ``tuple`` ->
``array``, ``any`` -> no type (anything is accepted). The category comes from the ids
(``multiple_12`` -> ``multiple``); ``irrelevance`` cases expect no call and need no answers.

HammerBench Chinese single-turn (``ST_Perfect.json`` and ``ir_ST_Perfect.json``): each
item has one ground-truth call. Its arguments become one-value allowed lists
(``{"city": ["广州"]}``), compared with the checker's string normalisation; every other
parameter the tool defines becomes ``[""]``: it may be left out, and a value the user never
gave (an invented one) fails. Where the ground-truth tool is not among the tools offered
(every item of the ``ir_`` files: the right tool was removed), no call is expected.

A file given by path is recognised by its content, not its name (:func:`dataset_format`):
the same loaders then read it as the named datasets do.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any, Literal

from kapibara.errors import DataError
from kapibara.evals.cases import Case, load_cases, normalize_spec
from kapibara.tools.schema import standard_schema

BFCL_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
HAMMERBENCH_FILES = ("ST_Perfect", "ir_ST_Perfect")
# BFCL categories whose right answer is no call; they have no possible_answer file.
_BFCL_NO_CALL = ("irrelevance", "live_irrelevance")

FORMATS = (
    "kapibara case JSONL, a BFCL question file with possible_answer/<same name> beside it, "
    "a HammerBench JSON file"
)
DatasetFormat = Literal["cases", "bfcl", "hammerbench"]


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
    """BFCL's type names (recursively) as JSON schema (``kapibara.tools.schema``)."""
    return standard_schema(schema)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"benchmark file not found: {path}", hint="check KAPIBARA_DATA_DIR")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{lineno}: each line must be a JSON object")
                rows.append(row)
    return rows


def bfcl_cases(category: str, root: Path | None = None) -> list[Case]:
    """Cases of one BFCL non-live category, in file order."""
    if category not in BFCL_CATEGORIES:
        raise DataError(
            f"unknown BFCL category {category!r}", hint="one of " + ", ".join(BFCL_CATEGORIES)
        )
    path = (root or data_dir()) / "bfcl" / f"BFCL_v4_{category}.json"
    if not path.is_file():
        raise DataError(f"benchmark file not found: {path}", hint="check KAPIBARA_DATA_DIR")
    return bfcl_file_cases(path)


def _bfcl_category(case_id: str) -> str:
    # BFCL ids are <category>_<n> (live ones <category>_<n>-<m>-<k>).
    m = re.fullmatch(r"(.+?)_\d[\d-]*", case_id)
    return m.group(1) if m else case_id


def bfcl_file_cases(path: Path) -> list[Case]:
    """Cases of a BFCL question file as published; answers from ``possible_answer/<name>`` beside it."""
    questions = _read_jsonl(path)
    for i, q in enumerate(questions):
        missing = [k for k in ("id", "question", "function") if k not in q]
        if missing:
            raise DataError(f"{path}: question {i + 1} has no {', '.join(missing)}",
                            hint="a BFCL question line is {\"id\", \"question\", \"function\"}")
        if not isinstance(q["question"], list) or not all(isinstance(f, dict) for f in q["function"]):
            raise DataError(f"{path}: question {i + 1}: 'question' must be a list and 'function' a list of objects")
    answer_path = path.parent / "possible_answer" / path.name
    answers: dict[str, Any] = {}
    if any(_bfcl_category(str(q["id"])) not in _BFCL_NO_CALL for q in questions):
        if not answer_path.is_file():
            raise DataError(
                f"no answers for BFCL file {path.name}: looked for {answer_path}",
                hint="BFCL publishes the ground truth in possible_answer/ beside the question "
                "files; copy that folder along (only irrelevance needs none)",
            )
        answers = {str(a.get("id")): a.get("ground_truth") for a in _read_jsonl(answer_path)}
    cases = []
    for q in questions:
        case_id = str(q["id"])
        category = _bfcl_category(case_id)
        expected = []
        if category not in _BFCL_NO_CALL:
            if answers.get(case_id) is None:
                raise DataError(f"{answer_path}: no ground_truth for {case_id!r}",
                                hint="the answers file must match its question file line by line")
            expected = [answers[case_id]]
        turns = q["question"]
        # Non-live categories hold one turn; keep every message of every turn in order anyway.
        messages = [m for turn in turns for m in turn] if turns and isinstance(turns[0], list) else turns
        cases.append(
            Case(
                id=case_id,
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
    return hammerbench_file_cases(path)


def _is_hammer_item(item: Any) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("messages"), list)
            and isinstance(item.get("multiple_tools"), list))


def hammerbench_file_cases(path: Path) -> list[Case]:
    """Cases of a HammerBench single-turn JSON file; ids and category come from the file name."""
    name = path.stem
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(items, list):
        raise DataError(f"{path}: a HammerBench file is a JSON list of items")
    cases = []
    for i, item in enumerate(items):
        if not _is_hammer_item(item) or not all(isinstance(m, dict) and "role" in m for m in item["messages"]):
            raise DataError(f"{path}: item {i} is not {{\"messages\": [{{\"role\", ...}}], \"multiple_tools\": [...]}}")
        messages = [m for m in item["messages"] if m["role"] in ("user", "assistant", "system")]
        calls = [m.get("content") for m in item["messages"] if m["role"] == "function call"]
        tools = item["multiple_tools"]
        if not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls):
            raise DataError(f"{path}: item {i}: a function call needs {{\"name\", \"arguments\"}}")
        if not all(isinstance(t, dict) for t in tools):
            raise DataError(f"{path}: item {i}: 'multiple_tools' must be a list of tool objects")
        offered = {t.get("name") for t in tools}
        expected: list[Any] = []
        # An ir_ item keeps the original call but its tool was removed: no call is right.
        if calls and all(c.get("name") in offered for c in calls):
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


def _unreadable(path: Path, why: str) -> DataError:
    return DataError(f"{path}: {why}; accepted formats: {FORMATS}", hint="see docs/evals.md")


def dataset_format(path: str | Path) -> DatasetFormat:
    """Which loader reads ``path``, judged from its content (a renamed file still loads).

    ``cases``: JSONL whose first object has ``messages``; ``bfcl``: JSONL whose first
    object has ``question`` and ``function``; ``hammerbench``: one JSON list of
    ``{"messages", "multiple_tools"}`` items. Anything else raises :class:`DataError`.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    # A NUL byte never occurs in JSON text: it catches binaries that happen to decode.
    if b"\x00" in raw[:8192]:
        raise _unreadable(path, "not a text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _unreadable(path, "not a text file (not UTF-8)") from None
    if not text.strip():
        raise _unreadable(path, "empty file")
    try:
        whole: Any = json.loads(text)
    except RecursionError:
        raise _unreadable(path, "JSON nested too deeply") from None
    except json.JSONDecodeError:
        # More than one JSON value: JSONL. Judge by its first line.
        first_line = next(line for line in text.splitlines() if line.strip())
        try:
            whole = json.loads(first_line)
        except json.JSONDecodeError:
            raise _unreadable(path, "neither JSON nor JSONL") from None
        except RecursionError:
            raise _unreadable(path, "JSON nested too deeply") from None
    if isinstance(whole, list):
        if whole and _is_hammer_item(whole[0]):
            return "hammerbench"
        raise _unreadable(path, "a JSON list, but not of HammerBench items")
    if isinstance(whole, dict):
        if "question" in whole and "function" in whole:
            return "bfcl"
        if "ground_truth" in whole:
            raise DataError(
                f"{path} is a BFCL answer file",
                hint=f"give the question file instead: {path.parent.parent / path.name}",
            )
        if "messages" in whole:
            return "cases"
    raise _unreadable(path, "unknown JSON shape")


def load_file(path: str | Path) -> list[Case]:
    """A dataset file in any format kapibara reads (see :func:`dataset_format`)."""
    p = Path(path)
    fmt = dataset_format(p)
    if fmt == "bfcl":
        return bfcl_file_cases(p)
    if fmt == "hammerbench":
        return hammerbench_file_cases(p)
    return load_cases(p)


DATASETS = (
    [f"bfcl:{c}" for c in BFCL_CATEGORIES]
    + [f"hammerbench:{n}" for n in HAMMERBENCH_FILES]
    + ["domain:dev", "domain:test"]
    + [f"liar:{s}" for s in ("train", "test")]
    + [f"bbh:{t}:{s}" for t in ("navigate", "sports_understanding", "causal_judgement", "boolean_expressions")
       for s in ("train", "test")]
)
BBH_TASKS = ("navigate", "sports_understanding", "causal_judgement", "boolean_expressions")

# Prompt-optimisation tasks (not tool use): one user message, a label to answer.
# ``meta.kind == "text"`` marks them; ``answer.target`` is the right label.
LIAR_LABELS = ("No", "Yes")  # LIAR's label 1 is a lie: "Yes" (as in the APO/ProTeGi code)
BBH_TRAIN_FRACTION = 0.4  # OPRO trains on a small part of each BBH task and tests on the rest


def text_case(case_id: str, task: str, text: str, target: str, labels: list[str]) -> Case:
    return Case(id=case_id, category=task, messages=[{"role": "user", "content": text}], tools=[],
                expected=[], answer={"target": target, "example": target},
                meta={"kind": "text", "task": task, "labels": labels})


def liar_cases(split: str) -> list[Case]:
    """LIAR statements as the APO paper uses them: is the statement a lie (Yes) or not (No)?"""
    if split not in ("train", "test"):
        raise DataError(f"no LIAR split {split!r}", hint="use liar:train or liar:test")
    rows = _read_jsonl(data_dir() / "promptopt" / "liar" / f"{split}.jsonl")
    return [text_case(f"liar-{split}-{i:04d}", "liar", str(r["text"]), LIAR_LABELS[int(r["label"])], list(LIAR_LABELS))
            for i, r in enumerate(rows)]


def bbh_cases(spec: str) -> list[Case]:
    """A BIG-Bench Hard task split ``TASK:train|test``: a seeded 40/60 split of its examples."""
    task, _, split = spec.partition(":")
    if split not in ("train", "test") or task not in BBH_TASKS:
        raise DataError(f"no BBH dataset {spec!r}", hint=f"use bbh:TASK:train|test with TASK one of {', '.join(BBH_TASKS)}")
    path = data_dir() / "promptopt" / "bbh" / f"{task}.json"
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a BBH task file: {exc}") from None
    labels = sorted({str(e["target"]) for e in examples})
    order = list(range(len(examples)))
    random.Random(0).shuffle(order)
    cut = round(len(order) * BBH_TRAIN_FRACTION)
    chosen = sorted(order[:cut] if split == "train" else order[cut:])
    return [text_case(f"bbh-{task}-{i:03d}", task, str(examples[i]["input"]), str(examples[i]["target"]), labels)
            for i in chosen]


def domain_path(split: str) -> Path:
    """Path of a bundled grocery-assistant domain set split: ``dev``, ``test``, and the
    requests that leave out a required value (with complete counterparts):
    ``missing_dev``, ``missing_test``."""
    from importlib.resources import files

    if split not in ("dev", "test", "missing_dev", "missing_test"):
        raise DataError(f"unknown domain split {split!r}",
                        hint="use domain:dev, domain:test, domain:missing_dev or domain:missing_test")
    return Path(str(files("kapibara.evals") / "data" / "domain" / f"{split}.jsonl"))


def load_dataset(spec: str) -> list[Case]:
    """A named dataset (``bfcl:multiple``, ``hammerbench:ST_Perfect``, ``domain:dev``) or a file path.

    A path may hold kapibara cases (JSONL), a BFCL question file as published (its
    ``possible_answer/`` folder beside it) or a HammerBench JSON file: see :func:`load_file`.
    """
    kind, sep, name = spec.partition(":")
    if sep and kind == "bfcl":
        return bfcl_cases(name)
    if sep and kind == "hammerbench":
        return hammerbench_cases(name)
    if sep and kind == "domain":
        return load_cases(domain_path(name))
    if sep and kind == "liar":
        return liar_cases(name)
    if sep and kind == "bbh":
        return bbh_cases(name)
    path = Path(spec)
    if path.is_file():
        return load_file(path)
    if path.is_dir():
        raise DataError(f"{spec} is a folder, not a dataset file", hint=f"give one file: {FORMATS}")
    raise DataError(
        f"no dataset {spec!r}: not a file and not a named dataset",
        hint="named datasets: " + ", ".join(DATASETS),
    )
