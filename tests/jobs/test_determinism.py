"""Determinism: the same seeds on CPU give the same panel, weights, separated images and
metrics bit for bit, in fresh processes; the seeds are recorded where the results are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import torch
import yaml
import zarr

from conftest import tiny_params, tool_env

SYNTH_SEED, TRAIN_SEED = 7, 3


def demo(root: Path) -> subprocess.Popen:
    """``xraysep demo`` (synth, train 12 and 21, combine, separate, evaluate) in a fresh
    process, in a project of its own with non-default seeds."""
    root.mkdir()
    params = tiny_params(root)
    params["synth"]["seed"], params["train"]["seed"] = SYNTH_SEED, TRAIN_SEED
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    env = tool_env() | {
        "XRAYSEP_ROOT": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "xraysep", "demo"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def zarr_arrays(path: Path) -> dict[str, np.ndarray]:
    found = {}

    def walk(group: zarr.Group, prefix: str) -> None:
        for name, array in group.arrays():
            found[prefix + name] = array[:]
        for name, sub in group.groups():
            walk(sub, f"{prefix}{name}/")

    walk(zarr.open_group(path, mode="r"), "")
    return found


def outputs(root: Path) -> dict[str, np.ndarray]:
    """Every number the demo produced: stores, weights, metrics."""
    found = {f"panel/{k}": v for k, v in zarr_arrays(root / "data/panels/demo.zarr").items()}
    found |= {
        f"separated/{k}": v for k, v in zarr_arrays(root / "data/separated/demo.zarr").items()
    }
    for model in sorted((root / "models" / "demo").rglob("*.pt")):
        state = torch.load(model, map_location="cpu", weights_only=True)["state_dict"]
        found |= {f"{model.name}/{k}": v.numpy() for k, v in state.items()}
    metrics = json.loads((root / "reports/demo/metrics.json").read_text())
    found |= {
        f"metrics/{a}/{k}": np.float64(v) for a, row in metrics.items() for k, v in row.items()
    }
    return found


def test_same_seeds_give_identical_outputs_in_fresh_processes(tmp_path):
    runs = [demo(tmp_path / name) for name in ("first", "second")]  # side by side
    for process in runs:
        assert process.wait(timeout=300) == 0, process.stderr.read()
        process.stderr.close()
    first, second = outputs(tmp_path / "first"), outputs(tmp_path / "second")
    assert first.keys() == second.keys()
    assert {"panel/truth/front_xray", "order-12.pt/branches.0.0.weight"} <= first.keys()
    results = {  # the full resolution (level 0) of each result, beside its inputs' pyramids
        key.split("/")[2]
        for key in first
        if key.startswith("separated/") and key.endswith("/0") and "/inputs/" not in key
    }
    assert results == {"front_xray", "back_xray", "hidden", "uncertainty"}
    for key, value in first.items():
        assert value.dtype == second[key].dtype and value.tobytes() == second[key].tobytes(), key

    # the seeds are where the results are: the panel's attributes and the training runs
    attrs = zarr.open_group(tmp_path / "first/data/panels/demo.zarr", mode="r").attrs
    assert attrs["xraysep"]["made_by"]["synth"]["seed"] == SYNTH_SEED
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'first' / 'mlflow.db'}")
    trained = mlflow.search_runs(
        experiment_names=["xraysep/demo"],
        filter_string="attributes.run_name LIKE 'train-%'",
        output_format="list",
    )
    assert sorted(run.info.run_name for run in trained) == ["train-12", "train-21"]
    assert {run.data.params["seed"] for run in trained} == {str(TRAIN_SEED)}
