"""Atomic outputs: a writer killed mid-write (SIGKILL of the real CLI) leaves the previous
panel store and results intact and readable; what it left behind is ignored by readers and
cleaned by the next writer; a kill between the two renames of a replacement is undone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile
import torch
import zarr

from xraysep.core.methods.paper.combined import CombinedModel
from xraysep.core.methods.paper.network import NetConfig
from xraysep.io import checkpoints, store
from xraysep.io.atomic import _temporary_sibling, recover
from xraysep.settings import Preset

from conftest import TINY_PRESET, snapshot, tool_env

RNG = np.random.default_rng(0)


def scan(folder: Path, size: int) -> list[str]:
    """Random photographs and X-ray of a ``size``² panel as uncompressed TIFFs (fast to
    write and read, so the time goes into the store); the ingest options that take them (as
    already in the X-ray's frame: random photographs cannot be registered)."""
    folder.mkdir(exist_ok=True)
    files = {
        "front": RNG.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "back": RNG.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "xray": RNG.integers(0, 65536, (size, size), dtype=np.uint16),
    }
    for key, array in files.items():
        tifffile.imwrite(
            folder / f"{key}.tif", array, photometric="rgb" if array.ndim == 3 else None
        )
    return ["--no-register", *(f"--{key}={folder / key}.tif" for key in files)]


def arrays(group_path: Path) -> dict[str, np.ndarray]:
    """Every array of a panel store, or each result's full resolution (level 0 of its
    image) in a results group."""
    group = zarr.open_group(group_path, mode="r")
    if "outputs" not in group.attrs:
        return {name: array[:] for name, array in group.arrays()}
    return {name: group[f"{name}/0"][:] for name in group.attrs["outputs"]}


def leftovers(folder: Path) -> list[str]:
    """Temporaries in ``folder``; lock files stay by design (``io.locks``) and the kernel
    drops a killed writer's lock, as the next writer's success shows."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") and p.suffix != ".lock"
    )


def kill_when(argv: list[str], appears: Callable[[], bool], limit_s: float = 120) -> None:
    """Run the real ``xraysep`` in a fresh process and SIGKILL it as soon as ``appears()``
    (the writer's temporary exists), i.e. in the middle of its write."""
    process = subprocess.Popen(
        [sys.executable, "-m", "xraysep", *argv],
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + limit_s
    while not appears():
        if process.poll() is not None:
            raise AssertionError(f"ended before its write was caught: {process.stderr.read()}")
        assert time.monotonic() < deadline, "the write never started"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()


def test_kill_during_ingest_leaves_the_previous_store(project, cli):
    panels = project / "data" / "panels"
    assert cli("ingest", "p", *scan(project / "small", 48))[0] == 0
    before = arrays(panels / "p.zarr")

    big = scan(project / "big", 3000)  # about a second of writing
    kill_when(["ingest", "p", *big, "--overwrite"], lambda: any(panels.glob(".p.zarr.tmp-*")))

    assert leftovers(panels), "killed mid-write: its temporary is still there"
    panel = store.open_panel(panels / "p.zarr", "p")  # readers ignore the temporary
    assert panel.shape == (48, 48)
    for name, array in arrays(panels / "p.zarr").items():
        np.testing.assert_array_equal(array, before[name])

    assert cli("ingest", "p", *scan(project / "small", 48), "--overwrite")[0] == 0
    assert leftovers(panels) == []  # the next writer cleaned up after the killed one


def test_kill_during_separate_leaves_the_previous_results(project, cli):
    assert cli("synth", "p", "--size", "48")[0] == 0
    torch.manual_seed(0)  # the network's weights do not matter here, only its outputs' files
    model = CombinedModel(NetConfig.from_preset(Preset.model_validate(TINY_PRESET)))
    checkpoints.save(project / "models" / "p" / "combine.pt", model, {"panel": "p"})
    assert cli("separate", "p")[0] == 0
    results = project / "data" / "separated" / "p.zarr"
    (version,) = [p for p in results.iterdir() if p.is_dir()]
    before = arrays(version)
    reports = snapshot(project / "reports")

    assert cli("ingest", "p", *scan(project / "big", 640), "--overwrite")[0] == 0
    kill_when(["separate", "p"], lambda: any(results.glob(f".{version.name}.tmp-*")))

    assert leftovers(results), "killed mid-write: its temporary is still there"
    after = arrays(version)
    assert after.keys() == before.keys() == {"front_xray", "back_xray", "hidden", "uncertainty"}
    for name, array in after.items():
        assert array.shape == (48, 48)
        np.testing.assert_array_equal(array, before[name])
    assert snapshot(project / "reports") == reports

    assert cli("separate", "p")[0] == 0  # the next run replaces the results, cleans up
    assert leftovers(results) == []
    assert arrays(version)["front_xray"].shape == (640, 640)


def dead_pid() -> int:
    """The id of a process that has exited (what a SIGKILLed writer's id becomes)."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(finished.stdout)


def test_a_replacement_killed_between_its_two_renames_is_undone(project, cli, monkeypatch):
    """``atomic_dir`` replaces a folder by renaming the old one aside, then the new one in.
    A kill between the two leaves no store under the panel's name: the old one is put back
    by the next reader or writer (whichever machine set it aside), the killed writer's new
    one is deleted, and a live writer's temporaries are left alone."""
    assert cli("synth", "p", "--size", "32")[0] == 0
    panels = project / "data" / "panels"
    before = arrays(panels / "p.zarr")
    killed = dead_pid()
    with monkeypatch.context() as m:
        m.setattr("os.getpid", lambda: killed)
        new = _temporary_sibling(panels / "p.zarr", "tmp")
        m.setattr("xraysep.io.atomic.HOST", "0badc0de")  # even if killed on another machine
        aside = _temporary_sibling(panels / "p.zarr", "old")
    (panels / "p.zarr").rename(aside)  # the state the kill leaves: old aside, new not in
    new.mkdir()
    live = _temporary_sibling(panels / "p.zarr", "tmp")  # this process's: still writing
    live.mkdir()

    code, _, err = cli("synth", "p", "--size", "32")
    assert code == 2 and "exists; pass --overwrite" in err  # the old store counts
    panel = store.open_panel(panels / "p.zarr", "p")
    for name, array in arrays(panel.path).items():
        np.testing.assert_array_equal(array, before[name])
    assert leftovers(panels) == [live.name]
    recover(panels)
    assert leftovers(panels) == [live.name]
