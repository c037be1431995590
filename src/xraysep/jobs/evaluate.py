"""Evaluate: score every approach the combined model offers on one panel
(docs/design.md, Metrics).

The paper's model gives order 12, order 21 and the combined pair (and, with the consistent
rule, the sum-consistent pair first); other methods give their one result. Where the true
hidden content is known, each approach's hidden layer (``core.hidden``) is scored too, and with
truth the uncertainty map against the error (``core.uncertainty``). Writes
``reports/<panel>/metrics.json`` and the paper-style figure, then the panel's page with them
(``jobs.report``) where the model's results exist, prints a table, and logs all three (the
page without its tiles) to an MLflow ``evaluate`` run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import numpy as np
import torch
from rich.table import Table

from xraysep import config
from xraysep.core import device as devices
from xraysep.core import hidden, uncertainty
from xraysep.core.inference import predict_all
from xraysep.core.metrics import HEADERS, score
from xraysep.core.separator import Separator, stack
from xraysep.io import checkpoints, locks, store, tracking
from xraysep.io.atomic import atomic_file
from xraysep.io.console import out, warn
from xraysep.io.figures import paper_figure, save_figure
from xraysep.jobs.report import report
from xraysep.jobs.separate import model_version


def metrics_table(
    metrics: dict[str, dict[str, float]], title: str, headers: dict[str, str]
) -> Table | None:
    """The ``headers`` columns of ``metrics`` that any approach has; None when none has."""
    columns = [c for c in headers if any(c in row for row in metrics.values())]
    if not columns:
        return None
    table = Table(title=title)
    table.add_column("approach")
    for column in columns:
        table.add_column(headers[column], justify="right")
    for approach, row in metrics.items():
        table.add_row(approach, *(f"{row[c]:.4f}" if c in row else "" for c in columns))
    return table


def write_json(path: Path, data: dict) -> None:
    with atomic_file(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def approach_layers(
    model: Separator, photographs: np.ndarray, tile: int, device: torch.device
) -> dict[str, dict[str, np.ndarray]]:
    """Every approach of ``model`` on an in-memory (H, W, 7) stack: its ``front``, ``back``
    and ``hidden`` (``core.hidden``), and for the model's own approach its ``uncertainty``
    where it has one, all of an approach's outputs in one tiled pass that shares the
    networks' passes."""
    layers = {}
    for approach in model.approaches:
        modules = hidden.outputs(model, approach)
        if approach == model.approaches[0] and (spread := model.spread()) is not None:
            modules["uncertainty"] = spread  # the map is of the method's own result
        images = predict_all(
            list(modules.values()), photographs, halo=model.halo, tile=tile, device=device
        )
        layers[approach] = dict(zip(modules, images, strict=True))
    return layers


def trust_scores(
    layers: dict[str, np.ndarray], own: bool, truth: tuple[np.ndarray, np.ndarray],
    hidden_truth: np.ndarray | None,
) -> dict[str, float]:  # fmt: skip
    """One approach's :func:`approach_layers` scored beyond its pair: its hidden layer against
    the panel's true hidden content where that is known, and, for the model's own approach
    (``own``), its uncertainty map against the pair's error."""
    pair = layers["front"], layers["back"]
    found = {}
    if hidden_truth is not None:
        found |= hidden.scores(layers["hidden"], *pair, *truth, hidden_truth)
    if own and "uncertainty" in layers:
        found |= uncertainty.scores(layers["uncertainty"], *pair, *truth)
    return found


def evaluate(name: str, *, device: str | None = None) -> dict[str, dict[str, float]]:
    """Compute, write, print and log the metrics of panel ``name``; returns them. The panel
    store and the combined model are held against replacement meanwhile (``io.locks``)."""
    where = config.paths(name)
    with locks.reading(where.store), locks.reading(where.combine_model):
        return score_panel(name, where, device)


def score_panel(name: str, where: config.Paths, device: str | None) -> dict[str, dict[str, float]]:
    """:func:`evaluate` without its locks."""
    panel = store.open_panel(where.store, name)
    model, _ = checkpoints.load_separator(
        where.combine_model, f"run `xraysep combine {name}` first"
    )
    target = devices.resolve(device or config.settings().train.device)
    tile = config.settings().separate.tile
    model.to(target)
    inputs = {side: panel.rgb(side) for side in ("front", "back")}
    xray = panel.xray()
    truth = (panel.truth("front"), panel.truth("back")) if panel.has_truth else None
    hidden_truth = panel.hidden_truth() if truth else None

    photographs = stack(inputs["front"], inputs["back"], xray)
    layers = approach_layers(model, photographs, tile, target)
    pairs = {approach: (made["front"], made["back"]) for approach, made in layers.items()}
    metrics = {a: score(xray, f, b, *(truth or ())) for a, (f, b) in pairs.items()}
    if truth is not None:
        for approach, made in layers.items():
            own = approach == model.approaches[0]
            metrics[approach] |= trust_scores(made, own, truth, hidden_truth)

    write_json(where.metrics, metrics)
    figure = paper_figure(
        name, inputs["front"], inputs["back"], xray, pairs, truth,
        {approach: made["hidden"] for approach, made in layers.items()}, hidden_truth,
    )  # fmt: skip
    figure_path = where.reports_dir / "figure.png"
    with tracking.run(name, "evaluate"):
        mlflow.log_params(
            {
                "method": model.method,
                "truth": truth is not None,
                "panel_shape": "x".join(map(str, xray.shape)),
            }
        )
        mlflow.log_metrics(
            {
                f"{approach}/{key}": value
                for approach, row in metrics.items()
                for key, value in row.items()
                if math.isfinite(value)
            }
        )
        mlflow.log_figure(figure, "figure.png")
        save_figure(figure, figure_path)
        mlflow.log_artifact(str(where.metrics))
        if (page := page_of_results(name, where)) is not None:
            mlflow.log_artifact(str(page))  # the page alone: its tiles stay in reports/
    out.print(metrics_table(metrics, f"panel {name}", HEADERS))
    trust = hidden.HEADERS | uncertainty.HEADERS
    if (layer := metrics_table(metrics, "hidden layer, uncertainty", trust)) is not None:
        out.print(layer)
    return metrics


def page_of_results(name: str, where: config.Paths) -> Path | None:
    """The panel's page (``jobs.report``) with these metrics, where the combined model's
    results exist; else a warning saying how to make them, and None."""
    results = where.separated_store / model_version(where.combine_model)
    if not (results / "zarr.json").is_file():
        warn(
            f"{results}: no results of this model, so no page; run `xraysep separate {name}`, "
            f"then `xraysep report {name}`"
        )
        return None
    return report(name)
