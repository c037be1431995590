"""Benchmark: every method on suites of synthetic panels with ground truth, over seeds.

A suite (``params.yaml: benchmark.suites``) is a set of panels, each made by ``synth`` from
its own pictures, physics and factors (``docs/benchmarks.md``); a stress suite
(``benchmark.stress``) is one pair of pictures with one factor at several strengths. Every
panel is separated once per training seed (``benchmark.seeds``) by every method, through the
same jobs as ``xraysep pipeline`` (train, combine, separate), and scored against the truth.

The unit of work is a *task*: one panel, one seed. Within it the methods that train the same
networks form a group (the paper's two orderings serve ``paper`` and ``consistent``), and
each group's scores are kept as a record under ``reports/<suite>/runs/`` with a fingerprint
of everything it depends on: the panel's physics, the group's settings and the code. A
record whose fingerprint matches is reused, so an interrupted benchmark resumes, a change of
one method's settings reruns only that method (``dvc exp run -S shared.ridge=…``), and tasks
run in parallel processes (``benchmark.jobs``). The report (:mod:`xraysep.io.benchmark_report`)
is built from the records.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.combined import ORDERS
from xraysep.core.factors import FACTORS, check_factor, check_factors
from xraysep.core.methods import TRAINS, check_method
from xraysep.core.metrics import score
from xraysep.core.separator import stack
from xraysep.errors import InputError
from xraysep.io import benchmark_report, checkpoints, store, tracking
from xraysep.io.atomic import atomic_file
from xraysep.io.console import err
from xraysep.io.versioning import git_commit
from xraysep.jobs.combine import combine
from xraysep.jobs.evaluate import approach_pairs
from xraysep.jobs.synth import synth
from xraysep.jobs.train import train_network

EXPERIMENT = "benchmark"
PREFIXES = {"test": "bench-", "validation": "val-", "paper-scale": "scale-"}
LABELS = {"combined": "paper combined", "order12": "paper order 12", "order21": "paper order 21"}
PANEL_KEYS = {"front", "back", "seed", "mixture", "grain", "noise", "factors"}
# the code a score depends on: the simulator, the metrics and the training loop, each
# method's own modules, and what they import from core (docstrings and comments aside)
COMMON_CODE = (
    "xraysep.core.physics", "xraysep.core.capture", "xraysep.core.factors",
    "xraysep.core.metrics", "xraysep.core.preprocess", "xraysep.core.training",
    "xraysep.core.crops", "xraysep.core.patches", "xraysep.jobs.synth",
)  # fmt: skip
METHOD_CODE = {
    "shared": ("xraysep.core.shared",),
    "paper": ("xraysep.core.combined",),
    "consistent": ("xraysep.core.combined", "xraysep.core.consistent"),
    "linear": ("xraysep.core.baselines",),
    "half": ("xraysep.core.baselines",),
}


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


def _panel_settings(where: str, panel: dict[str, Any]) -> dict[str, Any]:
    unknown = set(panel) - PANEL_KEYS
    if unknown:
        raise InputError(
            f"params.yaml: {where}: unknown key {sorted(unknown)[0]!r}; "
            f"allowed: {', '.join(sorted(PANEL_KEYS))}"
        )
    return panel | {"factors": check_factors(panel.get("factors"))}


def suite(name: str, size: int | None = None) -> Suite:
    """The named suite of ``params.yaml: benchmark.suites``, checked."""
    section = config.params()["benchmark"]
    suites = section.get("suites", {})
    if name not in suites:
        raise InputError(f"suite {name!r}: unknown; choose one of {', '.join(suites)}")
    spec = suites[name]
    panels = spec.get("panels") or {}
    if not panels:
        raise InputError(f"params.yaml: benchmark.suites.{name}.panels is empty")
    return Suite(
        name=name,
        prefix=PREFIXES.get(name, f"{name}-"),
        size=int(size or spec.get("size", section["size"])),
        preset=str(spec.get("preset", section["preset"])),
        panels={
            p: _panel_settings(f"benchmark.suites.{name}.panels.{p}", s) for p, s in panels.items()
        },
    )


def stress_suite(factor: str, size: int | None = None) -> Suite:
    """One pair of pictures with ``factor`` at each strength of ``benchmark.stress.levels``."""
    section = config.params()["benchmark"]
    stress = section.get("stress", {})
    levels = stress.get("levels", {})
    if factor not in levels:
        known = ", ".join(levels) or "none"
        if factor not in FACTORS:
            raise InputError(f"factor {factor!r}: unknown; stress levels are defined for {known}")
        raise InputError(
            f"factor {factor!r}: no levels in params.yaml benchmark.stress.levels "
            f"(defined for {known})"
        )
    base = _panel_settings("benchmark.stress.panel", dict(stress["panel"]))
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
        size=int(size or stress.get("size", section["size"])),
        preset=str(stress.get("preset", section["preset"])),
        panels=panels,
        factor=factor,
        levels=named,
    )


def groups(methods: list[str]) -> dict[str, list[str]]:
    """The methods by the networks they train: one group trains once for all its methods."""
    out: dict[str, list[str]] = {}
    for method in methods:
        networks = TRAINS[method]
        name = "paper" if networks == ORDERS else "+".join(networks) or "untrained"
        out.setdefault(name, []).append(method)
    return out


def _module_file(module: str) -> Path:
    package = Path(__file__).resolve().parents[1]
    return package.joinpath(*module.split(".")[1:]).with_suffix(".py")


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
    methods' modules (:data:`METHOD_CODE`) and every core module they import, as parsed
    (so an edit of a docstring, a comment or another method keeps the records)."""
    todo = [*COMMON_CODE, *(m for method in methods for m in METHOD_CODE[method])]
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
    params = config.params()
    networks = TRAINS[method]
    settings: dict[str, Any] = {"train": {"seed_from": "benchmark.seeds"}}
    if networks == ORDERS:
        settings["preset"] = config.preset(preset)
    if method in params and isinstance(params[method], dict):
        settings[method] = params[method]
    return settings


@dataclass(frozen=True)
class Task:
    """One panel of a suite at one training seed, with the methods to run on it."""

    suite: Suite
    panel: str
    seed: int
    methods: tuple[str, ...]
    device: str | None
    parent_run: str | None

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


def cached(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The record at ``path`` if it was made with ``fingerprint``."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("fingerprint") == fingerprint else None


def run_group(task: Task, methods: list[str], target: torch.device) -> tuple[dict, dict]:
    """Train, combine, separate and score ``methods`` (one group) on the task's panel."""
    name = task.store_name
    where = config.paths(name)
    loaded = store.open_panel(where.store, name)
    photographs = stack(loaded.rgb("front"), loaded.rgb("back"), loaded.xray())
    truth = (loaded.truth("front"), loaded.truth("back"))
    tile = int(config.params()["separate"]["tile"])
    began = time.perf_counter()
    for key in TRAINS[methods[0]]:
        preset = task.suite.preset if key in ORDERS else None
        train_network(name, key, preset=preset, device=task.device, seed=task.seed, resume=False)
    trained = time.perf_counter() - began
    rows: dict[str, dict[str, float]] = {}
    pairs: dict[str, np.ndarray] = {}
    for method in methods:
        began = time.perf_counter()
        combine(name, method=method, device=task.device, register=False)
        model, _ = checkpoints.load_separator(where.combine_model)
        model.to(target)
        own = approach_pairs(model, photographs, tile, target)
        seconds = time.perf_counter() - began + trained
        for approach, pair in own.items():
            label = method if approach == method else LABELS.get(approach, approach)
            if label not in rows:
                rows[label] = score(photographs[..., 6], *pair, *truth) | {"seconds": seconds}
                pairs[label] = np.stack(pair).astype(np.float16)
    return rows, pairs


def run_task(task: Task) -> str:
    """Make the task's panel and run every group whose record is missing or stale; returns
    a line saying what was done."""
    todo = {}
    for group, methods in groups(list(task.methods)).items():
        fingerprint = task.fingerprint(methods)
        if cached(task.record_path(group), fingerprint) is None:
            todo[group] = (methods, fingerprint)
    if not todo:
        return f"{task.suite.name} {task.panel} seed {task.seed}: up to date"
    settings = task.suite.panels[task.panel]
    synth(task.store_name, size=task.suite.size, **settings, overwrite=True)
    target = devices.resolve(task.device or config.params()["train"]["device"])
    with tracking.child_run(
        EXPERIMENT, task.parent_run, f"{task.panel} seed {task.seed}",
        {"xraysep.suite": task.suite.name, "xraysep.seed": str(task.seed)},
    ):  # fmt: skip
        for group, (methods, fingerprint) in todo.items():
            rows, pairs = run_group(task, methods, target)
            mlflow.log_metrics(
                {
                    f"{label.replace(' ', '_')}/{key}": value
                    for label, row in rows.items()
                    for key, value in row.items()
                    if np.isfinite(value)
                }
            )
            record = {
                "fingerprint": fingerprint,
                "commit": git_commit(config.project_root()) or "unknown",
                "device": target.type,
                "preset": task.suite.preset,
                "rows": rows,
            }
            task.pairs_path(group).parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(task.pairs_path(group)) as temporary, temporary.open("wb") as f:
                np.savez_compressed(f, **pairs)
            task.record_path(group).parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(task.record_path(group)) as temporary:
                temporary.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return f"{task.suite.name} {task.panel} seed {task.seed}: ran {', '.join(todo)}"


def _worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_tasks(tasks: list[Task], jobs: int) -> None:
    """Run ``tasks``, ``jobs`` at a time in their own processes (in this one when 1)."""
    if jobs <= 1 or len(tasks) <= 1:
        for number, task in enumerate(tasks, start=1):
            err.print(f"benchmark [{number}/{len(tasks)}] {run_task(task)}")
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker, initargs=(threads,)
    ) as pool:
        for number, line in enumerate(pool.map(run_task, tasks), start=1):
            err.print(f"benchmark [{number}/{len(tasks)}] {line}")


def benchmark(
    *,
    suite_name: str = "test",
    stress: str | None = None,
    size: int | None = None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    jobs: int | None = None,
    device: str | None = None,
) -> Path:
    """Run a suite (or the stress suite of one factor) and write its report; returns the
    path of the markdown report."""
    section = config.params()["benchmark"]
    jobs = int(section.get("jobs", 1) if jobs is None else jobs)
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    chosen = stress_suite(stress, size) if stress else suite(suite_name, size)
    methods = [check_method(m) for m in (methods or section["methods"])]
    seeds = [int(s) for s in (seeds or section["seeds"])]
    chosen.directory.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with tracking.run(EXPERIMENT, f"benchmark-{chosen.name}") as parent:
        mlflow.log_params(
            {"suite": chosen.name, "size": chosen.size, "preset": chosen.preset,
             "methods": ",".join(methods), "seeds": ",".join(map(str, seeds)),
             "panels": ",".join(chosen.panels)}
        )  # fmt: skip
        tasks = [
            Task(chosen, panel, seed, tuple(methods), device, parent.info.run_id)
            for seed in seeds  # seed by seed: a partial run still covers the whole suite
            for panel in chosen.panels
        ]
        run_tasks(tasks, jobs)
        seconds = time.perf_counter() - began
        path = benchmark_report.write(chosen, tasks, groups(methods), seconds)
        for artifact in chosen.directory.glob("*.*"):
            mlflow.log_artifact(str(artifact))
        mlflow.log_metric("benchmark_seconds", seconds)
    return path
