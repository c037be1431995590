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
    assert list(stages) == ["synth", "train", "combine", "separate", "evaluate"]
    assert stages["train"]["cmd"] == "xraysep train ${demo.panel} --method ${method}"
    assert stages["train"]["outs"] == ["models/${demo.panel}/trained"]
    for name, stage in stages.items():
        assert stage["cmd"].startswith("xraysep "), name
    assert "presets.${train.preset}" in stages["train"]["params"]
    assert stages["evaluate"]["metrics"] == [
        {"reports/${demo.panel}/metrics.json": {"cache": False}}
    ]
