"""Benchmark: every method on suites of synthetic panels with ground truth, over seeds.

A suite (``params.yaml: benchmark.suites``) is a set of panels, each made by ``synth`` from
its own pictures, physics and factors (``docs/benchmarks.md``); a stress suite
(``benchmark.stress``) is one pair of pictures with one factor at several strengths. Every
panel is separated once per training seed (``benchmark.seeds``) by every method, through the
same jobs as ``xraysep pipeline`` (train, combine, separate), and scored against the truth.

The unit of work is a *task*: one panel, one seed (``jobs.suites``). Within it the methods
that train the same networks form a group (the paper's two orderings serve ``paper`` and
``consistent``), and each group's scores are kept as a record under ``reports/<suite>/runs/``
with a fingerprint of everything it depends on. A record whose fingerprint matches is
reused, so an interrupted benchmark resumes, a change of one method's settings reruns only
that method (``dvc exp run -S shared.ridge=…``), and tasks, and each network they train,
run in parallel processes (``benchmark.jobs``). The report
(:mod:`xraysep.jobs.benchmark_report`) is built from the records.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import mlflow
import numpy as np
import torch

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.methods import REGISTRY
from xraysep.core.methods import method as find_method
from xraysep.core.metrics import score
from xraysep.core.separator import stack
from xraysep.errors import InputError
from xraysep.io import checkpoints, store, tracking
from xraysep.io.atomic import atomic_file
from xraysep.io.console import err
from xraysep.io.versioning import git_commit
from xraysep.jobs import benchmark_report
from xraysep.jobs.combine import combine
from xraysep.jobs.evaluate import approach_layers, trust_scores
from xraysep.jobs.suites import Task, cached, groups, stress_suite, suite, trust_rows
from xraysep.jobs.synth import synth
from xraysep.jobs.train import train_network

EXPERIMENT = "benchmark"
LABELS = {"combined": "paper combined", "order12": "paper order 12", "order21": "paper order 21"}


@dataclass(frozen=True)
class Plan:
    """What a task has to do: its stale groups (their methods and fingerprints) and the
    MLflow run their training and scores go to, made with the task's panel."""

    task: Task
    todo: dict[str, tuple[list[str], str]]
    run_id: str | None = None  # none where nothing is stale

    @property
    def networks(self) -> list[tuple[str, str | None]]:
        """Every network the stale groups train, with its preset."""
        return [
            (key, self.task.suite.preset if REGISTRY[methods[0]].presets else None)
            for methods, _ in self.todo.values()  # a group's methods train the same networks
            for key in REGISTRY[methods[0]].trains
        ]


def plan_task(task: Task) -> Plan:
    """The task's groups whose record is missing or stale (with ``task.rescore``, also those
    whose hidden-layer and uncertainty scores are); where there are any, its panel is made
    and its run opened."""
    todo = {}
    for group, methods in groups(list(task.methods)).items():
        fingerprint = task.fingerprint(methods)
        record = cached(task.record_path(group), fingerprint)
        unscored = (
            task.rescore
            and record is not None
            and (trust_rows(record, task.trust_fingerprint(methods)) is None)
        )
        if record is None or unscored:
            todo[group] = (methods, fingerprint)
    if not todo:
        return Plan(task, todo)
    synth(task.store_name, size=task.suite.size, **task.suite.panels[task.panel], overwrite=True)
    with tracking.child_run(
        EXPERIMENT, task.parent_run, f"{task.panel} seed {task.seed}",
        {"xraysep.suite": task.suite.name, "xraysep.seed": str(task.seed)},
    ) as run:  # fmt: skip
        return Plan(task, todo, run.info.run_id)


def train_one(plan: Plan, key: str, preset: str | None) -> float:
    """Train network ``key`` on the plan's panel, under the task's run; returns the
    seconds it took."""
    task = plan.task
    began = time.perf_counter()
    with tracking.reopened(plan.run_id):
        train_network(
            task.store_name, key, preset=preset, device=task.device, seed=task.seed, resume=False
        )
    return time.perf_counter() - began


def run_group(
    task: Task, methods: list[str], target: torch.device, trained: float
) -> tuple[dict, dict, dict]:
    """Combine, separate and score ``methods`` (one group, its networks trained in
    ``trained`` seconds) on the task's panel: the pair's scores, the hidden layer's and
    uncertainty's (``evaluate.trust_scores``), the pairs."""
    name = task.store_name
    where = config.paths(name)
    loaded = store.open_panel(where.store, name)
    photographs = stack(loaded.rgb("front"), loaded.rgb("back"), loaded.xray())
    truth = (loaded.truth("front"), loaded.truth("back"))
    hidden_truth = loaded.hidden_truth()
    tile = config.settings().separate.tile
    rows: dict[str, dict[str, float]] = {}
    trust: dict[str, dict[str, float]] = {}
    pairs: dict[str, np.ndarray] = {}
    for method in methods:
        began = time.perf_counter()
        combine(name, method=method, device=task.device, register=False)
        model, _ = checkpoints.load_separator(where.combine_model)
        model.to(target)
        own = approach_layers(model, photographs, tile, target)
        seconds = time.perf_counter() - began + trained
        for approach, layers in own.items():
            pair = layers["front"], layers["back"]
            label = method if approach == method else LABELS.get(approach, approach)
            if label not in rows:
                rows[label] = score(photographs[..., 6], *pair, *truth) | {"seconds": seconds}
                own_approach = approach == model.approaches[0]
                trust[label] = trust_scores(layers, own_approach, truth, hidden_truth)
                pairs[label] = np.stack(pair).astype(np.float16)
    return rows, trust, pairs


def finish_task(plan: Plan, trained: dict[str, float]) -> str:
    """Score the plan's groups, their networks trained (``trained``: seconds per network),
    and write their records; returns a line saying what was done."""
    task = plan.task
    if not plan.todo:
        return f"{task.suite.name} {task.panel} seed {task.seed}: up to date"
    target = devices.resolve(task.device or config.settings().train.device)
    with tracking.reopened(plan.run_id):
        for group, (methods, fingerprint) in plan.todo.items():
            seconds = sum(trained[key] for key in REGISTRY[methods[0]].trains)
            rows, trust, pairs = run_group(task, methods, target, seconds)
            mlflow.log_metrics(
                {
                    f"{label.replace(' ', '_')}/{key}": value
                    for table in (rows, trust)
                    for label, row in table.items()
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
                "trust": {"fingerprint": task.trust_fingerprint(methods), "rows": trust},
            }
            task.pairs_path(group).parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(task.pairs_path(group)) as temporary, temporary.open("wb") as f:
                np.savez_compressed(f, **pairs)
            task.record_path(group).parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(task.record_path(group)) as temporary:
                temporary.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return f"{task.suite.name} {task.panel} seed {task.seed}: ran {', '.join(plan.todo)}"


def _worker(threads: int) -> None:
    torch.set_num_threads(threads)


def run_tasks(tasks: list[Task], jobs: int) -> None:
    """Run ``tasks``: in this process when ``jobs`` is 1, else in ``jobs`` processes, each
    running one step at a time: a task's plan (its panel), one of its networks (a panel's
    networks train side by side: the paper's two orderings are two), or its scores. A task
    is scored as soon as its networks are trained, before other networks start, so an
    interrupted run keeps the records of the tasks it finished."""
    if jobs <= 1:
        for number, task in enumerate(tasks, start=1):
            plan = plan_task(task)
            trained = {key: train_one(plan, key, preset) for key, preset in plan.networks}
            err.print(f"benchmark [{number}/{len(tasks)}] {finish_task(plan, trained)}")
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    plans: dict[int, Plan] = {}
    trained: dict[int, dict[str, float]] = {}
    steps: deque[tuple] = deque(("plan", n) for n in range(len(tasks)))
    running: dict[Future, tuple] = {}
    finished = 0
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker, initargs=(threads,)
    ) as pool:
        while steps or running:
            while steps and len(running) < jobs:
                step = steps.popleft()
                match step:
                    case ("plan", n):
                        running[pool.submit(plan_task, tasks[n])] = step
                    case ("train", n, key, preset):
                        running[pool.submit(train_one, plans[n], key, preset)] = step
                    case ("finish", n):
                        running[pool.submit(finish_task, plans[n], trained[n])] = step
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                match running.pop(future), future.result():
                    case ("plan", n), plan:
                        plans[n], trained[n] = plan, {}
                        steps.extend(("train", n, *network) for network in plan.networks)
                        if not plan.networks:
                            steps.appendleft(("finish", n))
                    case ("train", n, key, _), seconds:
                        trained[n][key] = seconds
                        err.print(
                            f"benchmark: trained {tasks[n].panel} seed {tasks[n].seed} {key} "
                            f"in {seconds:.0f} s"
                        )
                        if len(trained[n]) == len(plans[n].networks):
                            steps.appendleft(("finish", n))
                    case ("finish", _), line:
                        finished += 1
                        err.print(f"benchmark [{finished}/{len(tasks)}] {line}")


def benchmark(
    *,
    suite_name: str = "test",
    stress: str | None = None,
    size: int | None = None,
    methods: list[str] | None = None,
    seeds: list[int] | None = None,
    jobs: int | None = None,
    device: str | None = None,
    rescore: bool = False,
) -> Path:
    """Run a suite (or the stress suite of one factor) and write its report; returns the
    path of the markdown report. ``rescore`` also reruns the groups whose records lack
    current hidden-layer and uncertainty scores."""
    section = config.settings().benchmark
    jobs = section.jobs if jobs is None else jobs
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: must be at least 1")
    chosen = stress_suite(stress, size) if stress else suite(suite_name, size)
    methods = [find_method(m).name for m in (methods or section.methods)]
    seeds = list(seeds or section.seeds)
    chosen.directory.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with tracking.run(EXPERIMENT, f"benchmark-{chosen.name}") as parent:
        mlflow.log_params(
            {"suite": chosen.name, "size": chosen.size, "preset": chosen.preset,
             "methods": ",".join(methods), "seeds": ",".join(map(str, seeds)),
             "panels": ",".join(chosen.panels)}
        )  # fmt: skip
        tasks = [
            Task(chosen, panel, seed, tuple(methods), device, parent.info.run_id, rescore)
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
