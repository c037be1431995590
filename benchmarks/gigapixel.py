"""A panel of ``--megapixels`` end to end: time and peak memory of each stage on this machine.

Makes the panel as BigTIFF files a capture would give (a 16-bit X-ray; two 8-bit RGB
photographs at another resolution, turned and shifted against it, so ingest must register
them), tile by tile so that making it needs little memory, in ``benchmarks/out/gigapixel/``.
Then runs the real CLI stage by stage, each in its own process so that each peak resident
memory (VmHWM) is that stage's alone: ``ingest`` (with registration), ``train`` and
``combine`` of the default method, ``separate``, ``export`` (OME-TIFF). Prints one row per
stage and the command (docs/performance.md):

    uv run python benchmarks/gigapixel.py --megapixels 100 [--stages ingest,train]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

from common import REPO, command, machine, scratch_project

OUT = REPO / "benchmarks" / "out" / "gigapixel"
TILE = 512
PHOTO_SCALE = 0.8  # photograph pixels per X-ray pixel
PHOTO_TURN = 0.6  # degrees
PHOTO_SHIFT = (37.0, -23.0)  # X-ray pixels
STAGES = ("ingest", "train", "combine", "separate", "export")


def paint(y: np.ndarray, x: np.ndarray, side: int, back: bool) -> np.ndarray:
    """The colour (H, W, 3) in [0, 1] of one side at X-ray coordinates ``y, x``: flat regions
    with sharp edges at several scales, so registration has something to hold on to."""
    k = 2 * np.pi / side
    phase = 1.3 if back else 0.0
    a = np.sin(7 * k * x + 2 * np.sin(5 * k * y + phase))
    b = np.cos(11 * k * y + 1.5 * np.cos(9 * k * x - phase))
    c = np.sin(41 * k * (x + y) + phase)
    bands = np.stack([np.round(2 * a) / 2, np.round(2 * b) / 2, np.round(2 * a * b) / 2], -1)
    return np.clip(0.5 + 0.3 * bands + 0.08 * c[..., None], 0, 1)


def xray_tiles(side: int) -> Iterator[np.ndarray]:
    """The mixed X-ray (16-bit), tile by tile in row-major order, Beer–Lambert mixing of the
    two sides' absorption (the back mirrored: X-ray frame)."""
    weights = np.array([0.9, 0.5, 0.3], np.float32)
    for top in range(0, side, TILE):
        for left in range(0, side, TILE):
            y, x = np.mgrid[top : top + TILE, left : left + TILE].astype(np.float32)
            front, back = paint(y, x, side, False), paint(y, side - 1 - x, side, True)
            absorption = front @ weights + back @ weights
            yield (65535 * np.exp(-0.6 * absorption)).astype(np.uint16)


def photo_tiles(side: int, photo_side: int, back: bool) -> Iterator[np.ndarray]:
    """One photograph (8-bit RGB, ``photo_side``²), tile by tile: each photograph pixel
    looks up its side's painting, in that side's own frame (the back as seen from behind),
    at the position the scale, turn and shift give."""
    turn = math.radians(PHOTO_TURN)
    cos, sin = math.cos(turn) / PHOTO_SCALE, math.sin(turn) / PHOTO_SCALE
    for top in range(0, photo_side, TILE):
        for left in range(0, photo_side, TILE):
            v, u = np.mgrid[top : top + TILE, left : left + TILE].astype(np.float32)
            y = sin * u + cos * v + PHOTO_SHIFT[0]
            x = cos * u - sin * v + PHOTO_SHIFT[1]
            yield (255 * paint(y, x, side, back)).astype(np.uint8)


def make(side: int) -> dict[str, Path]:
    """Write the panel's three BigTIFF files; their paths."""
    shutil.rmtree(OUT / "scans", ignore_errors=True)
    (OUT / "scans").mkdir(parents=True)
    photo_side = round(side * PHOTO_SCALE)
    files = {key: OUT / "scans" / f"{key}.tif" for key in ("front", "back", "xray")}
    options = {"bigtiff": True, "tile": (TILE, TILE), "compression": "zlib"}
    tifffile.imwrite(
        files["xray"], xray_tiles(side), shape=(side, side), dtype=np.uint16, **options
    )
    for key in ("front", "back"):
        tiles = photo_tiles(side, photo_side, key == "back")
        shape = (photo_side, photo_side, 3)
        tifffile.imwrite(
            files[key], tiles, shape=shape, dtype=np.uint8, photometric="rgb", **options
        )
    return files


def run_stage(argv: list[str]) -> dict[str, float]:
    """Run the CLI with ``argv`` in this process; its seconds and peak resident memory."""
    from xraysep.cli import main as cli

    sys.argv = ["xraysep", *argv]
    began = time.perf_counter()
    try:
        cli()
    except SystemExit as exit_:
        if exit_.code:
            raise
    seconds = time.perf_counter() - began
    status = Path("/proc/self/status").read_text().splitlines()
    peak = int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024
    return {"seconds": seconds, "peak_mb": peak}


def stage_argv(stage: str, files: dict[str, Path]) -> list[str]:
    if stage == "ingest":
        return [
            "ingest",
            "giga",
            *(f"--{key}={path}" for key, path in files.items()),
            "--overwrite",
        ]
    return [stage, "giga"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=100.0)
    parser.add_argument(
        "--stages", default=",".join(STAGES), help="comma-separated, in order (default: all)"
    )
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    scratch_project("gigapixel")
    side = round(math.sqrt(args.megapixels * 1e6) / TILE) * TILE
    files = {key: OUT / "scans" / f"{key}.tif" for key in ("front", "back", "xray")}
    if args.stage:
        print(json.dumps(run_stage(stage_argv(args.stage, files))))
        return
    stages = args.stages.split(",")
    if "ingest" in stages:  # the later stages read what the earlier ones left
        began = time.perf_counter()
        make(side)
        sizes = ", ".join(f"{k} {p.stat().st_size / 1e6:.0f} MB" for k, p in files.items())
        print(f"X-ray {side}×{side} and photographs at {PHOTO_SCALE}× made in "
              f"{time.perf_counter() - began:.0f} s ({sizes})")  # fmt: skip
    rows = []
    for stage in stages:
        done = subprocess.run(
            [sys.executable, __file__, "--megapixels", str(args.megapixels), "--stage", stage],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(f"{stage} failed:\n{done.stderr[-3000:]}")
        rows.append((stage, json.loads(done.stdout.strip().splitlines()[-1])))
        print(f"{stage}: {rows[-1][1]['seconds']:.0f} s", file=sys.stderr)
    print(f"\n{side}×{side} = {side * side / 1e6:.1f} megapixels on {machine()}\n")
    print("| stage | seconds | MP/s | peak RSS (MB) |\n| --- | ---: | ---: | ---: |")
    for stage, row in rows:
        rate = side * side / 1e6 / row["seconds"]
        print(f"| {stage} | {row['seconds']:.1f} | {rate:.2f} | {row['peak_mb']:.0f} |")
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
