"""The shared method's thickness fit at separation time: window and ridge, on a suite's panels.

``shared.thickness`` (window radius) and ``shared.ridge`` act only when a trained model
separates: each side's thickness is fitted to the X-ray over the window, pulled towards even
paint by the ridge (docs/methods.md, The shared map). They were chosen on the retired 96²
suites. This benchmark trains ``shared`` once per panel of a suite (``validation`` by
default: settings are chosen there) through ``xraysep pipeline``, then separates each panel
again with every window and ridge of the grid from the same trained model, and prints the
mean PSNR per side and the mean crosstalk over the panels for each setting, then each
panel's PSNR, and the command. ``--centred`` adds the rows of a fit with a local intercept
(:func:`centred_thicken`), ``--panel`` keeps only the named panels.

    uv run python benchmarks/thickness_sweep.py [--suite validation] [--size 256] [--centred]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch

from xraysep import config
from xraysep.core.filters import box_mean
from xraysep.core.methods.shared import model as shared_model
from xraysep.core.metrics import side
from xraysep.jobs import suites
from xraysep.jobs.pipeline import pipeline
from xraysep.jobs.synth import synth

from common import command, machine, scratch_project
from trained import trained_panel

RADII = (4, 6, 9, 12)
RIDGES = (10.0, 3.0, 1.0, 0.3, 0.1)
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


def scores(
    name: str, fits: dict[str, Fit], grid: list[tuple[str, int, float]]
) -> dict[tuple[str, int, float], tuple]:
    """Front PSNR, back PSNR and mean crosstalk of panel ``name``'s trained shared model,
    separated with each (fit, radius, ridge) of ``grid``, the fit named in ``fits``."""
    model, tensor, truth = trained_panel(name)
    trained, plain = model.config, shared_model.thicken
    out = {}
    for fit, radius, ridge in grid:
        model.config = dataclasses.replace(trained, thickness=radius, ridge=ridge)
        shared_model.thicken = fits[fit]
        with torch.no_grad():
            fronts, backs, *_ = model.pairs(tensor)
        front = side(fronts.mean(0)[0, 0].numpy(), *truth)
        back = side(backs.mean(0)[0, 0].numpy(), *truth[::-1])
        out[fit, radius, ridge] = (
            front["psnr"],
            back["psnr"],
            (front["crosstalk"] + back["crosstalk"]) / 2,
        )
    model.config, shared_model.thicken = trained, plain
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="validation")
    parser.add_argument("--size", type=int)
    parser.add_argument("--centred", action="store_true", help="add the fit with an intercept")
    parser.add_argument("--panel", action="append", help="only this panel (repeatable)")
    args = parser.parse_args()
    scratch_project("thickness-sweep")
    suite = suites.suite(args.suite, args.size)
    fits: dict[str, Fit] = {"plain": shared_model.thicken}
    if args.centred:
        fits["centred"] = centred_thicken
    grid = [(fit, radius, ridge) for fit in fits for radius in RADII for ridge in RIDGES]
    began = time.perf_counter()
    results = {}
    for panel, settings in suite.panels.items():
        if args.panel and panel not in args.panel:
            continue
        name = f"{args.suite}-{panel}"
        synth(name, size=suite.size, **settings, overwrite=True)
        pipeline(name, method="shared")
        results[panel] = scores(name, fits, grid)
    trained = config.settings().shared
    print(f"\n{args.suite} suite, {len(results)} panels of {suite.size}², shared trained once "
          f"each (thickness {trained.thickness}, ridge {trained.ridge}); {machine()}; "
          f"{(time.perf_counter() - began) / 60:.1f} min\n")  # fmt: skip
    header = "| fit | radius | ridge | front PSNR | back PSNR | crosstalk | "
    print(header + " | ".join(results) + " |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(results))
    for key in grid:
        rows = [panel[key] for panel in results.values()]
        front, back, crosstalk = np.mean(rows, axis=0)
        cells = " | ".join(f"{row[0]:.1f} / {row[1]:.1f}" for row in rows)
        setting = f"| {key[0]} | {key[1]} | {key[2]:g} |"
        print(f"{setting} {front:.2f} | {back:.2f} | {crosstalk:.3f} | {cells} |")
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
