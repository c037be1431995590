"""How well can any colour-to-X-ray map separate the benchmark suite? An upper bound.

For every panel of ``params.yaml: benchmark``, made by the real ``synth`` job, each side's
X-ray is predicted from its photograph with the simulator's own per-colour attenuation and
blur (``core.physics``) but without the paint-thickness texture, which no photograph shows.
That is the best a map from colour alone (the ``shared`` method) can do; its scores beside the
benchmark's show how much of the remaining error is thickness, support, noise and hidden
content rather than a weakness of the learned map. Each oracle side reads its own photograph
alone, so nothing of the other side can leak into it: its crosstalk is the metric's floor on
these panels, the chance correlation between an error image and an unrelated picture.

The second set of columns adds the separation's thickness fit (``core.thickness``, radius
``shared.thickness``, ridge ``--ridge``) to the oracle maps, with the mixture's true curve:
what the fit gains and what it costs in crosstalk when the maps are perfect.

    uv run python benchmarks/colour_oracle.py [--suite panels|validation] [--size 96]
        [--ridge R]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import yaml
from scipy import ndimage

from xraysep.core.methods.shared.thickness import thicken
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
    return curve(oracle_depth(rgb), mixture)


def thickened(
    panel: store.Panel, mixture: str, limits: dict, radius: int, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """Both oracle sides with their thickness fitted to the panel's X-ray, in raw units: the
    residual in optical depth of the true curve, split by the separation's fit."""
    depths = [oracle_depth(panel.rgb(side)) for side in ("front", "back")]
    xray = limits["low"] + panel.xray() * (limits["high"] - limits["low"])  # unstretched
    total = -np.log(np.clip(1.0 - xray, 1e-3, None)) if mixture == "beer-lambert" else 2 * xray
    tensors = [torch.from_numpy(d)[None, None] for d in (*depths, total - sum(depths))]
    sides = thicken(*tensors, radius, ridge)
    return tuple(curve(side[0, 0].numpy(), mixture) for side in sides)


def curve(depth: np.ndarray, mixture: str) -> np.ndarray:
    """One side's X-ray in raw units from its optical depth."""
    return 1.0 - np.exp(-depth) if mixture == "beer-lambert" else 0.5 * depth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("test", "validation"), default="test")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--ridge", type=float, default=None)
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    suite, shared = params["benchmark"], params["shared"]
    size = args.size or int(suite["size"])
    ridge = args.ridge if args.ridge is not None else float(shared["ridge"])
    root = scratch_project("colour-oracle")
    rows = []
    for name, settings in suite["suites"][args.suite]["panels"].items():
        synth(name, size=size, **settings, overwrite=True)
        panel = store.open_panel(root / "data" / "panels" / f"{name}.zarr", name)
        limits = panel.attrs["xraysep"]["stretch"]
        truth = panel.truth("front"), panel.truth("back")
        mixture = settings.get("mixture", "beer-lambert")
        oracle = (oracle_side(panel.rgb(side), mixture) for side in ("front", "back"))
        fitted = thickened(panel, mixture, limits, int(shared["thickness"]), ridge)
        rows.append(
            (name, *(
                score(panel.xray(), *(stretch_side(s, limits["low"], limits["high"])
                                      for s in pair), *truth)
                for pair in (oracle, fitted)
            ))
        )  # fmt: skip

    print(f"colour oracle on the {args.suite} suite, {size}×{size} panels; with the thickness")
    print(f"fit: radius {shared['thickness']}, ridge {ridge:g}")
    print("| panel | front PSNR | back PSNR | crosstalk | with fit: front | back | crosstalk |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    digits = {"front_psnr": 2, "back_psnr": 2, "crosstalk": 3}
    for name, plain, fitted in rows:
        cells = [f"{row[k]:.{n}f}" for row in (plain, fitted) for k, n in digits.items()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    means = [f"{np.mean([r[i][k] for r in rows]):.{n}f}" for i in (1, 2) for k, n in digits.items()]
    print("| mean | " + " | ".join(means) + " |")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
