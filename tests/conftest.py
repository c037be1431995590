"""Shared fixtures: an isolated project (its own root, params and MLflow store) per test.

Tests use the real components (zarr stores on disk, the SQLite MLflow store, real training)
at a tiny scale: 48×48 panels, a network 4 channels wide, a handful of iterations. One
trained, combined and served panel is built once per session and shared by the tests of the
model server, of bad input and of load.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import torch
import yaml

from serve_load import model_server

REPO = Path(__file__).resolve().parents[1]

# One intra-op thread in every process of the suite: this one, and the CLIs, model server and
# DVC stages it starts (they inherit the environment), so in-process and subprocess runs
# also compute alike. Tiny networks gain nothing from threads, and on a busy 2-core machine
# two threads per process spin against each other: 100 tiny training steps took 27 s with
# two threads and 2 s with one.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)
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


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> SHA-256): compare two to prove that a
    command changed nothing."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def tiny_params(root: Path) -> dict:
    """Write ``root/params.yaml``: the repository's plus a ``tiny`` preset, made the default,
    and a tiny default panel; returns them."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["presets"]["tiny"] = TINY_PRESET
    params["method"] = "paper"  # most tests exercise the paper's path; methods.py the others
    params["train"] |= {"preset": "tiny", "device": "cpu"}
    params["shared"] |= {"iterations": 40}
    params["cae"] |= {"iterations": 20}
    params["lista"] |= {"iterations": 20}
    params["synth"] |= {"size": 48}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def make_project(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``root`` a project with :func:`tiny_params`; MLflow tracks to a SQLite file
    inside it."""
    tiny_params(root)
    return enter_project(root, monkeypatch)


def enter_project(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in the existing project ``root``: its root, its MLflow store, as the CLI sees it."""
    monkeypatch.setenv("XRAYSEP_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(root)
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
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


# the served model's per-request limit in tests: oversized requests stay cheap to send (at the
# default of 4 megapixels, one costs the server about 20 s and 1 GB to parse here)
SERVE_MAX_PIXELS = 64 * 64


@dataclass(frozen=True)
class Served:
    root: Path  # a project with panel "p" (40×40), trained, combined twice, separated, evaluated
    separated: Path  # its separated results group
    url: str  # the real model server answering models:/xraysep-p@champion
    server_pid: int


@pytest.fixture(scope="session")
def served_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Built once per session (training is the slow part); the server is started without
    ``-h``, so it listens where ``mlflow models serve`` binds by default."""
    from xraysep.jobs.combine import combine
    from xraysep.jobs.evaluate import evaluate
    from xraysep.jobs.separate import separate
    from xraysep.jobs.synth import synth
    from xraysep.jobs.train import train

    with pytest.MonkeyPatch.context() as monkeypatch:
        root = make_project(tmp_path_factory.mktemp("served"), monkeypatch)
        synth("p", size=40)
        for order in ("12", "21"):
            train("p", order)
        combine("p")
        combine("p")
        (separated,) = separate("p")
        evaluate("p")
    env = tool_env() | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "XRAYSEP_SERVE_MAX_PIXELS": str(SERVE_MAX_PIXELS),
    }
    with model_server("models:/xraysep-p@champion", cwd=root, env=env) as (url, process):
        yield Served(root, separated, url, process.pid)


@pytest.fixture
def served(served_project: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    """The shared served project, entered as the working project of this test."""
    enter_project(served_project.root, monkeypatch)
    return served_project


def ingest_chunked(root: Path, name: str, height: int = 600, width: int = 700) -> Path:
    """Ingest a random panel of ``height``×``width`` pixels (2×2 chunks of 512 at the
    default) from files written under ``root/scans``; returns its store."""
    import numpy as np
    import tifffile
    from PIL import Image

    from xraysep.jobs.ingest import ingest

    rng = np.random.default_rng(7)
    folder = root / "scans"
    folder.mkdir(exist_ok=True)
    for side in ("front", "back"):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"{side}.png")
    tifffile.imwrite(folder / "xray.tif", rng.integers(1000, 60000, (height, width), np.uint16))
    return ingest(name, folder / "front.png", folder / "back.png", folder / "xray.tif")


def build_separated(root: Path, height: int, width: int) -> Path:
    """A project at ``root`` with panel ``c`` (``height``×``width``, random) separated with
    the ``half`` method (nothing to train); returns ``root``. Built once per test module."""
    from xraysep.jobs.combine import combine
    from xraysep.jobs.separate import separate

    with pytest.MonkeyPatch.context() as monkeypatch:
        make_project(root, monkeypatch)
        ingest_chunked(root, "c", height, width)
        combine("c", method="half", register=False)
        separate("c")
    return root


def enter_copy(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project ``built`` (its lock files left behind), entered; returns its
    root, so each test changes its own copy."""
    root = tmp_path / "project"
    shutil.copytree(built, root, ignore=shutil.ignore_patterns(".*.lock"))
    return enter_project(root, monkeypatch)


def chunk_bytes(shard: Path, index: tuple[int, int], per_shard: tuple[int, int]) -> slice:
    """Where inner chunk ``index`` of a shard file lies, read from the shard's index (at its
    end: (offset, length) as little-endian uint64 per chunk in row-major order, then a
    CRC-32C)."""
    import numpy as np

    data = shard.read_bytes()
    entries = per_shard[0] * per_shard[1]
    table = np.frombuffer(data[-(16 * entries + 4) : -4], "<u8").reshape(*per_shard, 2)
    offset, length = (int(v) for v in table[index])
    return slice(offset, offset + length)


def flip(path: Path, where: slice, count: int = 60) -> None:
    """Invert ``count`` bytes in the middle of ``where`` in ``path``: a failing disk, an
    interrupted copy."""
    data = bytearray(path.read_bytes())
    middle = (where.start + where.stop) // 2
    for at in range(middle, middle + count):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))
