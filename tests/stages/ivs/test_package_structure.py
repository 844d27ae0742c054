"""The shape of `stages.ivs`, read from its source: no import cycle between its modules, imports
inside functions only where they defer botocore, and no private name of another package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import stages.ivs

PACKAGE = "stages.ivs"
SOURCES = sorted(Path(stages.ivs.__file__).parent.glob("*.py"))
# What a function may import: boto3 and botocore load on the first AWS call (the client's
# docstring), and the emulator loads botocore as it is imported.
DEFERRED = ("boto3", "botocore", "stages.ivs.emulator")
OURS = ("stages", "ivsproject", "__future__")


def _module(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def _imports(path: Path) -> list[tuple[str, ast.ImportFrom | ast.Import, bool]]:
    """(imported module, statement, inside a function) for each module an import statement names."""
    found: list[tuple[str, ast.ImportFrom | ast.Import, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                # `from stages.ivs import budget` imports the submodule `stages.ivs.budget`.
                submodules = [f"{child.module}.{a.name}" for a in child.names if child.module == PACKAGE]
                found.extend((name, child, in_function) for name in submodules or [child.module])
            visit(child, nested)

    visit(ast.parse(path.read_text()), False)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(path) for path in SOURCES}
    return {
        _module(path): {name for name, _, _ in _imports(path) if name in modules and name != _module(path)}
        for path in SOURCES
    }


def test_the_modules_import_one_another_without_a_cycle():
    graph = _graph()
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for imported in sorted(graph[module]):
            walk(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])
    assert graph["stages.ivs.client"] >= {"stages.ivs.emulator"}  # the deferred import is counted


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_a_function_imports_only_what_is_deferred_on_purpose(path):
    inside = [name for name, _, in_function in _imports(path) if in_function]
    assert [name for name in inside if not name.startswith(DEFERRED)] == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_no_private_name_of_another_package_is_imported(path):
    private = []
    for name, statement, _ in _imports(path):
        if name.startswith(OURS):
            continue
        names = [alias.name for alias in statement.names] if isinstance(statement, ast.ImportFrom) else []
        private += [f"{name}: {part}" for part in [*name.split("."), *names] if part.startswith("_")]
    assert private == []
