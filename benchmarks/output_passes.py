"""A separator's outputs on one tile: run together (shared passes) against one by one.

Front, back and the uncertainty map of the paper's combined model read the same four slots;
run together (``core.inference.run_all``) each slot runs once per tile. This times one tile
of every output both ways, for the paper's rule and the sum-consistent rule, at a preset's
width with random weights (the time does not depend on them), median of ``--repeats``.

    uv run python benchmarks/output_passes.py [--preset fast] [--tile 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import yaml

from xraysep.core import device as devices
from xraysep.core.inference import run, run_all
from xraysep.core.methods.paper.combined import CombinedModel
from xraysep.core.methods.paper.network import NetConfig
from xraysep.core.separator import stack
from xraysep.jobs.separate import outputs

from common import REPO, command, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    device = devices.resolve(args.device)
    preset = yaml.safe_load((REPO / "params.yaml").read_text())["presets"][args.preset]
    config = NetConfig.from_preset(preset)
    rng = np.random.default_rng(0)
    side = args.tile + 2 * config.radius
    photographs = stack(*(rng.random((side, side, 3), dtype=np.float32) for _ in "fb"))
    print(f"machine: {machine()}; device {device}; preset {args.preset}; tile {args.tile}²")
    print("| rule | together s | one by one s | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    for rule in ("paper", "consistent"):
        model = CombinedModel(config, rule=rule).to(device).eval()
        modules = list(outputs(model).values())
        times: dict[str, list[float]] = {"together": [], "alone": []}
        for _ in range(args.repeats):  # alternated, so drifting load hits both alike
            began = time.perf_counter()
            run_all(modules, photographs, device)
            times["together"].append(time.perf_counter() - began)
            began = time.perf_counter()
            for module in modules:
                run(module, photographs, device)
            times["alone"].append(time.perf_counter() - began)
        together, alone = (float(np.median(times[k])) for k in ("together", "alone"))
        print(f"| {rule} | {together:.3f} | {alone:.3f} | {alone / together:.2f}× |")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
