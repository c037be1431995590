"""Data-parallel training under torchrun: 2 CPU processes with gloo end with one model."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import torch

from xraysep.core import distributed
from xraysep.core.methods.paper.network import NetConfig, TwoBranchNet

from conftest import strip_ansi, tool_env


def test_two_ranks_train_one_model(project, cli):
    assert cli("synth", "p")[0] == 0
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "xraysep", "train", "p", "--order", "12"],
        env=tool_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # the ranks compared sha256 fingerprints of all weights and buffers before rank 0 saved
    assert "on 2 ranks (identical weights)" in strip_ansi(result.stderr)

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    (run,) = mlflow.search_runs(experiment_names=["xraysep/p"], output_format="list")
    assert run.data.params["ranks"] == "2"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert len(history) == 6  # one loss per step, logged once (by rank 0)
    assert (project / "models" / "p" / "trained" / "order-12.pt").is_file()


def test_single_process_needs_no_process_group():
    context = distributed.start(torch.device("cpu"))
    assert not context.active and context.leader
    net = TwoBranchNet(NetConfig(channels=(2, 1), kernel=5))
    assert distributed.identical(context, net)
    assert distributed.wrap(context, torch.device("cpu"))(net) is net
