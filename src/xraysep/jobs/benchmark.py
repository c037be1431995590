"""Benchmark: every method on a suite of synthetic panels with ground truth (DESIGN §3, §5).

The suite lives in ``params.yaml`` (``benchmark.panels``): each panel is made by ``synth`` from
its own pair of scikit-image pictures and physics (linear sum or Beer–Lambert, with or without
the wood-grain support, noise levels, hidden content). On each panel every method is trained
(the paper's two orderings once, shared by ``paper`` and ``consistent``), combined and run on
the whole panel, through the same jobs as ``xraysep pipeline``, and scored against the truth.

A second suite, ``benchmark.validation`` (other pictures, pairings and seeds), is for choosing
a method's settings: on six 96² panels a change can win by chance alone, so a change is
adopted when it wins on the held-out panels, and the test suite then reports it.

Writes ``reports/benchmark/`` (the validation suite: ``reports/benchmark-validation/``):
``benchmark.md`` (the mean over the suite, then one table per panel: per-side PSNR and SSIM,
crosstalk, recon MSE, wall time), ``benchmark.json`` (every number) and one paper-style figure
per panel, and logs them to one MLflow run of that name (experiment ``xraysep/benchmark``)
under which every training and combine is a child run.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.combined import ORDERS
from xraysep.core.methods import TRAINS, check_method
from xraysep.core.metrics import score
from xraysep.core.separator import stack
from xraysep.errors import InputError
from xraysep.io import checkpoints, store, tracking
from xraysep.io.atomic import atomic_file
from xraysep.io.console import err, out
from xraysep.io.figures import paper_figure, save_figure
from xraysep.jobs.combine import combine
from xraysep.jobs.evaluate import approach_pairs
from xraysep.jobs.synth import synth
from xraysep.jobs.train import train_network

EXPERIMENT = "benchmark"


class Suite(NamedTuple):
    """Where a suite's panels are defined, stored and reported."""

    key: str  # its panels in params.yaml: benchmark.<key>
    prefix: str  # its panels are stored as data/panels/<prefix><name>.zarr
    report: str  # reports/<report>/ and the MLflow run's name


SUITES = {
    "test": Suite("panels", "bench-", "benchmark"),
    "validation": Suite("validation", "val-", "benchmark-validation"),
}
LABELS = {"combined": "paper combined", "order12": "paper order 12", "order21": "paper order 21"}
COLUMNS = {  # metric -> header, in table order
    "front_psnr": "front PSNR",
    "back_psnr": "back PSNR",
    "front_ssim": "front SSIM",
    "back_ssim": "back SSIM",
    "crosstalk": "crosstalk",
    "recon_mse": "recon MSE",
    "seconds": "wall s",
}
FORMATS = {"front_psnr": ".2f", "back_psnr": ".2f", "recon_mse": ".4f", "seconds": ".0f"}

Rows = dict[str, dict[str, float]]


def markdown(rows: Rows) -> str:
    """A markdown table, one row per method, one column per metric."""
    lines = ["| method | " + " | ".join(COLUMNS.values()) + " |"]
    lines.append("| --- |" + " ---: |" * len(COLUMNS))
    for label, row in rows.items():
        cells = (format(row[key], FORMATS.get(key, ".3f")) for key in COLUMNS)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mean_rows(panels: dict[str, Rows]) -> Rows:
    """Each method's mean over the panels of the suite."""
    methods = next(iter(panels.values()))
    return {
        label: {
            key: float(np.mean([rows[label][key] for rows in panels.values()])) for key in COLUMNS
        }
        for label in methods
    }


def against_paper(mean: Rows) -> str:
    """Each method's mean PSNR gain per side over the paper's combined result, and its
    crosstalk as a fraction of the paper's: the bar a better method has to clear."""
    paper = mean.get(LABELS["combined"])
    if paper is None:
        return ""
    lines = [
        "| method | front PSNR gain (dB) | back PSNR gain (dB) | crosstalk / paper's |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, row in mean.items():
        if label == LABELS["combined"]:
            continue
        gains = (row[f"{side}_psnr"] - paper[f"{side}_psnr"] for side in ("front", "back"))
        ratio = row["crosstalk"] / paper["crosstalk"] if paper["crosstalk"] else math.nan
        lines.append(f"| {label} | " + " | ".join(f"{g:+.2f}" for g in gains) + f" | {ratio:.2f} |")
    return "\n".join(["", "## Against the paper's combined result", "", *lines])


def report(panels: dict[str, Rows], key: str, size: int, preset: str, seconds: float) -> str:
    parts = [
        "# Benchmark: separation against ground truth",
        "",
        f"{len(panels)} synthetic {size}×{size} panels (`params.yaml: benchmark.{key}`); PSNR and "
        "SSIM per side after removing the unidentifiable offset, crosstalk = correlation of a "
        "side's error with the other side's truth, recon MSE = the paper's measure. Wall time: "
        "training of the networks a method needs (the paper's two orderings serve `paper` and "
        "`consistent` alike) + combine + separating the panel, on this machine. "
        f"The paper's orderings are trained with preset `{preset}`. "
        f"The whole run took {seconds / 60:.1f} minutes.",
        "",
        "## Mean over the suite",
        "",
        markdown(mean_rows(panels)),
        against_paper(mean_rows(panels)),
    ]
    for panel, rows in panels.items():
        parts += ["", f"## {panel}", "", f"![{panel}]({panel}.png)", "", markdown(rows)]
    return "\n".join(parts) + "\n"


def run_panel(
    name: str, methods: list[str], preset: str, device: str | None, figure_path: Path
) -> dict[str, dict[str, float]]:
    """Train, combine and score every method on the suite panel stored as ``name``; save its
    figure."""
    where = config.paths(name)
    loaded = store.open_panel(where.store, name)
    photographs = stack(loaded.rgb("front"), loaded.rgb("back"), loaded.xray())
    truth = (loaded.truth("front"), loaded.truth("back"))
    target = devices.resolve(device or config.params()["train"]["device"])
    tile = int(config.params()["separate"]["tile"])
    trained: dict[str, float] = {}  # network -> training seconds, shared between methods
    rows: Rows = {}
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for method in methods:
        for key in TRAINS[method]:
            if key not in trained:
                began = time.perf_counter()
                train_network(name, key, preset=preset if key in ORDERS else None, device=device)
                trained[key] = time.perf_counter() - began
        began = time.perf_counter()
        combine(name, method=method, device=device, register=False)
        model, _ = checkpoints.load_separator(where.combine_model)
        model.to(target)
        own = approach_pairs(model, photographs, tile, target)
        seconds = time.perf_counter() - began + sum(trained[key] for key in TRAINS[method])
        for approach, pair in own.items():
            label = method if approach == method else LABELS.get(approach, approach)
            if label not in rows:
                rows[label] = score(photographs[..., 6], *pair, *truth) | {"seconds": seconds}
                pairs[label] = pair
    figure = paper_figure(figure_path.stem, photographs[..., 0:3], photographs[..., 3:6],
                          photographs[..., 6], pairs, truth)  # fmt: skip
    save_figure(figure, figure_path)
    return rows


def benchmark(
    *,
    suite: str = "test",
    size: int | None = None,
    methods: list[str] | None = None,
    device: str | None = None,
) -> Path:
    """Run ``suite`` (``test``: ``params.yaml: benchmark.panels``; ``validation``:
    ``benchmark.validation``); returns the path of the markdown report."""
    if suite not in SUITES:
        raise InputError(f"suite {suite!r}: unknown; choose one of {', '.join(SUITES)}")
    where = SUITES[suite]
    section = config.params()["benchmark"]
    size = int(size or section["size"])
    preset = str(section["preset"])
    methods = [check_method(m) for m in (methods or section["methods"])]
    panels = section.get(where.key)
    if not panels:
        raise InputError(f"params.yaml: benchmark.{where.key} is empty; define at least one panel")
    directory = config.project_root() / "reports" / where.report
    directory.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    results: dict[str, Rows] = {}
    with tracking.run(EXPERIMENT, where.report):
        mlflow.log_params({"suite": suite, "size": size, "preset": preset,
                           "methods": ",".join(methods), "panels": ",".join(panels)})  # fmt: skip
        for panel, physics in panels.items():
            err.print(f"benchmark: {suite} panel {panel} ({len(results) + 1}/{len(panels)})")
            synth(where.prefix + panel, size=size, **physics, overwrite=True)
            figure = directory / f"{panel}.png"
            results[panel] = run_panel(where.prefix + panel, methods, preset, device, figure)
            mlflow.log_artifact(str(figure), "figures")
            mlflow.log_metrics(
                {
                    f"{panel}/{label.replace(' ', '_')}/{key}": value
                    for label, row in results[panel].items()
                    for key, value in row.items()
                    if math.isfinite(value)
                }
            )
        seconds = time.perf_counter() - began
        text = report(results, where.key, size, preset, seconds)
        path = directory / "benchmark.md"
        with atomic_file(path) as temporary:
            temporary.write_text(text)
        with atomic_file(directory / "benchmark.json") as temporary:
            temporary.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        mlflow.log_artifact(str(path))
        mlflow.log_artifact(str(directory / "benchmark.json"))
        mlflow.log_metric("benchmark_seconds", seconds)
    out.print(text)
    return path
