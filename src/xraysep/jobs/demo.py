"""Demo: the whole path on the default synthetic panel, as one MLflow parent run.

synth -> train order 12 -> train order 21 -> combine -> separate -> evaluate, each step a
child run of a ``demo`` run, using the defaults of ``params.yaml``.
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


def demo(
    name: str | None = None,
    *,
    preset: str | None = None,
    iterations: int | None = None,
    device: str | None = None,
) -> dict[str, dict[str, float]]:
    """Run every step on the default panel; returns the evaluation metrics."""
    name = name or config.params()["demo"]["panel"]
    start = time.perf_counter()
    synth(name, **config.params()["synth"], overwrite=True)
    with tracking.run(name, "demo"):
        for order in ("12", "21"):
            train(name, order, preset=preset, iterations=iterations, device=device)
        combine(name, device=device)
        separate(name, device=device)
        metrics = evaluate(name, device=device)
        seconds = time.perf_counter() - start
        mlflow.log_metric("demo_seconds", seconds)
    err.print(
        f"demo finished in {seconds:.0f} s; see the runs with "
        f"`mlflow ui --backend-store-uri {tracking.configure()}`"
    )
    return metrics
