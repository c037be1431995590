"""The end-to-end path through the real CLI, MLflow store and zarr stores, at a tiny scale."""

from __future__ import annotations

import csv
import json

import mlflow
import numpy as np
import pytest
import tifffile
import torch
import zarr
from PIL import Image

from xraysep.core.inference import run as run_branch
from xraysep.io import checkpoints, store


@pytest.fixture
def trained(project, cli):
    assert cli("synth", "p")[0] == 0
    for order in ("12", "21"):
        code, _, err = cli("train", "p", "--order", order)
        assert code == 0, err
    return project


def runs(project, panel="p"):
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    experiment = mlflow.get_experiment_by_name(f"xraysep/{panel}")
    return mlflow.search_runs([experiment.experiment_id], output_format="list")


def test_train_logs_everything(trained):
    project = trained
    curve = list(csv.DictReader((project / "reports" / "p" / "loss" / "12.csv").open()))
    assert [int(row["step"]) for row in curve] == list(range(6))
    net, meta = checkpoints.load_trained(
        project / "models" / "p" / "trained" / "order-12.pt", "two-branch"
    )
    assert meta["order"] == "12" and meta["preset"] == "tiny" and net.config.channels[-1] == 1

    by_name = {r.info.run_name: r for r in runs(project)}
    run = by_name["train-12"]
    assert run.data.params["preset"] == "tiny" and run.data.params["order"] == "12"
    assert run.data.params["lr"] == "0.003" and run.data.params["seed"] == "0"
    assert run.data.tags["xraysep.panel"] == "p"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(6))
    assert float(curve[-1]["loss"]) == pytest.approx(history[-1].value, rel=1e-6)
    assert run.data.metrics["recon_mse"] > 0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "previews")}
    assert artifacts == {"previews/order12_slot1.png", "previews/order12_slot2.png"}
    # artifacts live in the project, whatever the working directory
    assert run.info.artifact_uri.startswith((project / "mlartifacts").as_uri())


def test_same_seed_trains_identical_weights(trained, cli):
    project = trained
    first = torch.load(project / "models" / "p" / "trained" / "order-12.pt", weights_only=True)
    assert cli("train", "p", "--order", "12")[0] == 0
    second = torch.load(project / "models" / "p" / "trained" / "order-12.pt", weights_only=True)
    for key, value in first["state_dict"].items():
        assert torch.equal(value, second["state_dict"][key]), key


def test_combine_separate_evaluate(trained, cli):
    project = trained
    assert cli("combine", "p")[0] == 0
    code, _, err = cli("separate", "p", "--tiff")
    assert code == 0, err
    code, out, err = cli("evaluate", "p")
    assert code == 0, err
    assert "order12" in out and "combined" in out and "front PSNR" in out

    metrics = json.loads((project / "reports" / "p" / "metrics.json").read_text())
    assert set(metrics) == {"order12", "order21", "combined"}
    for row in metrics.values():
        assert {"recon_mse", "recon_mae", "front_psnr", "front_ssim", "back_psnr", "back_ssim",
                "front_crosstalk", "back_crosstalk", "crosstalk"} <= set(row)  # fmt: skip
    # combined = (front of order 12 slot 1, back of order 21 slot 1)
    assert metrics["combined"]["front_psnr"] == metrics["order12"]["front_psnr"]
    assert metrics["combined"]["back_psnr"] == metrics["order21"]["back_psnr"]

    # the separated store holds exactly what slot 1 of each ordering gives on its photograph
    panel = store.open_panel(project / "data" / "panels" / "p.zarr", "p")
    model, _ = checkpoints.load_combined(project / "models" / "p" / "combine.pt")
    (version,) = [p for p in (project / "data" / "separated" / "p.zarr").iterdir() if p.is_dir()]
    group = zarr.open_group(version, mode="r")
    cpu = torch.device("cpu")
    expected_front = run_branch(model.branch("12", 1), panel.rgb("front"), cpu)
    expected_back = run_branch(model.branch("21", 1), panel.rgb("back"), cpu)
    np.testing.assert_allclose(group["front_xray/0"][:], expected_front, atol=1e-5)
    np.testing.assert_allclose(group["back_xray/0"][:], expected_back, atol=1e-5)

    reports = project / "reports" / "p"
    tiff = tifffile.imread(reports / "separated" / "front_xray.tif")
    assert tiff.dtype == np.uint16 and tiff.shape == (48, 48)
    np.testing.assert_array_equal(tiff, np.round(np.clip(expected_front, 0, 1) * 65535))
    assert np.asarray(Image.open(reports / "separated" / "back_xray.png")).dtype == np.uint8
    assert Image.open(reports / "figure.png").size[0] > 800
    assert cli("separate", "p")[0] == 0  # by default no TIFF: the earlier one is not left stale
    assert not list((reports / "separated").glob("*.tif"))
    assert (reports / "separated" / "back_xray.png").is_file()

    by_name = {r.info.run_name: r for r in runs(project)}
    assert {"train-12", "train-21", "combine", "separate", "evaluate"} <= set(by_name)
    evaluation = by_name["evaluate"]
    assert evaluation.data.metrics["combined/recon_mse"] == pytest.approx(
        metrics["combined"]["recon_mse"]
    )
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(evaluation.info.run_id)}
    assert {"figure.png", "metrics.json"} <= names


def test_demo_is_one_parent_run(project, cli):
    code, out, err = cli("demo", "--iterations", "3")
    assert code == 0, err
    assert "combined" in out
    all_runs = runs(project, "demo")
    (parent,) = [r for r in all_runs if r.info.run_name == "demo"]
    parent_id = parent.info.run_id
    children = {
        r.info.run_name for r in all_runs if r.data.tags.get("mlflow.parentRunId") == parent_id
    }
    assert children == {"train-12", "train-21", "combine", "separate", "evaluate"}
    assert parent.data.metrics["pipeline_seconds"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "p", "--order", "13"], "order '13': unknown"),
        (["train", "nopanel", "--order", "12"], "panel 'nopanel' not found"),
        (["train", "p", "--order", "12", "--preset", "huge"], "preset 'huge': unknown"),
        (["train", "p", "--order", "12", "--device", "tpu"], "device 'tpu': unknown"),
        (["combine", "p"], "order-12.pt: model not found"),
        (["separate", "p"], "combine.pt: model not found"),
        (["evaluate", "../p"], "panel name '../p'"),
    ],
)
def test_bad_requests_are_one_line(project, cli, args, message):
    assert cli("synth", "p", "--size", "32")[0] == 0
    code, _, err = cli(*args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_pipeline_of_a_baseline_trains_nothing(project, cli):
    assert cli("synth", "p")[0] == 0
    code, _, err = cli("pipeline", "p", "--method", "half")
    assert code == 0, err
    metrics = json.loads((project / "reports" / "p" / "metrics.json").read_text())
    assert set(metrics) == {"half"} and np.isfinite(metrics["half"]["front_psnr"])
    assert not (project / "models" / "p" / "trained").exists()
