"""The project's declarations agree with each other: pins, entry points, pipeline stages."""

from __future__ import annotations

import tomllib

import yaml

from conftest import REPO


def test_conda_env_carries_the_same_pins_as_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert [p for p in pip if p != "-e ."] == pyproject
    python = next(d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def test_mlproject_entry_points_are_thin_cli_calls():
    project = yaml.safe_load((REPO / "MLproject").read_text())
    assert project["conda_env"] == "conda.yaml"
    points = project["entry_points"]
    expected = {"synth", "ingest", "train", "train-method", "combine", "separate", "evaluate"}
    assert set(points) == expected | {"pipeline", "benchmark", "stress", "main"}
    for name, point in points.items():
        assert point["command"].startswith("xraysep "), name
    assert {"panel", "order", "preset"} <= set(points["train"]["parameters"])


def test_dvc_pipeline_stages():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == ["synth", "ingest", "train", "combine", "separate", "evaluate"]
    assert stages["synth"]["outs"] == ["data/raw/${demo.panel}"]
    per_panel = {name: stage["do"] for name, stage in stages.items() if name != "synth"}
    for name, stage in per_panel.items():  # one stage per listed panel, its own entry only
        assert stages[name]["foreach"] == "${panels}", name
        assert stage["cmd"].startswith(f"xraysep {name} ${{key}}"), name
    assert stages["synth"]["cmd"].startswith("xraysep synth ")
    assert per_panel["ingest"]["params"] == ["ingest", "panels.${key}"]
    assert per_panel["train"]["outs"] == ["models/${key}/trained"]
    assert "presets.${train.preset}" in per_panel["train"]["params"]
    assert per_panel["evaluate"]["metrics"] == [{"reports/${key}/metrics.json": {"cache": False}}]
    assert {"reports/${key}/index.html", "reports/${key}/tiles"} <= set(
        per_panel["evaluate"]["outs"]
    )
