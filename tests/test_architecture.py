"""The import graph reads top to bottom: commands -> agent/evals/demo -> memory/rag ->
tools -> prompts -> models -> settings/errors. Imports inside functions count too: a lazy
import that goes up, or closes a circle, hides the same dependency."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# area -> layer; an area may import its own layer or lower ones only.
LAYERS = {
    "errors": 0, "settings": 0, "fileio": 0, "plotting": 0, "kapibara": 0,
    "models": 1,
    "prompts": 2,
    "tools": 3,
    "toolsets": 4, "rag": 4, "mcp": 4,
    "memory": 5,
    "agent": 6,
    "demo": 7, "evals": 7, "optimize": 7, "serve": 7,
    "finetune": 8,
    "doctor": 9, "commands": 9,
    "cli": 10,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every kapibara module -> the kapibara modules it imports (anywhere in the file)."""
    graph: dict[str, set[str]] = defaultdict(set)
    files = [p for p in (SRC / "kapibara").rglob("*.py")
             if "data" not in p.relative_to(SRC).parts]  # data builders are scripts, not the library
    known = {module_name(p) for p in files}
    for path in files:
        name = module_name(path)
        graph[name]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kapibara"):
                # "from kapibara.models import kvstate" imports the module kapibara.models.kvstate
                subs = {f"{node.module}.{a.name}" for a in node.names} & known
                graph[name].update(subs or {node.module})
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name.startswith("kapibara"))
    return graph


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "kapibara"


def test_every_area_has_a_layer():
    assert {area(m) for m in imports()} <= set(LAYERS)


def test_no_module_imports_upward():
    upward = [f"{m} -> {t}" for m, targets in imports().items() for t in targets
              if LAYERS[area(t)] > LAYERS[area(m)]]
    assert upward == []


def test_no_import_circles():
    graph = imports()
    cycles: list[str] = []
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in done and nxt in graph:
                visit(nxt, [*stack, nxt])
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node, [node])
    assert cycles == []
