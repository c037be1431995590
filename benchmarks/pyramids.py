"""Time and peak memory to build the OME-Zarr pyramid of one separated result and to export it
as a tiled, pyramidal OME-TIFF, at ``--megapixels`` (default 100) on this machine.

Writes a results-like image (float32, level 0 in shards of ``separate.block``: what
``xraysep separate`` writes) under ``benchmarks/out/pyramids/``, then runs each step in its own
process so that each peak resident memory (VmHWM) is that step's alone: ``pyramid``
(``io.pyramid.fill_levels``, levels 1… from level 0 shard by shard) and ``export``
(``io.images.write_ome_tiff`` through the checksums, as ``xraysep export`` does). ``idle`` is
the interpreter with the same imports and no work, for scale (docs/performance.md):

    uv run python benchmarks/pyramids.py --megapixels 100
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time

import numpy as np
import zarr

from xraysep.io import contents, images, pyramid, store

from common import REPO, command, machine, peak_rss_mb

OUT = REPO / "benchmarks" / "out" / "pyramids"
NAME = "front_xray"


def make(side: int) -> None:
    """A fresh store holding one float32 image of ``side``² with empty levels below level 0,
    level 0 filled with smooth values and noise (compresses like a result, not like noise)."""
    shutil.rmtree(OUT, ignore_errors=True)
    group = zarr.open_group(OUT / "results.zarr", mode="w", zarr_format=3)
    levels = pyramid.create_image(group, NAME, (side, side), np.float32, shard=2048)
    rng = np.random.default_rng(0)
    for ys, xs in store.blocks((side, side), 2048):
        y, x = np.mgrid[ys, xs].astype(np.float32)
        smooth = 0.5 + 0.25 * np.sin(y / 97.0) * np.cos(x / 131.0)
        noise = rng.normal(0, 0.01, smooth.shape).astype(np.float32)
        levels[0][ys, xs] = smooth + noise


def step(name: str) -> dict[str, float]:
    """Run one step in this process; its seconds and this process's peak resident memory."""
    began = time.perf_counter()
    group = zarr.open_group(OUT / "results.zarr", mode="r+", zarr_format=3)
    if name == "pyramid":
        pyramid.fill_levels(pyramid.levels(group, NAME))
    elif name == "export":
        path, spec = OUT / "results.zarr", contents.RESULTS[NAME]
        arrays = pyramid.open_image(path, group, NAME, spec)
        levels = [store.Checked(array, path, key, spec) for key, array in arrays.items()]
        images.write_ome_tiff(OUT / f"{NAME}.ome.tif", levels, NAME)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "peak_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=100.0)
    parser.add_argument("--step", choices=("idle", "pyramid", "export"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step)))
        return
    side = round(math.sqrt(args.megapixels * 1e6))
    began = time.perf_counter()
    make(side)
    print(f"{side}×{side} float32 result written in {time.perf_counter() - began:.0f} s")
    for name in ("idle", "pyramid", "export"):
        script = [sys.executable, __file__, "--step", name]
        figures = json.loads(subprocess.run(script, check=True, capture_output=True).stdout)
        print(f"{name:8} {figures['seconds']:7.1f} s  peak RSS {figures['peak_mb']:7.0f} MB")
    group = zarr.open_group(OUT / "results.zarr", mode="r")
    shapes = [level.shape for level in pyramid.levels(group, NAME)]
    size = (OUT / f"{NAME}.ome.tif").stat().st_size / 1e6
    print(f"levels {shapes}; OME-TIFF {size:.0f} MB")
    print(f"machine: {machine()}\ncommand: {command()}")


if __name__ == "__main__":
    main()
