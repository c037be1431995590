"""The whole path as one MLflow parent run: (synth) -> train (what the method trains: the
shared map, or orders 12 and 21) -> combine -> separate -> evaluate, each step a child run.
``demo`` is the pipeline on the default panel, synthesised afresh from ``params.yaml``.
"""

from __future__ import annotations

import time

import mlflow

from xraysep import config
from xraysep.core import methods
from xraysep.io import tracking
from xraysep.io.console import err
from xraysep.jobs.combine import combine
from xraysep.jobs.evaluate import evaluate
from xraysep.jobs.separate import separate
from xraysep.jobs.synth import synth
from xraysep.jobs.train import train


def pipeline(
    name: str,
    *,
    method: str | None = None,
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
    run_name: str = "pipeline",
) -> dict[str, dict[str, float]]:
    """Train what ``method`` needs (the baselines: nothing), combine, separate and evaluate
    an existing panel."""
    chosen = methods.method(method or config.settings().method)
    method = chosen.name
    start = time.perf_counter()
    with tracking.run(name, run_name, {"xraysep.method": method}):
        if chosen.trains:
            train(name, method=method, preset=preset, iterations=iterations, device=device)
        combine(name, method=method, device=device)
        separate(name, device=device)
        metrics = evaluate(name, device=device)
        seconds = time.perf_counter() - start
        mlflow.log_metric("pipeline_seconds", seconds)
    err.print(
        f"{run_name} finished in {seconds:.0f} s; see the runs with "
        f"`mlflow ui --backend-store-uri {tracking.configure()}`"
    )
    return metrics


def demo(
    name: str | None = None,
    *,
    method: str | None = None,
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
) -> dict[str, dict[str, float]]:
    """Synthesise the default panel from ``params.yaml`` and run the pipeline on it."""
    name = name or config.settings().demo.panel
    synth(name, **config.settings().synth.model_dump(), overwrite=True)
    return pipeline(
        name, method=method, preset=preset, iterations=iterations, device=device, run_name="demo"
    )
