"""The whole path as one MLflow parent run: (synth) -> train 12 -> train 21 -> combine ->
separate -> evaluate, each step a child run. ``demo`` is the pipeline on the default panel,
synthesised afresh from ``params.yaml``.
"""

from __future__ import annotations

import time

import mlflow

from xraysep import config
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
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
    run_name: str = "pipeline",
) -> dict[str, dict[str, float]]:
    """Train both orderings, combine, separate and evaluate an existing panel."""
    start = time.perf_counter()
    with tracking.run(name, run_name):
        for order in ("12", "21"):
            train(name, order, preset=preset, iterations=iterations, device=device)
        combine(name, device=device)
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
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
) -> dict[str, dict[str, float]]:
    """Synthesise the default panel from ``params.yaml`` and run the pipeline on it."""
    name = name or config.params()["demo"]["panel"]
    synth(name, **config.params()["synth"], overwrite=True)
    return pipeline(name, preset=preset, iterations=iterations, device=device, run_name="demo")
