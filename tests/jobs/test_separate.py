"""Separation over zarr with dask: equal to whole-image inference, locally and on a
distributed cluster, for several panels at once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
import zarr
from distributed import LocalCluster

from xraysep.core.inference import run as run_branch
from xraysep.core.separator import stack
from xraysep.io import checkpoints, store
from xraysep.jobs.combine import combine
from xraysep.jobs.separate import outputs, separate
from xraysep.jobs.synth import synth
from xraysep.jobs.train import train


@pytest.fixture
def panels(project):
    """Two trained panels whose size is not a multiple of the small dask block."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["separate"] |= {"block": 32, "tile": 20}  # 3×3 blocks of 32, tiles of 20 inside
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    for name, seed in (("a", 1), ("b", 2)):
        synth(name, size=80, seed=seed)
        for order in ("12", "21"):
            train(name, order, iterations=3)
        combine(name)
    return project


def whole_image(project, name):
    """Every output of the panel's model (both sides and the uncertainty) in one pass."""
    panel = store.open_panel(project / "data" / "panels" / f"{name}.zarr", name)
    model, _ = checkpoints.load_separator(project / "models" / name / "combine.pt")
    photographs = stack(panel.rgb("front"), panel.rgb("back"), panel.xray())
    cpu = torch.device("cpu")
    return {key: run_branch(module, photographs, cpu) for key, module in outputs(model).items()}


def check(project, results):
    for name, path in zip(("a", "b"), results, strict=True):
        group = zarr.open_group(path, mode="r")
        assert group["front_xray/0"].shards == (32, 32)
        for key, expected in whole_image(project, name).items():
            np.testing.assert_allclose(group[f"{key}/0"][:], expected, atol=1e-5, rtol=0)


def test_threaded_separation_of_two_panels_equals_whole_image(panels, cli):
    code, _, err = cli("separate", "a", "b")
    assert code == 0, err
    results = sorted((panels / "data" / "separated").glob("*.zarr/combine-*"))
    assert [p.parent.name for p in results] == ["a.zarr", "b.zarr"]
    check(panels, results)


def test_distributed_cluster_on_loopback_gives_the_same(panels):
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        results = separate(["a", "b"], scheduler=cluster.scheduler_address)
    check(panels, results)


def test_unreachable_scheduler_is_one_line(panels, cli):
    code, _, err = cli("separate", "a", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and "--scheduler tcp://127.0.0.1:9: no dask scheduler answers" in err
    assert not (panels / "data" / "separated" / "a.zarr").exists() or not any(
        (panels / "data" / "separated" / "a.zarr").glob("combine-*")
    )
