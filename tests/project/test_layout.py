"""The layout's contract (docs/architecture.md): stages import only earlier stages (checked by
import-linter in CI, and here), no import cycle, no private name taken from another module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "audioroutine"


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every group of modules that import each other, directly or around a loop (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def package_graph() -> grimp.ImportGraph:
    # Imports under `if TYPE_CHECKING:` never run; the package root only re-exports (lazily).
    graph = grimp.build_graph("audioroutine", exclude_type_checking_imports=True)
    for importer in graph.find_modules_that_directly_import("audioroutine"):
        graph.remove_import(importer=importer, imported="audioroutine")   # `from .. import __version__`
    assert len(graph.modules) > 50
    return graph


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(package_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """Control: the check is not blind."""
    graph = package_graph()
    graph.add_import(importer="audioroutine.core.errors", imported="audioroutine.run.pipeline")
    found = cycles(graph)
    assert found and any("audioroutine.core.errors" in group and "audioroutine.run.pipeline" in group
                         for group in found)


def private_imports() -> list[str]:
    """`from X import _name` where X is another module of the package."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("audioroutine")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {alias.name}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports() == []


def test_the_stage_contract_holds() -> None:
    """The import-linter contract in pyproject.toml (CI runs `lint-imports` too)."""
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed")
    result = subprocess.run([str(lint)], cwd=PACKAGE.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Contracts: 1 kept, 0 broken." in result.stdout
