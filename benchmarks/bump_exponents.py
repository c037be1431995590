"""The shared map's bump exponents on real-sized panels, and what ``exp`` costs by argument.

The map's bumps are ``exp(−|y − cₖ|² / 2s²)`` for every pixel and palette colour; ``s`` comes
from the palette's spacing, so a panel with a tight palette has many exponents far below
zero. Prints two tables (docs/performance.md, A gigapixel panel, every stage):

- ``exp`` on ``--floats`` float32 arguments drawn in each range, median of ``--repeats``, with
  and without ``torch.set_flush_denormal``: below −87 its results are subnormal or zero.
- For the demo's panel (the demo's settings at ``--size``, made in a scratch project) and the
  panel ``benchmarks/gigapixel.py`` ingested (where it exists): the first member's bump width,
  the lowest exponent and the share below ``LOWEST_EXPONENT`` in the 512² centred window of
  the front photograph, as the trained model would see them.

    uv run python benchmarks/bump_exponents.py [--size 256] [--floats 8388608] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from xraysep import config
from xraysep.core import methods
from xraysep.core.inference import centre_window
from xraysep.core.methods.shared.model import LOWEST_EXPONENT
from xraysep.io import store
from xraysep.jobs.synth import synth

from common import REPO, command, machine, scratch_project

RANGES = ((-87.0, 0.0), (-103.0, -88.0), (-300.0, -104.0))
WINDOW = 512
GIGAPIXEL = REPO / "benchmarks" / "out" / "gigapixel"


def exp_seconds(low: float, high: float, floats: int, repeats: int) -> float:
    """Median seconds of ``torch.exp`` on ``floats`` arguments uniform in [low, high]."""
    arguments = torch.empty(floats).uniform_(low, high)
    torch.exp(arguments)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        torch.exp(arguments)
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def census(name: str) -> tuple[float, float, float]:
    """The bump width, the lowest exponent and the share below ``LOWEST_EXPONENT`` of panel
    ``name`` in the current project."""
    panel = store.open_panel(config.paths(name).store, name)
    made = methods.trainer("shared").recipe(
        "shared", panel, settings=config.settings(), preset=None, seed=0, iterations=1,
        checkpoint_every=0,
    )  # fmt: skip
    absorption = made.model.members[0].absorption
    window = centre_window(panel.shape, WINDOW)
    rgb = torch.from_numpy(np.ascontiguousarray(panel.rgb("front", *window).transpose(2, 0, 1)))
    exponents = absorption._features(rgb[None]) @ absorption._coefficients().T
    low = float((exponents < LOWEST_EXPONENT).float().mean())
    return float(absorption.width), float(exponents.min()), low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="the demo panel's side")
    parser.add_argument("--floats", type=int, default=32 * 512 * 512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print(f"{machine()}; exp of {args.floats} float32 arguments\n")
    print("| arguments | ms | ms with flush_denormal |\n| --- | ---: | ---: |")
    for low, high in RANGES:
        plain = exp_seconds(low, high, args.floats, args.repeats)
        torch.set_flush_denormal(True)
        flushed = exp_seconds(low, high, args.floats, args.repeats)
        torch.set_flush_denormal(False)
        print(f"| [{low:g}, {high:g}] | {1000 * plain:.1f} | {1000 * flushed:.1f} |")

    scratch_project(f"bump-exponents-{args.size}")
    if not config.paths("demo").store.exists():
        synth("demo", **config.settings().synth.model_dump() | {"size": args.size})
    panels = {f"demo's, {args.size}²": census("demo")}
    if (GIGAPIXEL / "data" / "panels" / "giga.zarr").exists():
        os.environ["XRAYSEP_ROOT"] = str(GIGAPIXEL)
        panels["benchmarks/gigapixel.py's"] = census("giga")
    print(f"\n| panel | bump width s | lowest exponent | below {LOWEST_EXPONENT:g} |")
    print("| --- | ---: | ---: | ---: |")
    for name, (width, lowest, share) in panels.items():
        print(f"| {name} | {width:.3f} | {lowest:.1f} | {100 * share:.1f} % |")
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
