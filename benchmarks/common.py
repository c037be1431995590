"""Shared set-up of the benchmarks: a scratch project under ``benchmarks/out/``.

Each benchmark runs the real jobs (synth, train, combine, separate) in its own project root,
with the repository's ``params.yaml`` plus the overrides it states, tracking to a SQLite store
inside that root, so benchmark runs never touch the project's data or MLflow store.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def scratch_project(name: str, overrides: dict | None = None) -> Path:
    """Make ``benchmarks/out/<name>`` the project root (params merged with ``overrides``)."""
    root = REPO / "benchmarks" / "out" / name
    root.mkdir(parents=True, exist_ok=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in (overrides or {}).items():
        params[section] = {**params.get(section, {}), **values}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    os.environ["XRAYSEP_ROOT"] = str(root)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    return root


def baseline_sources(ref: str, root: Path) -> Path:
    """The ``src`` folder of commit ``ref``, unpacked under ``root/baseline/``: put it first
    on ``PYTHONPATH`` to run that commit's code beside this tree's."""
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    target = root / "baseline" / commit
    if not (target / "src").is_dir():
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "src"], check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target / "src"


def command() -> str:
    """The command line that reproduces this run."""
    script = Path(sys.argv[0]).resolve().relative_to(REPO)
    return "uv run python " + shlex.join([str(script), *sys.argv[1:]])


def machine() -> str:
    import platform

    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"
    )
