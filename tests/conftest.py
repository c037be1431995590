"""Shared fixtures: an isolated project (its own root, params and MLflow store) per test.

Tests use the real components (zarr stores on disk, the SQLite MLflow store, real training)
at a tiny scale: 48×48 panels, a network 4 channels wide, a handful of iterations.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

TINY_PRESET = {
    "channels": [4, 4, 4, 8, 8, 8, 1],
    "kernel": 5,
    "sampling": "patches",
    "patch": 32,
    "stride": 8,
    "iterations": 6,
    "batch_size": 9,  # the whole 3×3 grid of a 48×48 panel: one step per iteration
    "optimizer": "adam",
    "lr": 0.003,
}


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def tool_env() -> dict[str, str]:
    """The environment with this interpreter's scripts (xraysep, dvc, mlflow) first on PATH,
    as `uv run` gives it: what DVC stages and MLflow entry points need to find `xraysep`."""
    return os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def make_project(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``root`` a project with the repository's params.yaml plus a ``tiny`` preset, made
    the default, and a tiny default panel; MLflow tracks to a SQLite file inside it."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["presets"]["tiny"] = TINY_PRESET
    params["train"] |= {"preset": "tiny", "device": "cpu"}
    params["synth"] |= {"size": 48}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setenv("XRAYSEP_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(root)
    torch.set_num_threads(2)
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_project(tmp_path, monkeypatch)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable:
    """Run the real ``xraysep`` entry point in-process; returns (exit code, stdout, stderr)."""
    from xraysep.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["xraysep", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return code, strip_ansi(captured.out), strip_ansi(captured.err)

    return run
