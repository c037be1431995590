"""Registration across machines: the same panel registered under each of OpenBLAS's kernels.

OpenBLAS picks its matrix kernels by the CPU it runs on, so two machines round the same
products differently in the last bits; SimpleITK's descent can follow those bits into
another answer where the metric is flat. ``synth`` makes a panel already in the X-ray's
frame (the true map is the identity) at each ``--size``; each kernel (``OPENBLAS_CORETYPE``,
one child process each) ingests it with registration, as ``xraysep ingest`` does, with
``min_size`` lowered to 1 so that panels under the floor are measured too. Per size
and kernel: each side's residual (the two starts' disagreement, docs/registration.md,
Residual) and error (RMS distance of the answer from the identity over the X-ray, X-ray
pixels), or the refusal.

    uv run python benchmarks/registration_kernels.py [--size 64 96 128 192] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import yaml
import zarr

from xraysep.core.registration.mapping import Affine, rms_distance
from xraysep.errors import InputError
from xraysep.jobs.ingest import ingest_folder
from xraysep.jobs.synth import synth
from xraysep.settings import PanelEntry

from common import command, machine, scratch_project
from registration import estimated

KERNELS = ("Haswell", "SkylakeX", "Zen", "Sandybridge", "Prescott")
SIDES = ("front", "back")
IDENTITY = Affine(np.eye(2), np.zeros(2))


def registered(panel: str) -> dict:
    """Ingest ``panel``'s raw folder with registration, as the pipeline's ingest stage does;
    per side its residual and its error against the identity, or the refusal."""
    try:
        store = ingest_folder(panel, PanelEntry(), overwrite=True)
    except InputError as refusal:
        return {"refused": str(refusal).split(": ", 1)[1]}
    group = zarr.open_group(store, mode="r")
    shape = group["xray"].shape
    return {
        side: (
            group.attrs["xraysep"]["registration"][side]["residual"]["value"],
            rms_distance(estimated(panel, side), IDENTITY, shape),
        )
        for side in SIDES
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs="+", default=[64, 96, 128, 192])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a panel, registered in this process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(registered(args.child)))
        return
    began = time.perf_counter()
    root = scratch_project("registration_kernels")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ingest"]["registration"]["min_size"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    print(f"{machine()}; the true map is the identity; residual / error in X-ray pixels\n")
    print("| size | kernel | front residual | front error | back residual | back error |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for size in args.size:
        panel = f"aligned-{size}"
        synth(panel, size=size, seed=args.seed, overwrite=True, ingest_it=False)
        for kernel in KERNELS:
            child = subprocess.run(
                [sys.executable, __file__, "--child", panel],
                env=os.environ | {"OPENBLAS_CORETYPE": kernel},
                capture_output=True,
                text=True,
                check=True,
            )
            answer = json.loads(child.stdout.splitlines()[-1])
            if "refused" in answer:
                print(f"| {size} | {kernel} | refused: {answer['refused']} | | | |")
                continue
            cells = " | ".join(f"{answer[side][0]:.3f} | {answer[side][1]:.3f}" for side in SIDES)
            print(f"| {size} | {kernel} | {cells} |")
    print(f"\nwall time {time.perf_counter() - began:.0f} s")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
