"""MLflow set-up: where runs go and how each job opens its run (DESIGN §7, §8).

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
import subprocess
from collections.abc import Iterator
from typing import Any

import mlflow
from mlflow.entities import Run

from xraysep import config


def configure() -> str:
    """Point MLflow at the project's tracking store; returns the URI in use."""
    uri = (
        os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{config.project_root() / 'mlflow.db'}"
    )
    mlflow.set_tracking_uri(uri)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return uri


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


def git_commit() -> str | None:
    """The project's commit, with ``-dirty`` when the work tree has changes; None outside git."""
    root = config.project_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit


@contextlib.contextmanager
def run(panel: str, name: str, tags: dict[str, Any] | None = None) -> Iterator[Run]:
    """Open the MLflow run of one job step on ``panel``."""
    experiment = experiment_id(panel)
    parent = mlflow.active_run()
    with mlflow.start_run(
        experiment_id=experiment, run_name=name, nested=parent is not None
    ) as active:
        mlflow.set_tags(
            {
                "xraysep.panel": panel,
                "xraysep.step": name,
                "xraysep.git_commit": git_commit() or "unknown",
                **(tags or {}),
            }
        )
        yield active
