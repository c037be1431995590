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
import zarr

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


def stages(*names: str, panel: str = "demo") -> list[str]:
    return [f"{name}@{panel}" for name in names]


def test_dvc_repro_rebuilds_then_skips_then_reruns_only_what_changed(repo, cli):
    first = sh(repo, sys.executable, "-m", "dvc", "repro")
    pipeline = ("ingest", "train", "combine", "separate", "evaluate")
    assert ran(first.stdout) == ["synth", *stages(*pipeline)]
    second = sh(repo, sys.executable, "-m", "dvc", "repro")
    assert ran(second.stdout) == [] and "Data and pipelines are up to date" in second.stdout

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["separate"]["tile"] = 16
    params["presets"]["paper"]["lr"] = 0.5  # not the preset in use: nothing depends on it
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    third = sh(repo, sys.executable, "-m", "dvc", "repro")
    assert ran(third.stdout) == stages("separate")

    shown = sh(repo, sys.executable, "-m", "dvc", "metrics", "show", "--json").stdout
    assert "combined" in shown and "front_psnr" in shown
    plots = sh(repo, sys.executable, "-m", "dvc", "plots", "show", "-o", "plots").stdout
    assert (repo / "plots" / "index.html").is_file(), plots

    # every run is tagged with the commit and the panel's DVC hash, as dvc.lock records it
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (panel_hash,) = {
        out["md5"]
        for out in lock["stages"]["ingest@demo"]["outs"]
        if out["path"] == "data/panels/demo.zarr"
    }
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["xraysep/demo"], output_format="list")
    assert {r.info.run_name for r in runs} >= {"train-12", "train-21", "combine", "evaluate"}
    commit = sh(repo, "git", "rev-parse", "HEAD").stdout.strip()
    for run in runs:
        assert run.data.tags["xraysep.panel_data_hash"] == panel_hash
        assert run.data.tags["xraysep.git_commit"].startswith(commit)

    # a user's panel: `xraysep add`, `dvc add`, `dvc repro` runs its stages and only those
    scans = add_scans(repo, cli, "wing")
    assert "wing: {}" in (repo / "params.yaml").read_text()
    sh(repo, sys.executable, "-m", "dvc", "add", "data/raw/wing")
    fourth = sh(repo, sys.executable, "-m", "dvc", "repro")
    assert ran(fourth.stdout) == stages(*pipeline, panel="wing")
    registered = zarr.open_group(repo / "data" / "panels" / "wing.zarr", mode="r").attrs
    assert set(registered["xraysep"]["registration"]) == {"front", "back"}
    assert (repo / "data" / "raw" / "wing" / "front.png").read_bytes() == scans["front"]
    shown = sh(repo, sys.executable, "-m", "dvc", "metrics", "show", "--json").stdout
    assert "reports/wing/metrics.json" in shown


def add_scans(repo, cli, name: str) -> dict[str, bytes]:
    """Synthesise scans into a folder outside the project's raw folders (as a user's own
    files are), then `xraysep add` them as panel ``name``; returns the scans' bytes. 128
    pixels a side, the smallest X-ray that ingest registers automatically
    (docs/registration.md, Small panels)."""
    code, _, err = cli("synth", "scans", "--size", "128", "--no-ingest")
    assert code == 0, err
    scans = repo / "scans"
    shutil.move(repo / "data" / "raw" / "scans", scans)
    files = {"front": scans / "front.png", "back": scans / "back.png", "xray": scans / "xray.tiff"}
    code, _, err = cli("add", name, *(f"--{role}={path}" for role, path in files.items()))
    assert code == 0, err
    return {role: path.read_bytes() for role, path in files.items()}


def tree_bytes(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_dvc_push_then_pull_into_an_empty_workspace_gives_byte_identical_panels(
    repo, cli, tmp_path_factory
):
    shutil.copy(REPO / ".dvc" / "config", repo / ".dvc" / "config")  # the example remote
    remote = tmp_path_factory.mktemp("remote")
    sh(repo, sys.executable, "-m", "dvc", "remote", "modify", "--local", "backup", "url", remote)
    add_scans(repo, cli, "wing")
    sh(repo, sys.executable, "-m", "dvc", "add", "data/raw/wing")
    sh(repo, sys.executable, "-m", "dvc", "repro", "ingest")  # the demo's synth, both ingests
    before = tree_bytes(repo / "data")
    assert {"panels/demo.zarr/zarr.json", "panels/wing.zarr/zarr.json"} <= before.keys()

    pushed = sh(repo, sys.executable, "-m", "dvc", "push", "synth", "ingest", "data/raw/wing.dvc")
    assert "pushed" in pushed.stdout
    for out in ("raw/demo", "raw/wing", "panels/demo.zarr", "panels/wing.zarr"):
        shutil.rmtree(repo / "data" / out)
    shutil.rmtree(repo / ".dvc" / "cache")
    sh(repo, sys.executable, "-m", "dvc", "pull", "synth", "ingest", "data/raw/wing.dvc")
    after = tree_bytes(repo / "data")
    assert after.keys() == before.keys()
    assert all(after[name] == content for name, content in before.items())


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
