"""The benchmark's suites and their unit of work: what to run, and when a record still holds.

A suite (``params.yaml: benchmark.suites``) is a set of panels, each made by ``synth`` from
its own pictures, physics and factors (``docs/benchmarks.md``); a stress suite
(``benchmark.stress``) is one pair of pictures with one factor at several strengths. A
*task* is one panel at one training seed; within it the methods that train the same networks
form a group, whose record carries a fingerprint of everything its scores depend on (the
panel's physics, the group's settings, the code), so a record is reused exactly while all of
that is unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xraysep import config, settings
from xraysep.core.factors import FACTORS, check_factor, check_factors
from xraysep.core.methods import REGISTRY
from xraysep.core.methods.paper.combined import ORDERS
from xraysep.errors import InputError

PACKAGE = Path(__file__).resolve().parents[1]  # the xraysep package's sources
# the code the hidden layer's and the uncertainty map's scores depend on beyond a record's:
# scored apart, so that records made before it keep their pair's scores
TRUST_CODE = ("xraysep.core.hidden", "xraysep.core.uncertainty")
PREFIXES = {"test": "bench-", "validation": "val-", "paper-scale": "scale-"}
# the code a score depends on: the simulator, the metrics and the training loop, each
# method's own modules, and what they import from core (docstrings and comments aside)
COMMON_CODE = (
    "xraysep.core.physics", "xraysep.core.capture", "xraysep.core.factors",
    "xraysep.core.metrics", "xraysep.core.preprocess", "xraysep.core.training",
    "xraysep.core.crops", "xraysep.core.patches", "xraysep.jobs.synth",
)  # fmt: skip


@dataclass(frozen=True)
class Suite:
    """What to run: panels by name with their ``synth`` settings, at one size and preset."""

    name: str  # test, validation, paper-scale, or stress-<factor>
    prefix: str  # its panels are stored as data/panels/<prefix><panel>-t<seed>.zarr
    size: int
    preset: str  # the preset of the paper's orderings
    panels: dict[str, dict[str, Any]]
    factor: str | None = None  # a stress suite's factor; its panels are its levels
    levels: dict[str, float] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """``reports/benchmark/`` for the test suite, ``reports/benchmark-<name>/`` else;
        a stress suite in ``reports/benchmark/stress/<factor>/``."""
        reports = config.project_root() / "reports"
        if self.factor is not None:
            return reports / "benchmark" / "stress" / self.factor
        return reports / ("benchmark" if self.name == "test" else f"benchmark-{self.name}")


def _panel_settings(panel: settings.Panel) -> dict[str, Any]:
    """``synth``'s settings of a suite's panel as ``params.yaml`` gives them, the factors
    checked (absent ones are 0)."""
    return panel.values() | {"factors": check_factors(panel.factors)}


def suite(name: str, size: int | None = None) -> Suite:
    """The named suite of ``params.yaml: benchmark.suites``."""
    section = config.settings().benchmark
    if name not in section.suites:
        raise InputError(f"suite {name!r}: unknown; choose one of {', '.join(section.suites)}")
    spec = section.suites[name]
    return Suite(
        name=name,
        prefix=PREFIXES.get(name, f"{name}-"),
        size=size or spec.size or section.size,
        preset=spec.preset or section.preset,
        panels={panel: _panel_settings(values) for panel, values in spec.panels.items()},
    )


def stress_suite(factor: str, size: int | None = None) -> Suite:
    """One pair of pictures with ``factor`` at each strength of ``benchmark.stress.levels``."""
    section = config.settings().benchmark
    stress = section.stress
    levels = stress.levels
    if factor not in levels:
        known = ", ".join(levels) or "none"
        if factor not in FACTORS:
            raise InputError(f"factor {factor!r}: unknown; stress levels are defined for {known}")
        raise InputError(
            f"factor {factor!r}: no levels in params.yaml benchmark.stress.levels "
            f"(defined for {known})"
        )
    base = _panel_settings(stress.panel)
    strengths = [check_factor(factor, level) for level in levels[factor]]
    if len(strengths) < 2:
        raise InputError(f"params.yaml: benchmark.stress.levels.{factor}: give at least 2 levels")
    panels, named = {}, {}
    for strength in strengths:
        label = f"{factor}-{strength:g}"
        panels[label] = base | {"factors": base["factors"] | {factor: strength}}
        named[label] = strength
    return Suite(
        name=f"stress-{factor}",
        prefix="stress-",
        size=size or stress.size or section.size,
        preset=stress.preset or section.preset,
        panels=panels,
        factor=factor,
        levels=named,
    )


def groups(methods: list[str]) -> dict[str, list[str]]:
    """The methods by the networks they train: one group trains once for all its methods."""
    out: dict[str, list[str]] = {}
    for name in methods:
        networks = REGISTRY[name].trains
        group = "paper" if networks == ORDERS else "+".join(networks) or "untrained"
        out.setdefault(group, []).append(name)
    return out


def _module_file(module: str) -> Path:
    """The source file of ``module``: its ``.py``, or a package's ``__init__.py``."""
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _core_imports(tree: ast.Module) -> set[str]:
    """The ``xraysep.core`` modules that a module imports."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xraysep.core"):
            if node.module == "xraysep.core":
                found |= {f"xraysep.core.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("xraysep.core.")}
    return found


def _without_docstrings(tree: ast.Module) -> str:
    for node in ast.walk(tree):
        bodies = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(node, bodies) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_hash(methods: list[str]) -> str:
    """SHA-256 of the code that ``methods``' scores depend on: :data:`COMMON_CODE`, the
    module of each method's combine and every core module they import, as parsed (so an
    edit of a docstring, a comment or another method keeps the records)."""
    return modules_hash(
        [*COMMON_CODE, *(REGISTRY[method].combine.__module__ for method in methods)]
    )


def modules_hash(modules: list[str]) -> str:
    """SHA-256 of ``modules`` and every core module they import, as parsed."""
    todo = list(modules)
    trees: dict[str, ast.Module] = {}
    while todo:
        module = todo.pop()
        if module not in trees:
            trees[module] = ast.parse(_module_file(module).read_text())
            todo += _core_imports(trees[module])
    digest = hashlib.sha256()
    for module in sorted(trees):
        digest.update(module.encode() + b"\0" + _without_docstrings(trees[module]).encode())
    return digest.hexdigest()


def method_settings(method: str, preset: str) -> dict[str, Any]:
    """The ``params.yaml`` values that ``method`` reads, for the records' fingerprints."""
    chosen = config.settings()
    values: dict[str, Any] = {"train": {"seed_from": "benchmark.seeds"}}
    if REGISTRY[method].presets:
        values["preset"] = chosen.preset(preset).values()
    section = getattr(chosen, method, None)
    if isinstance(section, settings.Section):
        values[method] = section.values()
    return values


@dataclass(frozen=True)
class Task:
    """One panel of a suite at one training seed, with the methods to run on it."""

    suite: Suite
    panel: str
    seed: int
    methods: tuple[str, ...]
    device: str | None
    parent_run: str | None
    rescore: bool = False  # rerun groups whose records lack current trust scores

    @property
    def store_name(self) -> str:
        return f"{self.suite.prefix}{self.panel}-t{self.seed}"

    def record_path(self, group: str) -> Path:
        return self.suite.directory / "runs" / self.panel / f"seed{self.seed}-{group}.json"

    def pairs_path(self, group: str) -> Path:
        """The separated images of a group (for the suite's figures), kept out of git."""
        base = config.project_root() / "data" / "benchmark" / self.suite.name / self.panel
        return base / f"seed{self.seed}-{group}.npz"

    def fingerprint(self, group: list[str]) -> str:
        spec = {
            "panel": self.suite.panels[self.panel],
            "size": self.suite.size,
            "seed": self.seed,
            "methods": {m: method_settings(m, self.suite.preset) for m in group},
            "code": code_hash(group),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def trust_fingerprint(self, group: list[str]) -> str:
        """The fingerprint of the group's hidden-layer and uncertainty scores: its record's,
        and the code of :data:`TRUST_CODE`."""
        spec = {"record": self.fingerprint(group), "code": modules_hash(list(TRUST_CODE))}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def cached(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The record at ``path`` if it was made with ``fingerprint``."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("fingerprint") == fingerprint else None


def trust_rows(record: dict[str, Any], fingerprint: str) -> dict[str, dict[str, float]] | None:
    """A record's hidden-layer and uncertainty scores if they were made with ``fingerprint``
    (records made before those were scored have none)."""
    trust = record.get("trust") or {}
    return trust.get("rows") if trust.get("fingerprint") == fingerprint else None
