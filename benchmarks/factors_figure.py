"""The factors of the synthetic physics, one column each: what the methods see and what they
do not (docs/benchmarks.md, Physics).

Each column is the same panel (astronaut over coffee, seed 0, 256²) with one factor at its
strongest level of the stress suites (or its range's top): the front photograph the methods
read, the mixed X-ray, the front's true X-ray and the hidden part (support, grounds,
earlier composition) that neither photograph shows. Writes ``docs/figures/factors.png``.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from xraysep.core.factors import FACTORS
from xraysep.io import store
from xraysep.jobs.synth import synth

from common import REPO, command, scratch_project

SHOWN = {"none": {}} | {
    name: {name: 0.5 if name in ("metamerism", "layering") else factor.high}
    for name, factor in FACTORS.items()
}
ROWS = ("front photograph", "mixed X-ray", "true front X-ray", "hidden (neither photograph)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    root = scratch_project("factors-figure")
    figure, axes = plt.subplots(
        len(ROWS), len(SHOWN), figsize=(1.9 * len(SHOWN), 2.0 * len(ROWS)), layout="constrained"
    )
    for column, (name, factors) in enumerate(SHOWN.items()):
        synth(name, size=args.size, seed=0, factors=factors, overwrite=True)
        panel = store.open_panel(root / "data" / "panels" / f"{name}.zarr", name)
        images = (panel.rgb("front"), panel.xray(), panel.truth("front"), panel.truth("hidden"))
        strength = next(iter(factors.values()), None)
        axes[0, column].set_title(name if strength is None else f"{name} {strength:g}", fontsize=9)
        for row, image in enumerate(images):
            axes[row, column].imshow(image, cmap=None if image.ndim == 3 else "gray")
            axes[row, column].set_axis_off()
    for row, label in enumerate(ROWS):
        axes[row, 0].text(-0.08, 0.5, label, transform=axes[row, 0].transAxes, rotation=90,
                          ha="right", va="center", fontsize=8)  # fmt: skip
    path = REPO / "docs" / "figures" / "factors.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    print(f"wrote {path.relative_to(REPO)}")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
