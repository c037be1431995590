"""Registration accuracy: photographs moved by known transforms, registered at ingest.

``synth`` makes a panel with truth; its photographs, re-lit (white balance) and saved as
JPEG alike in every case, are ingested once as they are (aligned: ``--no-register``) and
once per case after a known similarity (shift, rotation, scale: another resolution), with
registration. Per case: (a) the registration error, the RMS over the X-ray of the distance
between the true and the estimated map, in X-ray pixels, for each photograph; (b) the
default ``shared`` method's front and back PSNR after ``xraysep pipeline`` (with
``--iterations``), against the aligned panel's.

    uv run python benchmarks/registration.py [--size 192] [--iterations 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import zarr
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.transform import AffineTransform, warp

from xraysep import config
from xraysep.core import capture
from xraysep.core.registration.mapping import Affine, round_trip
from xraysep.io import images
from xraysep.jobs.ingest import ingest
from xraysep.jobs.pipeline import pipeline
from xraysep.jobs.synth import synth

from common import command, machine, scratch_project

WHITE_BALANCE = 0.5  # capture.white_balance strength, the same gains in every case
JPEG = 0.1  # capture.jpeg_quality strength: quality 90


@dataclass(frozen=True)
class Case:
    name: str
    scale: float  # photograph pixels per X-ray pixel
    degrees: float
    shift: tuple[float, float]  # X-ray pixels


CASES = (
    Case("shift", 1.0, 0.0, (30.0, -20.0)),
    Case("rotation", 1.0, 2.0, (-12.0, 25.0)),
    Case("half resolution", 0.5, -1.0, (10.0, 5.0)),
    Case("double resolution", 2.0, 1.5, (-20.0, -15.0)),
    Case("all", 1.37, -2.0, (25.0, 30.0)),
)


def case_mapping(shape: tuple[int, int], scale: float, degrees: float, shift) -> Affine:
    """The true map from X-ray pixels to the pixels of a photograph of
    ``round(shape × scale)``: scaled and turned about the centres, the X-ray's centre seen
    ``shift`` X-ray pixels off the photograph's."""
    h, w = shape
    ph, pw = round(h * scale), round(w * scale)
    turn = Affine.similarity(scale, degrees, (0.0, 0.0))
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    target = np.array([(pw - 1) / 2, (ph - 1) / 2])
    return Affine(turn.matrix, target - turn.matrix @ centre + scale * np.asarray(shift))


def photograph(aligned: np.ndarray, truth: Affine, scale: float) -> np.ndarray:
    """What a camera sees through ``truth`` (X-ray pixels -> its pixels) of the float RGB
    ``aligned`` photograph, at ``scale`` times its resolution: blurred first when coarser
    (a sensor integrates over its pixel), then cubic interpolation, edges repeated."""
    h, w = aligned.shape[:2]
    if scale < 1:
        sigma = (1 / scale - 1) / 2
        aligned = np.stack([gaussian_filter(aligned[..., c], sigma) for c in range(3)], -1)
    back = truth.inverse()
    matrix = np.eye(3)
    matrix[:2, :2], matrix[:2, 2] = back.matrix, back.offset
    shape = (round(h * scale), round(w * scale), 3)
    moved = warp(aligned, AffineTransform(matrix=matrix), output_shape=shape, order=3, mode="edge")
    return np.clip(moved, 0.0, 1.0).astype(np.float32)


def write_photo(path, rgb: np.ndarray) -> None:
    images.write_jpeg(path, images.to_uint8(rgb), capture.jpeg_quality(JPEG))


def estimated(panel: str, side: str) -> Affine:
    """The map from X-ray pixels to the photograph's that ingest recorded."""
    group = zarr.open_group(config.paths(panel).store, mode="r")
    record = group.attrs["xraysep"]["registration"][side]["photograph_to_xray"]
    return Affine(np.array(record["matrix"]), np.array(record["offset"])).inverse()


def separation(panel: str, iterations: int) -> tuple[float, float]:
    (scores,) = pipeline(panel, method="shared", iterations=iterations).values()
    return scores["front_psnr"], scores["back_psnr"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--iterations", type=int, default=200, help="shared method's steps")
    parser.add_argument("--seed", type=int, default=0, help="synth's seed")
    args = parser.parse_args()
    began = time.perf_counter()
    scratch_project("registration")
    synth("truth", size=args.size, seed=args.seed, overwrite=True)
    raw = config.paths("truth").raw_dir
    rng = np.random.default_rng(args.seed)
    lit = {
        side: capture.white_balance(
            np.asarray(Image.open(raw / f"{side}.png"), np.float32) / 255, WHITE_BALANCE, rng
        )
        for side in ("front", "back")
    }
    truths = {key: raw / f"{key}.tiff" for key in ("truth_front", "truth_back", "truth_hidden")}

    def panel(name: str, photos: dict[str, np.ndarray], register: bool) -> None:
        folder = config.paths(name).raw_dir
        folder.mkdir(parents=True, exist_ok=True)
        for side, rgb in photos.items():
            write_photo(folder / f"{side}.jpg", rgb)
        ingest(
            name, folder / "front.jpg", folder / "back.jpg", raw / "xray.tiff",
            register=register, overwrite=True, **truths,
        )  # fmt: skip

    panel("aligned", lit, register=False)
    aligned = separation("aligned", args.iterations)
    shape = (args.size, args.size)
    rows = []
    for number, case in enumerate(CASES):
        truth = case_mapping(shape, case.scale, case.degrees, case.shift)
        front = photograph(lit["front"], truth, case.scale)
        back = photograph(lit["back"][:, ::-1], truth, case.scale)[:, ::-1]  # moved as mirrored
        name = f"case{number}"
        panel(name, {"front": front, "back": back}, register=True)
        errors = [round_trip(estimated(name, side), truth, shape) for side in ("front", "back")]
        rows.append((case, errors, separation(name, args.iterations)))

    print(f"machine: {machine()}; panel {args.size}², shared method, {args.iterations} steps")
    print("| case | scale | rotation ° | shift px | front error px | back error px "
          "| front PSNR (Δ) | back PSNR (Δ) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| aligned | 1 | 0 | 0 | | | {aligned[0]:.2f} | {aligned[1]:.2f} |")
    for case, (front_error, back_error), (front_psnr, back_psnr) in rows:
        shift = f"({case.shift[0]:g}, {case.shift[1]:g})"
        print(
            f"| {case.name} | {case.scale:g} | {case.degrees:g} | {shift} | {front_error:.3f} "
            f"| {back_error:.3f} | {front_psnr:.2f} ({front_psnr - aligned[0]:+.2f}) "
            f"| {back_psnr:.2f} ({back_psnr - aligned[1]:+.2f}) |"
        )
    print(f"wall time {time.perf_counter() - began:.0f} s")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
