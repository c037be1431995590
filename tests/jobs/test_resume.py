"""A training killed mid-run resumes from its last checkpoint and ends bit-identical."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import mlflow
import torch
import yaml

from conftest import tool_env


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_killed_training_resumes_to_identical_weights(project, cli):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["presets"]["tiny"]["iterations"] = 300
    params["train"]["checkpoint_every"] = 10
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli("synth", "p")[0] == 0

    # the reference: one uninterrupted run
    assert cli("train", "p", "--order", "12", "--no-resume")[0] == 0
    model = project / "models" / "p" / "trained" / "order-12.pt"
    reference = weights(model)
    model.unlink()

    resume = project / "models" / "p" / ".order-12.resume.pt"
    process = subprocess.Popen(
        [sys.executable, "-m", "xraysep", "train", "p", "--order", "12"],
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not resume.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert resume.exists() and not model.exists(), "killed before finishing, after a checkpoint"
    step = torch.load(resume, weights_only=True)["step"]
    assert 0 < step < 300

    code, _, err = cli("train", "p", "--order", "12")
    assert code == 0 and f"resuming from iteration {step}" in err
    resumed = weights(model)
    assert resumed.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(value, resumed[key]), key
    assert not resume.exists()

    # the resumed run continued the killed run's MLflow run: one loss per step, no gaps
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["xraysep/p"], output_format="list")
    continued = [r for r in runs if r.info.status == "FINISHED" and "final_loss" in r.data.metrics]
    assert len(continued) == 2  # the reference and the resumed one
    history = mlflow.MlflowClient().get_metric_history(continued[0].info.run_id, "loss")
    assert sorted({m.step for m in history}) == list(range(300))
