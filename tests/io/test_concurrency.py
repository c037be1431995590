"""One writer at a time: two real writers started at once leave one whole store; a writer
stops with one line naming the process that reads or writes what it would replace; and
the ``champion`` alias never lands on a version whose files are missing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from xraysep.io import images, registry
from xraysep.jobs.combine import combine
from xraysep.jobs.verify import FAIL, verify

from conftest import ingest_chunked, snapshot, tool_env

PYTHON = Path(sys.executable).name
HOLD = """
import sys
from pathlib import Path
from xraysep.io import locks
with getattr(locks, sys.argv[1])(Path(sys.argv[2])):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder() -> Iterator:
    """Start a real process that holds a lock (``reading`` or ``writing``) on a target until
    the test ends; returns its pid once it holds it."""
    processes = []

    def hold(how: str, target: Path) -> int:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLD, how, str(target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout.readline() == "held\n"
        return process.pid

    yield hold
    for process in processes:
        process.stdin.close()
        process.wait(timeout=30)


def scans(folder: Path, seed: int, size: tuple[int, int] = (1500, 1400)) -> list[str]:
    """Files of a random panel in ``folder``; the ingest options that read them (taken as
    already in the X-ray's frame: random photographs cannot be registered)."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for side in ("front", "back"):
        Image.fromarray(rng.integers(0, 256, (*size, 3), np.uint8)).save(folder / f"{side}.png")
    tifffile.imwrite(folder / "xray.tif", rng.integers(1000, 60000, size, np.uint16))
    return ["--no-register", *(f"--{key}={folder / name}" for key, name in FILES.items())]


FILES = {"front": "front.png", "back": "back.png", "xray": "xray.tif"}


def test_two_ingests_started_at_once_leave_one_whole_store(project, cli):
    """Each either replaces the store whole or stops naming the other; the store is then
    exactly one of the two scans, never a mix, and every check of verify passes."""
    first, second = scans(project / "a", 1), scans(project / "b", 2)
    assert cli("ingest", "p", *first)[0] == 0
    command = [sys.executable, "-m", "xraysep", "ingest", "p", "--overwrite"]
    writers = [
        subprocess.Popen([*command, *files], env=tool_env(), stderr=subprocess.PIPE, text=True)
        for files in (first, second)
    ]
    results = [(writer.wait(timeout=300), writer.stderr.read()) for writer in writers]
    store = project / "data" / "panels" / "p.zarr"
    for (code, err), other in zip(results, reversed(writers), strict=True):
        assert code in (0, 2), err
        if code == 2:
            assert (
                err.strip()
                .splitlines()[-1]
                .startswith(f"xraysep: error: {store}: process {other.pid} (")
            ), err
            assert "is reading or writing it; try again when it has finished" in err
    assert 0 in [code for code, _ in results]
    assert [row for row in verify(["p"]) if row.status == FAIL] == []
    group = zarr.open_group(store, mode="r")
    folder = Path(group.attrs["xraysep"]["sources"]["front"]["path"]).parent
    assert folder.name in ("a", "b")
    for key, name in FILES.items():
        recorded = group.attrs["xraysep"]["sources"][key]["sha256"]
        assert recorded == images.sha256(project / folder.name / name), key
    front = np.asarray(Image.open(project / folder.name / "front.png"))
    np.testing.assert_array_equal(group["front"][...], front)
    assert sorted(p.name for p in store.parent.iterdir()) == [".p.zarr.lock", "p.zarr"]


def test_a_writer_stops_while_another_process_reads(project, cli, holder):
    """``ingest --overwrite`` while a job reads the panel, ``combine`` while ``separate``
    reads the model it would replace: one line naming the reader, nothing changed."""
    store = ingest_chunked(project, "c")
    combine("c", method="half", register=False)
    before = snapshot(project)
    reader = holder("reading", store)
    code, _, err = cli(
        "ingest",
        "c",
        "--overwrite",
        "--no-register",
        *(f"--{k}=scans/{v}" for k, v in FILES.items()),
    )
    (line,) = [line for line in err.splitlines() if line.startswith("xraysep: error:")]
    assert code == 2 and line.startswith(f"xraysep: error: {store}: process {reader} ({PYTHON} -c ")
    assert line.endswith(") is reading or writing it; try again when it has finished")
    model = project / "models" / "c" / "combine.pt"
    reader = holder("reading", model)
    code, _, err = cli("combine", "c", "--method", "half")
    assert code == 2 and err.strip().startswith(
        f"xraysep: error: {model}: process {reader} ({PYTHON} -c"
    )
    assert snapshot(project) == before


def test_a_reader_stops_while_another_process_writes(project, cli, holder):
    store = ingest_chunked(project, "c")
    combine("c", method="half", register=False)
    writer = holder("writing", project / "models" / "c" / "combine.pt")
    code, _, err = cli("separate", "c")
    assert code == 2 and f"process {writer} ({PYTHON} -c" in err
    assert err.strip().endswith("is writing it; try again when it has finished")
    assert not (project / "data" / "separated" / "c.zarr").exists()
    writer = holder("writing", store)
    code, _, err = cli("train", "c", "--method", "shared", "--iterations", "1")
    assert code == 2 and f"{store}: process {writer} ({PYTHON} -c" in err


def champion(name: str = "xraysep-c") -> int:
    return int(mlflow.MlflowClient().get_model_version_by_alias(name, registry.ALIAS).version)


def test_two_combines_started_at_once_register_whole_versions(project):
    ingest_chunked(project, "c")
    command = [sys.executable, "-m", "xraysep", "combine", "c", "--method", "half"]
    env = tool_env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    writers = [
        subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(writer.wait(timeout=300), writer.stderr.read()) for writer in writers]
    assert sorted(code for code, _ in results)[0] == 0, results
    for code, err in results:
        assert code == 0 or (code == 2 and "is reading or writing it" in err), err
    versions = mlflow.MlflowClient().search_model_versions("name='xraysep-c'")
    assert len(versions) == sum(code == 0 for code, _ in results)
    assert champion() == max(int(v.version) for v in versions)
    model = mlflow.pyfunc.load_model("models:/xraysep-c@champion")
    photographs = {side: np.full((8, 8, 3), 0.5, np.float32) for side in ("front", "back")}
    xray = np.full(64, 0.25, np.float32)
    result = model.predict(photographs, params={"xray": xray})
    np.testing.assert_allclose(result["front_xray"], 0.125)


def test_the_alias_stays_when_the_new_version_lost_its_files(project, cli, monkeypatch):
    """A crash between registering and moving the alias, or an upload that lost the model
    file: champion stays on the previous version, which still loads."""
    ingest_chunked(project, "c")
    assert cli("combine", "c", "--method", "half")[0] == 0
    assert champion() == 1

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies here

    with monkeypatch.context() as patched:
        patched.setattr(mlflow.MlflowClient, "set_registered_model_alias", crash)
        with pytest.raises(KeyboardInterrupt):
            combine("c", method="half")
    assert champion() == 1

    log_model = mlflow.pyfunc.log_model

    def lose_the_model_file(*args, **kwargs):
        info = log_model(*args, **kwargs)
        stored = mlflow.get_logged_model(info.model_id).artifact_location
        (Path(stored.removeprefix("file://")) / "artifacts" / "combine.pt").unlink()
        return info

    monkeypatch.setattr(mlflow.pyfunc, "log_model", lose_the_model_file)
    code, _, err = cli("combine", "c", "--method", "half")
    line = err.strip().splitlines()[-1]
    assert code == 2, err
    assert line.startswith("xraysep: error: xraysep-c version 3: artifacts/combine.pt cannot be")
    assert line.endswith("; champion stays where it was")
    assert champion() == 1
    assert mlflow.pyfunc.load_model("models:/xraysep-c@champion") is not None
