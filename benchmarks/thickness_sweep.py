"""The shared method's thickness fit at separation time: window and ridge, on a suite's panels.

``shared.thickness`` (window radius) and ``shared.ridge`` act only when a trained model
separates: each side's thickness is fitted to the X-ray over the window, pulled towards even
paint by the ridge (docs/methods.md, The shared map). They were chosen on the retired 96²
suites. This benchmark trains ``shared`` once per panel of a suite (``validation`` by
default: settings are chosen there) through ``xraysep pipeline``, then separates each panel
again with every window and ridge of the grid from the same trained model, and prints the
mean PSNR per side, the mean crosstalk and the uncertainty map's correlation with the error
over the panels for each setting, then each panel's PSNR, and the command. ``--trained``
instead scores the ``shared`` models the suite's own benchmark run left (``models/``), the
mean over the seeds found; ``--stress FACTOR`` does so for that stress suite. ``--radius``
and ``--ridge`` (repeatable) replace the grid. ``--centred`` adds the rows of a fit with a
local intercept (:func:`centred_thicken`), ``--adaptive`` those of a fit whose ridge eases
where the evidence for a thicker or thinner side is strong (:func:`adaptive_thicken`),
``--field`` those of one smooth gain field per side over the whole image
(:func:`field_thicken`); ``--panel`` keeps only the named panels when training.

    uv run python benchmarks/thickness_sweep.py [--suite validation [--trained] | --stress
        FACTOR] [--size 256] [--radius R ...] [--ridge L ...] [--centred] [--adaptive]
        [--field] [--panel NAME]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import time
from collections.abc import Callable, Hashable, Iterator

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve

from xraysep import config
from xraysep.core import uncertainty
from xraysep.core.filters import box_mean
from xraysep.core.methods.shared import model as shared_model
from xraysep.core.methods.shared.model import SharedModel
from xraysep.core.metrics import side
from xraysep.io import checkpoints, store
from xraysep.jobs import suites
from xraysep.jobs.pipeline import pipeline

from common import command, machine, scratch_project, table_head
from trained import panel_stack, suite_panels, trained_panel

RADII = (4, 6, 9, 12)
RIDGES = (10.0, 3.0, 1.0, 0.3, 0.1)
PILOT_RIDGE = 0.3  # the adaptive fit's first, lightly held fit
SCALES = (0.1, 0.2)  # gains of the pilot fit at which the adaptive fit's ridge halves
THINNEST = -0.9  # the adaptive fit's lowest gain: paint a tenth as thick as its colour says
SMOOTHNESS = (1.0, 10.0)  # the field fit's pull of a grid node towards its neighbours
Fit = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # shared's thickness fit's signature


def centred_thicken(
    first: torch.Tensor, second: torch.Tensor, residual: torch.Tensor, radius: int, ridge: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The thickness fit with an intercept: ``ρ ≈ a₀ + a₁ τ₁ + a₂ τ₂`` over the window, so a
    hidden depth that is even across the window (an absorbing layer under both sides) goes
    to ``a₀``, and so to the hidden layer, instead of into the sides' gains. The ridge is
    the plain fit's (``λ`` times the window's mean energy), on the gains alone."""
    products = [first, second, residual, first * first, second * second, first * second]
    means = box_mean(torch.cat([*products, first * residual, second * residual], 1), radius)
    mean_1, mean_2, mean_r, energy_11, energy_22, energy_12, moment_1, moment_2 = means.split(1, 1)
    shrink = ridge * (energy_11 + energy_22) / 2
    var_11 = energy_11 - mean_1 * mean_1 + shrink
    var_22 = energy_22 - mean_2 * mean_2 + shrink
    cov_12 = energy_12 - mean_1 * mean_2
    cov_1, cov_2 = moment_1 - mean_1 * mean_r, moment_2 - mean_2 * mean_r
    determinant = (var_11 * var_22 - cov_12 * cov_12).clamp_min(1e-12)
    gain_1 = (var_22 * cov_1 - cov_12 * cov_2) / determinant
    gain_2 = (var_11 * cov_2 - cov_12 * cov_1) / determinant
    return first * (1 + gain_1), second * (1 + gain_2)


def _gains(
    means: tuple[torch.Tensor, ...], ridge_1: torch.Tensor, ridge_2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2 × 2 ridge solve of the thickness fit from its window means, with a ridge per
    side."""
    energy_11, energy_22, energy_12, moment_1, moment_2 = means
    energy_11, energy_22 = energy_11 + ridge_1, energy_22 + ridge_2
    determinant = (energy_11 * energy_22 - energy_12 * energy_12).clamp_min(1e-12)
    gain_1 = (energy_22 * moment_1 - energy_12 * moment_2) / determinant
    gain_2 = (energy_11 * moment_2 - energy_12 * moment_1) / determinant
    return gain_1, gain_2


def adaptive_thicken(
    first: torch.Tensor,
    second: torch.Tensor,
    residual: torch.Tensor,
    radius: int,
    ridge: float,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The thickness fit under a heavy-tailed pull towards even paint: a pilot fit at
    :data:`PILOT_RIDGE` gives each side's gain ``gᵢ``, and the fit is solved again with
    side ``i``'s ridge ``λ / (1 + (gᵢ / scale)²)``. Small gains (where the residual's
    co-variation with a side is weak, and the other side's texture is most of it) stay held
    as firmly as the plain fit holds them; large ones (a region whose white is chalk, not
    lead) are let go. A gain is kept at or above :data:`THINNEST`: with one side let go and
    the other held, the free side can take the whole residual and turn its depth negative."""
    products = [first * first, second * second, first * second, first * residual]
    means = box_mean(torch.cat([*products, second * residual], 1), radius).split(1, 1)
    energy = (means[0] + means[1]) / 2
    pilot_1, pilot_2 = _gains(means, PILOT_RIDGE * energy, PILOT_RIDGE * energy)
    gain_1, gain_2 = _gains(
        means,
        ridge * energy / (1 + (pilot_1 / scale) ** 2),
        ridge * energy / (1 + (pilot_2 / scale) ** 2),
    )
    return first * (1 + gain_1.clamp_min(THINNEST)), second * (1 + gain_2.clamp_min(THINNEST))


def _bilinear(length: int, spacing: int) -> sparse.csr_matrix:
    """(length, nodes): linear interpolation from nodes every ``spacing`` pixels."""
    position = np.arange(length) / spacing
    below = np.floor(position).astype(int)
    fraction = position - below
    nodes = below.max() + 2
    rows = np.repeat(np.arange(length), 2)
    columns = np.stack([below, below + 1], 1).ravel()
    weights = np.stack([1 - fraction, fraction], 1).ravel()
    return sparse.csr_matrix((weights, (rows, columns)), shape=(length, nodes))


def _differences(nodes: int) -> sparse.csr_matrix:
    """(nodes − 1, nodes): each node less the one before it."""
    return sparse.diags([-np.ones(nodes - 1), np.ones(nodes - 1)], [0, 1], (nodes - 1, nodes))


def field_thicken(
    first: torch.Tensor,
    second: torch.Tensor,
    residual: torch.Tensor,
    radius: int,
    ridge: float,
    smoothness: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The thickness fit as one smooth field per side over the whole image: each side's gain
    is bilinear between nodes every ``radius`` pixels, fitted to ``ρ ≈ g₁ τ₁ + g₂ τ₂`` by
    least squares with the plain fit's ridge (``λ`` times the pixel's energy) and a pull of
    ``smoothness`` (times the mean energy and the pixels per node) of each node towards its
    neighbours. Where the two sides' depths vary together the window fit shrinks both gains
    to zero; this fit carries its neighbours' gains in instead. Whole-image only (a study)."""
    one, other, rho = (t[0, 0].double().numpy() for t in (first, second, residual))
    height, width = one.shape
    rows, columns = _bilinear(height, radius), _bilinear(width, radius)
    spread = sparse.kron(rows, columns).tocsr()
    design = sparse.hstack(
        [sparse.diags(one.ravel()) @ spread, sparse.diags(other.ravel()) @ spread]
    ).tocsr()
    energy = (one * one + other * other).ravel() / 2
    shrink = spread.T @ sparse.diags(ridge * energy) @ spread
    grid = sparse.kron(_differences(rows.shape[1]), sparse.eye(columns.shape[1]))
    grid = sparse.vstack(
        [grid, sparse.kron(sparse.eye(rows.shape[1]), _differences(columns.shape[1]))]
    )
    pull = smoothness * energy.mean() * radius**2 * (grid.T @ grid)
    normal = design.T @ design + sparse.block_diag([shrink + pull, shrink + pull])
    gains = spsolve(normal.tocsc(), design.T @ rho.ravel())
    nodes = spread.shape[1]
    gain_1, gain_2 = (
        (spread @ gains[k * nodes : (k + 1) * nodes]).reshape(height, width) for k in (0, 1)
    )
    as_tensor = functools.partial(torch.as_tensor, dtype=first.dtype)
    return first * (1 + as_tensor(gain_1)), second * (1 + as_tensor(gain_2))


def scores(
    model: SharedModel, tensor: torch.Tensor, truth: tuple, fits: dict[str, Fit], grid: list
) -> dict[tuple[str, int, float], tuple]:
    """Front PSNR, back PSNR, mean crosstalk and the uncertainty map's correlation with the
    error (``core.uncertainty``) of a trained shared ``model`` on a panel's ``tensor`` with
    ``truth`` (front, back), separated with each (fit, radius, ridge) of ``grid``, the fit
    named in ``fits``."""
    trained, plain = model.config, shared_model.thicken
    out = {}
    for fit, radius, ridge in grid:
        model.config = dataclasses.replace(trained, thickness=radius, ridge=ridge)
        shared_model.thicken = fits[fit]
        with torch.no_grad():
            fronts, backs, _, moved = (
                output.mean(0)[0, 0].numpy() for output in model.pairs(tensor)
            )
        front, back = side(fronts, *truth), side(backs, *truth[::-1])
        flags = uncertainty.scores(moved, fronts, backs, *truth)["uncertainty_error_corr"]
        crosstalk = (front["crosstalk"] + back["crosstalk"]) / 2
        out[fit, radius, ridge] = (front["psnr"], back["psnr"], crosstalk, flags)
    model.config, shared_model.thicken = trained, plain
    return out


SCORE_COLUMNS = {"front PSNR": "---:", "back PSNR": "---:", "crosstalk": "---:"}


def score_row(setting: str, rows: list[tuple]) -> str:
    """A Markdown row: the ``setting`` cells, then the mean front and back PSNR and crosstalk
    over per-panel ``rows`` (:func:`scores`' values) and each panel's front / back PSNR."""
    front, back, crosstalk = np.mean([row[:3] for row in rows], axis=0)
    cells = " | ".join(f"{row[0]:.1f} / {row[1]:.1f}" for row in rows)
    return f"| {setting} | {front:.2f} | {back:.2f} | {crosstalk:.3f} | {cells} |"


def variant_rows(
    results: dict, panels: list[str], variants: list, setting: Callable[[Hashable, tuple], str]
) -> Iterator[str]:
    """:func:`score_row` for each variant and each of its :func:`scores` keys, over
    ``results`` keyed by (panel, variant), its cells ``setting(variant, key)``: the table of
    studies that train one model per panel and variant."""
    for variant in variants:
        for key in results[panels[0], variant]:
            rows = [results[panel, variant][key] for panel in panels]
            yield score_row(setting(variant, key), rows)


def suite_scores(args: argparse.Namespace, fits: dict[str, Fit], grid: list) -> dict:
    """:func:`scores` per panel of ``--suite``, ``shared`` trained on each first."""
    scratch_project("thickness-sweep")
    chosen = suites.suite(args.suite, args.size)
    results = {}
    for panel, name in suite_panels(chosen, args.panel).items():
        pipeline(name, method="shared")
        results[panel] = [scores(*trained_panel(name), fits, grid)]
    return results


def trained_scores(chosen: suites.Suite, fits: dict[str, Fit], grid: list) -> dict:
    """:func:`scores` per panel of the suite ``chosen``, for every seed whose trained
    ``shared`` model that suite's benchmark run left (``models/<panel>/trained/shared.pt``)."""
    results = {}
    for panel in chosen.panels:
        for seed in config.settings().benchmark.seeds:
            name = f"{chosen.prefix}{panel}-t{seed}"
            where = config.paths(name)
            if where.trained_model("shared").is_file() and store.panel_exists(where.store):
                model, _ = checkpoints.load_trained(where.trained_model("shared"), "shared")
                results.setdefault(panel, []).append(scores(model, *panel_stack(name), fits, grid))
    if not results:
        raise SystemExit(f"{chosen.name}: no trained shared model here; run the suite first")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="validation")
    parser.add_argument("--stress", help="a stress suite's factor: its run's trained models")
    parser.add_argument("--size", type=int)
    parser.add_argument(
        "--trained", action="store_true", help="score the models the suite's run left here"
    )
    parser.add_argument("--centred", action="store_true", help="add the fit with an intercept")
    parser.add_argument("--adaptive", action="store_true", help="add the heavy-tailed fit")
    parser.add_argument("--field", action="store_true", help="add the whole-image smooth fit")
    parser.add_argument("--radius", type=int, action="append", help="window radius (repeatable)")
    parser.add_argument("--ridge", type=float, action="append", help="ridge (repeatable)")
    parser.add_argument("--panel", action="append", help="only this panel (repeatable)")
    args = parser.parse_args()
    fits: dict[str, Fit] = {"plain": shared_model.thicken}
    if args.centred:
        fits["centred"] = centred_thicken
    if args.adaptive:
        for scale in SCALES:
            fits[f"adaptive {scale:g}"] = functools.partial(adaptive_thicken, scale=scale)
    if args.field:
        for smoothness in SMOOTHNESS:
            fits[f"field {smoothness:g}"] = functools.partial(field_thicken, smoothness=smoothness)
    radii, ridges = args.radius or RADII, args.ridge or RIDGES
    grid = [(fit, radius, ridge) for fit in fits for radius in radii for ridge in ridges]
    began = time.perf_counter()
    if args.stress or args.trained:
        chosen = suites.stress_suite(args.stress) if args.stress else suites.suite(args.suite)
        results = trained_scores(chosen, fits, grid)
    else:
        results = suite_scores(args, fits, grid)
    trained = config.settings().shared
    seeds = max(len(runs) for runs in results.values())
    print(f"\n{args.stress or args.suite}: {len(results)} panels, shared trained once each "
          f"(thickness {trained.thickness}, ridge {trained.ridge}), up to {seeds} seeds; "
          f"{machine()}; {(time.perf_counter() - began) / 60:.1f} min\n")  # fmt: skip
    columns = {"fit": "---", "radius": "---:", "ridge": "---:", "front PSNR": "---:"}
    columns |= {"back PSNR": "---:", "crosstalk": "---:", "uncert. corr": "---:"}
    print(table_head(columns, list(results)))
    for key in grid:
        rows = [np.mean([run[key] for run in runs], axis=0) for runs in results.values()]
        front, back, crosstalk, flags = np.mean(rows, axis=0)
        cells = " | ".join(f"{row[0]:.1f} / {row[1]:.1f}" for row in rows)
        setting = f"| {key[0]} | {key[1]} | {key[2]:g} |"
        print(f"{setting} {front:.2f} | {back:.2f} | {crosstalk:.3f} | {flags:+.2f} | {cells} |")
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
