"""`dvc repro` and `mlflow run` on a copy of the project, with the real tools.

The copy is a git repository with the project's dvc.yaml, MLproject and source files, and
the tiny test params, so the full pipeline runs in about a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import mlflow
import pytest
import yaml

from conftest import REPO, tool_env


def sh(project, *command, check=True):
    result = subprocess.run(command, cwd=project, env=tool_env(), capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def ran(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


@pytest.fixture
def repo(project):
    for name in ("dvc.yaml", "MLproject", "conda.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".gitignore").write_text("mlflow.db\nmlartifacts/\n")
    sh(project, "git", "init", "-q")
    sh(project, sys.executable, "-m", "dvc", "init", "-q")
    sh(project, "git", "add", "-A")
    sh(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return project


def test_dvc_repro_rebuilds_then_skips_then_reruns_only_what_changed(repo):
    first = sh(repo, sys.executable, "-m", "dvc", "repro")
    assert ran(first.stdout) == ["synth", "train", "combine", "separate", "evaluate"]
    second = sh(repo, sys.executable, "-m", "dvc", "repro")
    assert ran(second.stdout) == [] and "Data and pipelines are up to date" in second.stdout

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["separate"]["tile"] = 16
    params["presets"]["paper"]["lr"] = 0.5  # not the preset in use: nothing depends on it
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    third = sh(repo, sys.executable, "-m", "dvc", "repro")
    assert ran(third.stdout) == ["separate"]

    shown = sh(repo, sys.executable, "-m", "dvc", "metrics", "show", "--json").stdout
    assert "combined" in shown and "front_psnr" in shown
    plots = sh(repo, sys.executable, "-m", "dvc", "plots", "show", "-o", "plots").stdout
    assert (repo / "plots" / "index.html").is_file(), plots

    # every run is tagged with the commit and the panel's DVC hash, as dvc.lock records it
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (panel_hash,) = {
        out["md5"]
        for out in lock["stages"]["synth"]["outs"]
        if out["path"] == "data/panels/demo.zarr"
    }
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["xraysep/demo"], output_format="list")
    assert {r.info.run_name for r in runs} >= {"train-12", "train-21", "combine", "evaluate"}
    commit = sh(repo, "git", "rev-parse", "HEAD").stdout.strip()
    for run in runs:
        assert run.data.tags["xraysep.panel_data_hash"] == panel_hash
        assert run.data.tags["xraysep.git_commit"].startswith(commit)


def test_mlflow_run_train_entry_point(repo, cli):
    assert cli("synth", "demo")[0] == 0
    result = sh(
        repo,
        sys.executable, "-m", "mlflow", "run", ".", "-e", "train",
        "-P", "panel=demo", "-P", "order=12", "-P", "preset=tiny",
        "--env-manager", "local", "--experiment-name", "xraysep/demo",
    )  # fmt: skip
    assert "succeeded" in result.stderr
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    (run,) = mlflow.search_runs(experiment_names=["xraysep/demo"], output_format="list")
    assert run.data.params["order"] == "12" and run.data.params["preset"] == "tiny"
    assert run.data.tags["mlflow.project.entryPoint"] == "train"
    assert run.info.status == "FINISHED" and run.data.metrics["final_loss"] > 0
    assert (repo / "models" / "demo" / "trained" / "order-12.pt").is_file()


def test_benchmark_stages_rerun_only_the_changed_method_under_dvc_exp(repo):
    (repo / "benchmarks").mkdir()
    shutil.copy(REPO / "benchmarks" / "dvc.yaml", repo / "benchmarks" / "dvc.yaml")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["benchmark"] |= {"size": 40, "preset": "tiny", "seeds": [0], "jobs": 1,
                            "methods": ["linear", "shared"]}  # fmt: skip
    params["benchmark"]["stress"]["levels"]["misregistration"] = [0, 2]
    params["shared"] |= {"iterations": 10}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "benchmark")
    stage = "benchmarks/dvc.yaml:stress@misregistration"
    first = sh(repo, sys.executable, "-m", "dvc", "exp", "run", stage)
    assert "misregistration-0 seed 0: ran untrained, shared" in first.stdout + first.stderr
    second = sh(repo, sys.executable, "-m", "dvc", "exp", "run", stage, "-S", "shared.ridge=5")
    log = second.stdout + second.stderr
    assert log.count("ran shared") == 2 and "ran untrained" not in log
    shown = sh(repo, sys.executable, "-m", "dvc", "exp", "show", "--json").stdout
    assert '"ridge": 5' in shown and '"ridge": 10.0' in shown and "front_psnr" in shown
