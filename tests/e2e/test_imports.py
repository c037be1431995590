"""The package's import graph: layers point down, methods stay apart, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "xraysep"
METHODS = "xraysep.core.methods"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The ``xraysep`` modules ``path`` imports at module level or in functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xraysep"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("xraysep")}
    return found


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}
MODULES = set(GRAPH)


def edges(module: str) -> set[str]:
    return {target for target in GRAPH[module] if target in MODULES and target != module}


def method_of(module: str) -> str | None:
    """The method package or module that ``module`` belongs to (None: not a method's)."""
    if not module.startswith(METHODS + "."):
        return None
    part = module.removeprefix(METHODS + ".").split(".")[0]
    return None if part == "base" else part


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in edges(module):
            if state.get(target) == 1:
                cycle = [*trail[trail.index(target) :], target] if target in trail else [target]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])


def test_core_touches_neither_io_nor_jobs() -> None:
    for module in MODULES:
        if module.startswith("xraysep.core"):
            wrong = {t for t in edges(module) if t.startswith(("xraysep.io", "xraysep.jobs"))}
            assert not wrong, f"{module} imports {sorted(wrong)}"


def test_no_method_imports_another() -> None:
    """What two methods share lives beside them in core/, so each can change alone."""
    methods = {method_of(m) for m in MODULES} - {None}
    assert {"shared", "paper", "cae", "lista", "baselines"} <= methods
    for module in MODULES:
        own = method_of(module)
        if own is None:
            continue
        others = {method_of(t) for t in edges(module)} - {None, own}
        assert not others, f"{module} imports method {sorted(others)}"
