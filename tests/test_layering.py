"""The package's import graph keeps the layering CONTRIBUTING.md describes, and has no cycle.

Read from the source with ``ast`` (every import, function-level ones included; those under
``if TYPE_CHECKING:`` are annotations only and do not count), so an upward import fails here
before anyone has to notice it in review.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rftgym"

#: Modules every part may import: the core types and two small helpers with no rftgym imports.
BASE = {"types", "_compat", "_lazy"}

#: Each part of rftgym (a top-level module or subpackage) and the other parts it may import, on
#: top of BASE, lowest layer first. A part may always import its own modules. Parts not listed
#: (cli, __main__, the package root) sit on top and may import anything.
ALLOWED: dict[str, set[str]] = {
    "types": set(),
    "_compat": set(),
    "_lazy": set(),
    "_background": set(),
    "trajectories": set(),
    "sandbox": {"_background"},
    "models": set(),
    "rewards": {"trajectories"},
    "agents": {"_background"},
    "envs": {"_background", "rewards", "sandbox"},
    "serving": {"_background", "models", "agents"},
    "rollout": {"agents", "envs", "trajectories"},
    "rescore": {"rewards", "trajectories", "envs"},
    "lint": {"agents", "envs", "rollout", "trajectories"},
    "export": {"trajectories"},
    "training": {
        "_background",
        "models",
        "trajectories",
        "serving",
        "agents",
        "envs",
        "rewards",
        "rollout",
        "baseline",
        "engines",
    },
    # Planned parts (DESIGN's scale-out), placed now so that they start in the right layer.
    "engines": {"_background", "models", "agents", "serving"},
    "executors": {"_background", "agents", "envs", "trajectories", "rollout"},
    "bridges": {"_background", "agents", "envs", "rewards", "trajectories", "rollout"},
    "report": {"trajectories"},
    "baseline": {"agents", "envs", "trajectories", "rollout"},
}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: dict[str, Path]) -> set[str]:
    """The rftgym modules ``tree`` imports: ``from pkg import name`` counts as an import of
    ``pkg.name`` when that is a module, else of ``pkg`` (whose ``__init__`` then runs)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("rftgym"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("rftgym"):
            base = node.module or ""
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        stack.extend(ast.iter_child_nodes(node))
    return {m for m in found if m in modules}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(ast.parse(path.read_text()), modules) for name, path in modules.items()}


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_import_follows_the_layering(graph):
    wrong = []
    for module, targets in sorted(graph.items()):
        part = _part(module)
        if part not in ALLOWED:
            continue
        for target in sorted(targets):
            other = _part(target)
            allowed = ALLOWED[part] | (BASE if part not in BASE else set())
            if other != part and other not in allowed:
                wrong.append(f"{module} imports {target}: {part} may import only {sorted(allowed)}")
    assert not wrong, "\n".join(wrong)


def test_every_part_is_placed():
    """A new top-level module or subpackage must be given its place in ALLOWED."""
    parts = {_part(m) for m in _modules()} - {"", "cli", "__main__"}
    assert parts <= set(ALLOWED), f"not in the layering: {sorted(parts - set(ALLOWED))}"


def test_no_import_cycle(graph):
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module] - {module}):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_reading_trajectories_loads_no_heavy_dependency():
    code = "import sys, rftgym.trajectories; print(sorted({'torch', 'docker', 'aiohttp'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
