"""MLflow set-up: where runs go and how each job opens its run
(docs/design.md, Tracking, registry and serving).

Tracking defaults to the SQLite store ``mlflow.db`` in the project root (the model registry
needs a database store; ``MLFLOW_TRACKING_URI`` overrides). Each panel has one experiment,
``xraysep/<panel>``, whose artifacts live under ``mlartifacts/`` in the project whatever the
working directory. A job's run attaches to the run that ``mlflow run`` created, nests under
an active parent run (the pipeline), or else starts fresh.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import mlflow
from mlflow.entities import Metric, Run

from xraysep import config
from xraysep.io.versioning import data_hash, git_commit


def configure() -> str:
    """Point MLflow at the project's tracking store; returns the URI in use."""
    uri = (
        os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{config.project_root() / 'mlflow.db'}"
    )
    mlflow.set_tracking_uri(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uv environments have no pip; MLflow's conda.yaml capture would warn about it each time
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    return uri


def open_store() -> None:
    """Open the tracking store now: the first query of a process builds the SQLite engine
    and checks its schema, seconds that a job can spend beside its computation instead of
    after it."""
    configure()
    mlflow.MlflowClient().search_experiments(max_results=1)


def experiment_name(panel: str) -> str:
    return f"xraysep/{panel}"


def experiment_id(panel: str) -> str:
    """The panel's experiment, created with its artifact folder in the project on first use."""
    configure()
    client = mlflow.MlflowClient()
    name = experiment_name(panel)
    if (found := client.get_experiment_by_name(name)) is not None:
        return found.experiment_id
    location = (config.project_root() / "mlartifacts" / panel).as_uri()
    return client.create_experiment(name, artifact_location=location)


@contextlib.contextmanager
def run(
    panel: str, name: str, tags: dict[str, Any] | None = None, run_id: str | None = None
) -> Iterator[Run]:
    """Open the MLflow run of one job step on ``panel``, tagged with code and data versions;
    with ``run_id``, continue that run (a resumed training).

    A nested run stays in its parent's experiment, so the UI shows the pipeline as one tree.
    """
    parent = mlflow.active_run()
    experiment = parent.info.experiment_id if parent else experiment_id(panel)
    with mlflow.start_run(
        run_id=run_id, experiment_id=experiment, run_name=name, nested=parent is not None
    ) as active:
        store = config.paths(panel).store
        mlflow.set_tags(
            {
                "xraysep.panel": panel,
                "xraysep.step": name,
                "xraysep.git_commit": git_commit(config.project_root()) or "unknown",
                "xraysep.panel_data_hash": data_hash(store) if store.exists() else "none",
                **(tags or {}),
            }
        )
        yield active


@contextlib.contextmanager
def child_run(
    panel: str, parent_run_id: str | None, name: str, tags: dict[str, Any] | None = None
) -> Iterator[Run]:
    """A run nested under ``parent_run_id`` (in ``panel``'s experiment), whether that run is
    active in this process or in the process that started this one (benchmark workers)."""
    configure()
    if mlflow.active_run() is not None or parent_run_id is None:
        with run(panel, name, tags) as active:
            yield active
        return
    with mlflow.start_run(
        experiment_id=experiment_id(panel), run_name=name, parent_run_id=parent_run_id
    ) as active:
        mlflow.set_tags({"xraysep.step": name, **(tags or {})})
        yield active


@contextlib.contextmanager
def reopened(run_id: str) -> Iterator[Run]:
    """Run ``run_id`` active again, in this process or another, nested under whatever run is
    active here: one benchmark task's networks train in processes of their own, each
    logging under the task's run."""
    configure()
    with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None) as active:
        yield active


class StepLog:
    """One metric per optimiser step, written to a run in batches of ``every`` steps.

    A ``log_metric`` per step costs MLflow's writer thread about 3.7 ms per step (one SQLite
    transaction each, measured on a 2-core CPU), and that thread takes the GIL from the
    training loop: on an H200 the train job ran the ``fast`` preset at 12.3 ms per step where
    the bare loop took 6.7. One ``log_batch`` per hundred steps costs 0.09 ms per step.
    ``flush`` writes what is pending; call it before a checkpoint so that the logged history
    never lags it.
    """

    def __init__(self, run_id: str, key: str, every: int = 100) -> None:
        self.run_id, self.key, self.every = run_id, key, every
        self.pending: list[Metric] = []

    def add(self, step: int, value: float) -> None:
        self.pending.append(Metric(self.key, value, int(time.time() * 1000), step))
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            mlflow.MlflowClient().log_batch(self.run_id, metrics=self.pending, synchronous=False)
            self.pending = []
