"""The benchmark: suites and stress suites over seeds, reused records, reports and MLflow."""

from __future__ import annotations

import csv
import json
import math
import shutil

import mlflow
import pytest
import yaml
from PIL import Image

from xraysep.jobs.benchmark_report import PEERS_AS_PUBLISHED, display_label


def suite_params(project, **benchmark) -> dict:
    """Shrink the project's benchmark to 40² panels, the tiny preset and two seeds."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["benchmark"] |= {"size": 40, "preset": "tiny", "seeds": [0, 1], "jobs": 1} | benchmark
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    return params


def test_suites_cover_the_factors_at_a_realistic_size(project):
    section = yaml.safe_load((project / "params.yaml").read_text())["benchmark"]
    assert section["size"] >= 256 and len(section["seeds"]) >= 3
    test, validation = (section["suites"][s]["panels"] for s in ("test", "validation"))
    for panels in (test, validation):
        assert len(panels) >= 8
        covered = {factor for panel in panels.values() for factor in panel.get("factors", {})}
        assert covered == {
            "metamerism", "layering", "underpainting", "ground", "support", "misregistration",
            "white-balance", "jpeg", "film-response",
        }  # fmt: skip
        assert any(not panel.get("factors") for panel in panels.values())  # colour-determined
        assert any(len(panel.get("factors", {})) >= 5 for panel in panels.values())  # together
    # held out: other (front, back) pairings and other seeds than every test panel
    pairs = {(p["front"], p["back"]) for p in test.values()}
    assert not pairs & {(p["front"], p["back"]) for p in validation.values()}
    assert not {p["seed"] for p in test.values()} & {p["seed"] for p in validation.values()}
    scale = section["suites"]["paper-scale"]
    assert scale["preset"] == "paper" and len(scale["panels"]) >= 3
    assert ((scale["size"] - 64) // 12 + 1) ** 2 >= 966  # the paper's patch triplets at least


def test_suite_table_over_seeds_records_reused_and_mlflow(project, cli):
    params = suite_params(project, methods=["half", "linear", "consistent"])
    test = params["benchmark"]["suites"]["test"]
    test["panels"] = {name: test["panels"][name] for name in ("colour", "cradle")}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    methods = ("--method", "half", "--method", "linear", "--method", "consistent")
    code, out, err = cli("benchmark", *methods)
    assert code == 0, err
    assert "Mean over the suite" in out
    directory = project / "reports" / "benchmark"
    table = (directory / "benchmark.md").read_text()
    assert "training seeds 0, 1" in table and "uv run xraysep benchmark" in table
    assert "paper's network at 1/8 width" not in table  # tiny is narrower still: said as such
    tiny = "(1/32 width, other patch protocol)"
    for label in ("half", "linear", f"consistent {tiny}", f"paper combined {tiny}"):
        assert f"| {label} | " in table
    assert " ± " in table
    results = json.loads((directory / "benchmark.json").read_text())
    assert set(results["panels"]) == {"colour", "cradle"}
    half = results["panels"]["colour"]["half"]
    assert half["recon_mse"] == [0.0, 0.0]  # x/2 + x/2 explains x, one value per seed
    combined = results["panels"]["colour"]["paper combined"]["front_psnr"]
    assert combined[0] != combined[1]  # the seeds trained different networks
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["linear"]["front_psnr"] == pytest.approx(
        sum(results["suite"]["linear"]["front_psnr"]) / 2
    )
    assert Image.open(directory / "figures" / "cradle.png").size[0] > 800
    # the hidden layer is scored against the panel's hidden content (the cradle's battens)
    assert "## The hidden layer and the uncertainty map" in table
    assert results["panels"]["colour"]["half"]["hidden_corr"] == [0.0, 0.0]  # x − x/2 − x/2
    hidden_corr = results["panels"]["cradle"]["linear"]["hidden_corr"]
    assert len(hidden_corr) == 2 and all(-1 <= value <= 1 for value in hidden_corr)
    records = sorted((directory / "runs").rglob("*.json"))
    assert len(records) == 2 * 2 * 2  # panels × seeds × groups (untrained, paper)
    stamps = {path: path.stat().st_mtime_ns for path in records}

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["xraysep/benchmark"], output_format="list")
    (parent,) = [r for r in runs if r.info.run_name == "benchmark-test"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4  # one per panel and seed
    assert "benchmark.md" in {
        a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)
    }

    # unchanged settings: every record is reused; a method's setting: only its group reruns
    code, _, err = cli("benchmark", *methods)
    assert code == 0 and err.count("up to date") == 4, err
    assert {path: path.stat().st_mtime_ns for path in records} == stamps
    assert "An earlier run's figure" not in (directory / "benchmark.md").read_text()
    drawn = (directory / "figures" / "cradle.png").stat().st_mtime_ns
    code, _, err = cli("benchmark", *methods[:4])  # a few methods: the figure stays
    assert code == 0 and err.count("up to date") == 4, err
    assert (directory / "figures" / "cradle.png").stat().st_mtime_ns == drawn
    assert "An earlier run's figure" in (directory / "benchmark.md").read_text()
    shutil.rmtree(project / "data" / "benchmark")  # the kept images are gone, as in a clone
    code, _, err = cli("benchmark", *methods)
    assert code == 0 and err.count("up to date") == 4, err
    table = (directory / "benchmark.md").read_text()
    assert "![cradle](figures/cradle.png)" in table and "An earlier run's figure" in table

    # a record made before the trust scores keeps its pair's scores; --rescore fills them
    untrained = directory / "runs" / "cradle" / "seed0-untrained.json"
    scored = json.loads(untrained.read_text())
    untrained.write_text(json.dumps({k: v for k, v in scored.items() if k != "trust"}))
    code, _, err = cli("benchmark", *methods)
    assert code == 0 and err.count("up to date") == 4, err
    assert "trust" not in json.loads(untrained.read_text())
    reported = json.loads((directory / "benchmark.json").read_text())
    assert reported["panels"]["cradle"]["linear"]["hidden_corr"] == [None, hidden_corr[1]]
    suite = reported["suite"]["linear"]["hidden_corr"]
    assert suite[0] is None  # not the colour panel's score standing for both
    assert math.isfinite(suite[1])
    code, _, err = cli("benchmark", *methods, "--rescore")
    assert code == 0 and err.count("up to date") == 3 and "ran untrained" in err, err
    rescored = json.loads(untrained.read_text())
    assert rescored["trust"] == scored["trust"]  # the same runs again, scored alike
    assert rescored["rows"]["linear"]["front_psnr"] == scored["rows"]["linear"]["front_psnr"]
    stamps = {path: path.stat().st_mtime_ns for path in records}
    params["consistent"]["smoothing"] = 2
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    code, _, err = cli("benchmark", *methods)
    assert code == 0, err
    changed = {path.name for path in records if path.stat().st_mtime_ns != stamps[path]}
    assert changed == {"seed0-paper.json", "seed1-paper.json"}


def test_stress_plots_every_method_against_the_strength(project, cli):
    suite_params(project, seeds=[0])
    code, _, err = cli("benchmark", "--stress", "misregistration", "--method", "half",
                         "--method", "linear")  # fmt: skip
    assert code == 0, err
    directory = project / "reports" / "benchmark" / "stress" / "misregistration"
    assert Image.open(directory / "stress.png").size[0] > 1000
    with (directory / "stress.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["method"] for row in rows} == {"half", "linear"}
    assert sorted({float(row["strength"]) for row in rows}) == [0.0, 1.0, 2.0, 4.0]
    linear = {float(r["strength"]): float(r["front_psnr"]) for r in rows if r["method"] == "linear"}
    assert linear[4.0] < linear[0.0]  # colour read from the wrong pixels separates worse
    report = (directory / "benchmark.md").read_text()
    assert "## Against misregistration" in report
    stress_table = report.split("## Against misregistration")[1].split("\n## ")[0]
    assert "| linear: hidden corr |" in stress_table  # neither baseline has an uncertainty map
    assert "uncert./error corr |" not in stress_table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--suite", "holdout"],
            "suite 'holdout': unknown; choose one of paper-scale, test, validation",
        ),
        (["--stress", "craquelure"], "factor 'craquelure': unknown; stress levels are defined"),
        (["--stress", "jpeg"], "factor 'jpeg': no levels in params.yaml benchmark.stress"),
        (["--jobs", "0"], "--jobs 0: must be at least 1"),
    ],
)
def test_benchmark_refuses_bad_options(project, cli, args, message):
    code, _, err = cli("benchmark", *args)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_stress_level_outside_the_factor_range_is_refused(project, cli):
    params = suite_params(project)
    params["benchmark"]["stress"]["levels"]["metamerism"] = [0, 0.3, 0.8]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    code, _, err = cli("benchmark", "--stress", "metamerism")
    assert code == 2 and "factor 'metamerism': strength 0.8 is outside [0, 0.5]" in err


def test_code_fingerprint_ignores_docstrings_and_other_methods(tmp_path, monkeypatch):
    from xraysep.jobs import suites

    copy = tmp_path / "xraysep"
    shutil.copytree(suites.PACKAGE, copy)
    monkeypatch.setattr(suites, "PACKAGE", copy)
    groups = (["shared"], ["half", "linear"], ["paper", "consistent"])
    before = [suites.code_hash(group) for group in groups]
    assert len(set(before)) == 3
    shared = copy / "core" / "methods" / "shared" / "model.py"
    text = shared.read_text()
    shared.write_text(text.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n")
    assert [suites.code_hash(group) for group in groups] == before
    shared.write_text(text + "\nSCALE = 2\n")
    after = [suites.code_hash(group) for group in groups]
    assert after[0] != before[0] and after[1:] == before[1:]
    separator = copy / "core" / "separator.py"  # imported by every method's module
    separator.write_text(separator.read_text() + "\nSCALE = 2\n")
    assert all(a != b for a, b in zip(after, map(suites.code_hash, groups), strict=True))


def test_a_panels_networks_train_side_by_side_with_the_scores_of_one_process(project, cli):
    """``--jobs 2`` trains one panel's two orderings in two processes, each under the task's
    run, and scores them as one process training them in turn does."""
    params = suite_params(project, seeds=[0], methods=["consistent"])
    test = params["benchmark"]["suites"]["test"]
    test["panels"] = {"colour": test["panels"]["colour"]}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    code, _, err = cli("benchmark", "--jobs", "2")
    assert code == 0, err
    assert "trained colour seed 0 12 in" in err and "trained colour seed 0 21 in" in err, err
    record = project / "reports" / "benchmark" / "runs" / "colour" / "seed0-paper.json"
    side_by_side = json.loads(record.read_text())["rows"]
    record.unlink()
    code, _, err = cli("benchmark", "--jobs", "1")
    assert code == 0 and "ran paper" in err, err
    in_turn = json.loads(record.read_text())["rows"]
    assert set(side_by_side) == set(in_turn) == {
        "consistent", "paper combined", "paper order 12", "paper order 21",
    }  # fmt: skip
    for label, row in in_turn.items():
        for metric in ("front_psnr", "back_psnr", "crosstalk"):
            assert side_by_side[label][metric] == pytest.approx(row[metric], abs=0.01)

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["xraysep/benchmark"], output_format="list")
    tasks = {r.info.run_id for r in runs if r.info.run_name == "colour seed 0"}
    trainings = [r for r in runs if r.info.run_name in ("train-12", "train-21")]
    assert len(tasks) == 2 and len(trainings) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in trainings} == tasks
    assert all(r.info.status == "FINISHED" for r in runs)


def test_the_peers_rows_say_how_they_differ_from_their_papers(project):
    assert display_label("cae", "") == "cae (1/8 width)"
    assert display_label("lista", "") == "lista (1/8 width, 4 layers)"
    assert display_label("paper combined", "1/8 width") == "paper combined (1/8 width)"
    assert display_label("shared", "1/8 width") == "shared"
    params = yaml.safe_load((project / "params.yaml").read_text())
    for method, published in PEERS_AS_PUBLISHED.items():
        params[method] |= published
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert display_label("cae", "") == "cae" and display_label("lista", "") == "lista"
