"""Inference throughput and peak memory against image size: 1, 10 and 100 megapixels.

Separates synthetic panels of each size with one trained combined model (``--method paper``:
both orderings at the ``fast`` width; ``--method shared``: the shared colour map with its
ensemble's uncertainty map), trained briefly on a small panel (throughput does not depend on
the weights), through
the real ``xraysep separate`` path (zarr → dask ``map_overlap`` → zarr, plus TIFF and PNG
reports), each in a fresh process whose own peak resident memory it reports. Cost should grow
linearly with pixels and memory stay flat, bounded by the blocks in flight. With
``--baseline REF`` each panel is also separated, with the same model, by commit REF's code
(its sources first on ``PYTHONPATH``), the two alternating, so both see the same machine.

    uv run python benchmarks/inference_scaling.py [--sizes 1000 3163 10000] [--device cpu]
        [--method paper|shared] [--baseline REF]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from common import REPO, command, machine, peak_rss_mb, scratch_project, versions


def one(name: str, method: str, device: str) -> None:
    """Child process: separate one panel, print its figures as JSON."""
    from xraysep.jobs.separate import separate

    began = time.perf_counter()
    separate(
        name,
        model=REPO / "benchmarks" / "out" / f"scaling-{method}" / "models" / "m" / "combine.pt",
        device=device,
    )
    seconds = time.perf_counter() - began
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3163, 10000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", default="paper", choices=("paper", "shared"))
    parser.add_argument("--baseline", help="also separate with this commit's code")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # in the project and with the sources that the parent's environment names
        one(args.one, args.method, args.device)
        return
    overrides = {"train": {"preset": "fast", "checkpoint_every": 0}}
    root = scratch_project(f"scaling-{args.method}", overrides)

    from xraysep.jobs.combine import combine
    from xraysep.jobs.synth import synth
    from xraysep.jobs.train import train

    if not (root / "models" / "m" / "combine.pt").is_file():
        synth("m", size=256, seed=0, overwrite=True)
        train("m", method=args.method, iterations=30, device=args.device)
        combine("m", method=args.method, device=args.device)
    codes = versions(args.baseline, root, overrides)
    rows = []
    for size in args.sizes:
        name = f"p{size}"
        if not (root / "data" / "panels" / f"{name}.zarr").is_dir():
            synth(name, size=size, seed=1, overwrite=True)
        for version, environment in codes.items():
            child = subprocess.run(
                [sys.executable, __file__, "--one", name, "--method", args.method,
                 "--device", args.device],
                capture_output=True, text=True, check=True,
                env=os.environ | environment,
            )  # fmt: skip
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            megapixels = size * size / 1e6
            rows.append((version, size, megapixels, figures["seconds"], figures["peak_rss_mb"]))
            print(f"  {version}, {size}×{size}: {figures}", flush=True)

    print(f"machine: {machine()}; device {args.device}; method {args.method}")
    print("| code | panel | megapixels | seconds | MP/s | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for version, size, mp, seconds, rss in rows:
        print(
            f"| {version} | {size}×{size} | {mp:.1f} | {seconds:.1f} | {mp / seconds:.3f} "
            f"| {rss:.0f} |"
        )
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
