"""How well can any colour-to-X-ray map separate the benchmark suite? An upper bound.

For every panel of ``params.yaml: benchmark``, made by the real ``synth`` job, each side's
X-ray is predicted from its photograph with the simulator's own per-colour attenuation and
blur (``core.physics``) but without the paint-thickness texture, which no photograph shows.
That is the best a map from colour alone (the ``shared`` method) can do; its scores beside the
benchmark's show how much of the remaining error is thickness, support, noise and hidden
content rather than a weakness of the learned map. Each oracle side reads its own photograph
alone, so nothing of the other side can leak into it: its crosstalk is the metric's floor on
these panels, the chance correlation between an error image and an unrelated picture.

    uv run python benchmarks/colour_oracle.py [--size 96]
"""

from __future__ import annotations

import argparse

import numpy as np
import yaml
from scipy import ndimage

from xraysep.core.metrics import score
from xraysep.core.physics import Physics, attenuation
from xraysep.core.preprocess import stretch_side
from xraysep.io import store
from xraysep.jobs.synth import synth

from common import REPO, command, scratch_project


def oracle_depth(rgb: np.ndarray) -> np.ndarray:
    """One side's optical depth from its colours alone, thickness 1 everywhere."""
    return ndimage.gaussian_filter(attenuation(rgb), Physics().blur_sigma)


def oracle_side(rgb: np.ndarray, mixture: str) -> np.ndarray:
    """One side's X-ray in raw units from its colours alone."""
    depth = oracle_depth(rgb)
    return 1.0 - np.exp(-depth) if mixture == "beer-lambert" else 0.5 * depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None)
    args = parser.parse_args()
    suite = yaml.safe_load((REPO / "params.yaml").read_text())["benchmark"]
    size = args.size or int(suite["size"])
    root = scratch_project("colour-oracle")
    rows = []
    for name, settings in suite["panels"].items():
        synth(name, size=size, **settings, overwrite=True)
        panel = store.open_panel(root / "data" / "panels" / f"{name}.zarr", name)
        limits = panel.attrs["xraysep"]["stretch"]
        front, back = (
            stretch_side(oracle_side(panel.rgb(side), settings["mixture"]), limits["low"],
                         limits["high"])
            for side in ("front", "back")
        )  # fmt: skip
        rows.append((name, score(panel.xray(), front, back, panel.truth("front"),
                                 panel.truth("back"))))  # fmt: skip

    print(f"colour oracle on the benchmark suite, {size}×{size} panels")
    print("| panel | front PSNR | back PSNR | crosstalk |")
    print("| --- | ---: | ---: | ---: |")
    for name, row in rows:
        print(f"| {name} | {row['front_psnr']:.2f} | {row['back_psnr']:.2f} | "
              f"{row['crosstalk']:.3f} |")  # fmt: skip
    keys = ("front_psnr", "back_psnr", "crosstalk")
    means = {k: np.mean([row[k] for _, row in rows]) for k in keys}
    print(f"| mean | {means['front_psnr']:.2f} | {means['back_psnr']:.2f} | "
          f"{means['crosstalk']:.3f} |")  # fmt: skip
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
