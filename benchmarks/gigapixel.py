"""A panel of ``--megapixels`` end to end: time and peak memory of each stage on this machine.

Makes the panel as BigTIFF files a capture would give (a 16-bit X-ray; two 8-bit RGB
photographs at another resolution, turned and shifted against it, so ingest must register
them), tile by tile so that making it needs little memory, in ``benchmarks/out/gigapixel/``.
Then runs the real CLI stage by stage, each in its own process so that each peak resident
memory (VmHWM) is that stage's alone: ``ingest`` (with registration), ``train`` and
``combine`` of the default method, ``separate``, ``export`` (OME-TIFF). Prints one row per
stage and the command (docs/performance.md):

    uv run python benchmarks/gigapixel.py --megapixels 100 [--stages ingest,train] [--keep-scans]
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
import zarr

from xraysep import config
from xraysep.core.registration.mapping import Affine, round_trip

from common import REPO, command, machine, peak_rss_mb, scratch_project

OUT = REPO / "benchmarks" / "out" / "gigapixel"
TILE = 512
PHOTO_SCALE = 0.8  # photograph pixels per X-ray pixel
PHOTO_TURN = 0.6  # degrees
PHOTO_SHIFT = (37.0, -23.0)  # X-ray pixels
STAGES = ("ingest", "train", "combine", "separate", "export")


def lattice(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random value in [0, 1) for each integer lattice point ``(i, j)``: a hash, so
    any tile can compute its own part of the same endless, aperiodic field."""
    h = (i.astype(np.uint32) * np.uint32(0x8DA6B343)) ^ (
        j.astype(np.uint32) * np.uint32(0xD8163841)
    )
    h ^= np.uint32(seed * 0x9E3779B1 & 0xFFFFFFFF)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    h *= np.uint32(0x297A2D39)
    h ^= h >> np.uint32(15)
    return h.astype(np.float32) / np.float32(2**32)


def noise(y: np.ndarray, x: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Value noise in [0, 1] with features about ``cell`` pixels across, smoothly
    interpolated between the lattice's values."""
    v, u = y / cell, x / cell
    i, j = np.floor(v).astype(np.int64), np.floor(u).astype(np.int64)
    fy, fx = v - i, u - j
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = lattice(i, j, seed) * (1 - fx) + lattice(i, j + 1, seed) * fx
    bottom = lattice(i + 1, j, seed) * (1 - fx) + lattice(i + 1, j + 1, seed) * fx
    return top * (1 - fy) + bottom * fy


def paint(y: np.ndarray, x: np.ndarray, side: int, back: bool) -> np.ndarray:
    """The colour (H, W, 3) in [0, 1] of one side at X-ray coordinates ``y, x``: flat regions
    with sharp edges at several scales and a fine texture, none of it periodic, so that
    registration has one answer to hold on to."""
    seed = 7 if back else 0
    coarse = [noise(y, x, side / 8, seed + c) for c in range(3)]
    middle = noise(y, x, side / 40, seed + 3)
    fine = noise(y, x, 24.0, seed + 4)
    bands = np.stack([np.round(4 * (0.7 * a + 0.3 * middle)) / 4 for a in coarse], -1)
    return np.clip(0.15 + 0.7 * bands + 0.15 * (fine[..., None] - 0.5), 0, 1)


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


def made_already(files: dict[str, Path], side: int) -> bool:
    """Whether ``files`` hold a panel this script made at ``side``: every file there and the
    X-ray ``side`` pixels square (making a gigapixel panel takes half an hour)."""
    if not all(path.exists() for path in files.values()):
        return False
    with tifffile.TiffFile(files["xray"]) as xray:
        return xray.pages[0].shape == (side, side)


def true_map(side: str, n: int) -> Affine:
    """The map from X-ray pixels to the pixels of ``side``'s photograph as ingest sees it (the
    back mirrored into the X-ray's frame) that ``photo_tiles`` drew it with."""
    turn = math.radians(PHOTO_TURN)
    cos, sin = math.cos(turn) / PHOTO_SCALE, math.sin(turn) / PHOTO_SCALE
    last = round(n * PHOTO_SCALE) - 1  # the photograph's last column
    if side == "front":
        matrix, offset = [[cos, -sin], [sin, cos]], [PHOTO_SHIFT[1], PHOTO_SHIFT[0]]
    else:  # column u' of the mirrored photograph is column last - u of the photograph
        matrix = [[cos, sin], [-sin, cos]]
        offset = [n - 1 - PHOTO_SHIFT[1] - cos * last, PHOTO_SHIFT[0] + sin * last]
    return Affine(np.array(matrix), np.array(offset)).inverse()


def registration_errors(n: int) -> dict[str, tuple[float, float]]:
    """Per side, the ingested panel's registration error against ``true_map`` (RMS over the
    X-ray, X-ray pixels) and the residual that ingest recorded without knowing the truth."""
    found = {}
    group = zarr.open_group(config.paths("giga").store, mode="r")
    for side, record in group.attrs["xraysep"]["registration"].items():
        forward = record["photograph_to_xray"]
        estimate = Affine(np.array(forward["matrix"]), np.array(forward["offset"])).inverse()
        found[side] = (round_trip(estimate, true_map(side, n), (n, n)), record["residual"]["value"])
    return found


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
    return {"seconds": seconds, "peak_mb": peak_rss_mb()}


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
    parser.add_argument(
        "--keep-scans",
        action="store_true",
        help="use the scans an earlier run made at this size instead of making them again",
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
    if args.keep_scans and made_already(files, side):
        print(f"X-ray {side}×{side} and photographs at {PHOTO_SCALE}× kept from an earlier run")
    elif "ingest" in stages:  # the later stages read what the earlier ones left
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
    if "ingest" in stages:
        for photo, (error, residual) in registration_errors(side).items():
            print(f"\n{photo} registration: error {error:.2f} X-ray pixels RMS against the "
                  f"truth, residual {residual:.2f}", end="")  # fmt: skip
        print()
    print(f"\n{command()}")


if __name__ == "__main__":
    main()
