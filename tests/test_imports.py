"""The package layout holds together: no import cycle among the project's modules, and every module imports.

The import graph is read statically (``ast``), counting imports at module level and inside functions
alike: a lazy import inside a function hides a cycle from the interpreter until the day someone moves
it to the top. One subprocess then imports every module once, which catches a module moved without its
importers (a fresh process per module would take minutes).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rltrain", "verifiers", "sandbox")

KNOWN_CYCLES: list[frozenset[str]] = []
"""Cycles tolerated for now, each as the set of modules it passes through (none today)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name (``__main__`` modules included)."""
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, list[str]]]:
    """``(base, names)`` for one import statement; ``base`` absolute (relative imports resolved)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, []
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        yield base, [alias.name for alias in node.names]


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Edges from each project module to the project modules it imports (``from a import b`` counts as an
    import of ``a.b`` when that is a module, else of ``a``)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            for base, names in _imported(node, name, path.name == "__init__.py"):
                targets = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
                if len(targets) < len(names) or not names:
                    targets.append(base)
                graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle path (first module repeated at the end) per strongly connected component with a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:  # iterative Tarjan: the graph is deep enough to matter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the alphabetically first module of ``component`` (breadth-first)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


def test_the_cycle_finder_reports_the_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_imports_count_as_edges(tmp_path):
    modules = {"rltrain.x": tmp_path / "x.py", "rltrain.y": tmp_path / "y.py"}
    modules["rltrain.x"].write_text("from rltrain.y import f\n")
    modules["rltrain.y"].write_text("def f():\n    from rltrain.x import g\n    return g\n")
    assert find_cycles(import_graph(modules)) == [["rltrain.x", "rltrain.y", "rltrain.x"]]


def test_no_import_cycle_among_project_modules():
    cycles = [c for c in find_cycles(import_graph(project_modules())) if frozenset(c) not in KNOWN_CYCLES]
    assert not cycles, "import cycles (break them by moving the shared part into its own module):\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_the_reward_function_contract_is_declared_once():
    """Every module uses ``verifiers.registry.RewardFn``; none declares a reward-function type of its own."""
    declared = []
    for name, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            if "RewardFn" in names:
                declared.append(name)
    assert declared == ["verifiers.registry"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_imports(package):
    names = sorted(n for n in project_modules() if n.split(".")[0] == package and not n.endswith("__main__"))
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", script, *names], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
