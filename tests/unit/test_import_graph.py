"""drux's modules import each other without cycles, ``if TYPE_CHECKING:`` imports included
(a cycle hidden behind TYPE_CHECKING is still two modules that need each other)."""

from __future__ import annotations

import ast
from pathlib import Path

import drux

SRC = Path(drux.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = ["drux", *path.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return True
    return False


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The drux modules ``name`` imports when it loads or is type-checked (not in functions).
    ``from package import submodule`` is an import of the submodule, not of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if _in_function(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            subs = {f"{base}.{a.name}" for a in node.names} & modules.keys()
            found.update(subs or {base})
    return {m for m in found if m in modules and m != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_cycle_finder_finds_a_cycle_through_type_checking(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from drux.b import X\n")
    b = tmp_path / "b.py"
    b.write_text("from drux.a import Y\n\ndef later():\n    from drux.c import Z\n")
    modules = {"drux.a": a, "drux.b": b, "drux.c": b}
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["drux.b"] == {"drux.a"}  # the import inside a function runs later: no edge
    assert _cycle(graph) == ["drux.a", "drux.b", "drux.a"]


def test_drux_modules_import_each_other_without_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycle(graph) is None
