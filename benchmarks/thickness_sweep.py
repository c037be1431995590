"""The shared method's thickness fit at separation time: window and ridge, on a suite's panels.

``shared.thickness`` (window radius) and ``shared.ridge`` act only when a trained model
separates: each side's thickness is fitted to the X-ray over the window, pulled towards even
paint by the ridge (docs/methods.md, The shared map). They were chosen on the retired 96²
suites. This benchmark trains ``shared`` once per panel of a suite (``validation`` by
default: settings are chosen there) through ``xraysep pipeline``, then separates each panel
again with every window and ridge of the grid from the same trained model, and prints the
mean PSNR per side and the mean crosstalk over the panels for each setting, then each
panel's PSNR, and the command.

    uv run python benchmarks/thickness_sweep.py [--suite validation] [--size 256]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from xraysep import config
from xraysep.core.metrics import side
from xraysep.jobs import suites
from xraysep.jobs.pipeline import pipeline
from xraysep.jobs.synth import synth

from common import command, machine, scratch_project
from trained import trained_panel

RADII = (4, 6, 9, 12)
RIDGES = (10.0, 3.0, 1.0, 0.3, 0.1)


def scores(name: str, grid: list[tuple[int, float]]) -> dict[tuple[int, float], tuple]:
    """Front PSNR, back PSNR and mean crosstalk of panel ``name``'s trained shared model,
    separated with each (radius, ridge) of ``grid``."""
    model, tensor, truth = trained_panel(name)
    trained = model.config
    out = {}
    for radius, ridge in grid:
        model.config = dataclasses.replace(trained, thickness=radius, ridge=ridge)
        with torch.no_grad():
            fronts, backs, *_ = model.pairs(tensor)
        front = side(fronts.mean(0)[0, 0].numpy(), *truth)
        back = side(backs.mean(0)[0, 0].numpy(), *truth[::-1])
        out[radius, ridge] = (
            front["psnr"],
            back["psnr"],
            (front["crosstalk"] + back["crosstalk"]) / 2,
        )
    model.config = trained
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="validation")
    parser.add_argument("--size", type=int)
    args = parser.parse_args()
    scratch_project("thickness-sweep")
    suite = suites.suite(args.suite, args.size)
    grid = [(radius, ridge) for radius in RADII for ridge in RIDGES]
    began = time.perf_counter()
    results = {}
    for panel, settings in suite.panels.items():
        name = f"{args.suite}-{panel}"
        synth(name, size=suite.size, **settings, overwrite=True)
        pipeline(name, method="shared")
        results[panel] = scores(name, grid)
    trained = config.settings().shared
    print(f"\n{args.suite} suite, {len(results)} panels of {suite.size}², shared trained once "
          f"each (thickness {trained.thickness}, ridge {trained.ridge}); {machine()}; "
          f"{(time.perf_counter() - began) / 60:.1f} min\n")  # fmt: skip
    print("| radius | ridge | front PSNR | back PSNR | crosstalk | " + " | ".join(results) + " |")
    print("| ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(results))
    for key in grid:
        rows = [panel[key] for panel in results.values()]
        front, back, crosstalk = np.mean(rows, axis=0)
        cells = " | ".join(f"{row[0]:.1f} / {row[1]:.1f}" for row in rows)
        print(f"| {key[0]} | {key[1]:g} | {front:.2f} | {back:.2f} | {crosstalk:.3f} | {cells} |")
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
