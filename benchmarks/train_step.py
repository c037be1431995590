"""The shared map's training step on the CPU, this code against a baseline commit, one run.

Both versions train the default method (``params.yaml: shared``) on the same synthetic panel
(the demo's settings at ``--size``), each in its own process with its own sources (the
baseline's from ``git archive``), alternately ``--rounds`` times, so that both see the same
machine. Each reports seconds per step in the map phase and in the refinement (the last
``shared.refine`` part of the steps), the whole training time, the last step's loss, and the
separation's PSNR and crosstalk against the true X-rays (the trained map's pair of the whole
panel), so the speed-up is shown at unchanged quality. ``--gigapixel`` trains on the panel
that ``benchmarks/gigapixel.py`` ingested instead (run that first), crop by crop from its
store as ``xraysep train`` would; it has no true X-rays, so the last loss stands for
quality. The first optimiser a process makes imports ``torch._dynamo`` (about 10 s on a
2-core machine), the same for both; it is made before the clock starts. ``--profile`` prints
each version's ``torch.profiler`` table instead (use a few dozen ``--steps``: the profiler
slows each step).

    uv run python benchmarks/train_step.py --baseline da6e7c0 [--size 256 | --gigapixel]
        [--steps 2500] [--rounds 1] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import command, machine, scratch_project, versions

PANEL = "demo"
GIGAPIXEL = "giga"  # the panel benchmarks/gigapixel.py ingests


def child(name: str, steps: int, profile: bool) -> None:
    """Train on the scratch panel ``name`` with the sources on ``PYTHONPATH``; print one
    JSON line."""
    import numpy as np
    import torch

    import xraysep
    from xraysep import config
    from xraysep.core import methods
    from xraysep.core.inference import centre_window
    from xraysep.core.metrics import side
    from xraysep.core.training import fit
    from xraysep.io import store
    from xraysep.jobs.train import make_sampler, panel_reader

    panel = store.open_panel(config.paths(name).store, name)
    settings = config.settings()
    in_memory = panel.shape[0] * panel.shape[1] <= settings.train.in_memory_megapixels * 1e6
    made = methods.trainer("shared").recipe(
        "shared", panel, settings=settings, preset=None, seed=0, iterations=steps,
        checkpoint_every=0,
    )  # fmt: skip
    read = panel_reader(panel, made.slots, in_memory)
    sampler = make_sampler(made.settings, read, panel.shape, 0)
    device = torch.device("cpu")
    if profile:
        print_profile(made, sampler, device)
        return
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo
    refine_from = int(np.ceil((1 - settings.shared.refine) * steps))
    stamps: list[float] = []
    losses: list[float] = []

    def on_step(step: int, loss: float) -> None:
        stamps.append(time.perf_counter())
        losses.append(loss)

    began = time.perf_counter()
    fit(made.model, made.loss, sampler, made.settings, device, on_step=on_step, groups=made.groups)
    seconds = time.perf_counter() - began
    times = np.diff([began, *stamps])
    scores = {}
    if "truth/front_xray" in panel.group:
        window = centre_window(panel.shape, max(panel.shape))
        pair = made.images(panel, window, settings.separate.tile, device)
        front, back = pair["shared_front"], pair["shared_back"]
        truth_front, truth_back = panel.truth("front"), panel.truth("back")
        scores = {
            "front": side(front, truth_front, truth_back),
            "back": side(back, truth_back, truth_front),
        }
    print(
        json.dumps(
            {
                "source": str(Path(xraysep.__file__).parents[1]),
                "seconds": seconds,
                "map_step": float(np.median(times[1:refine_from])),
                "refine_step": float(np.median(times[refine_from:])),
                "mean_step": seconds / steps,
                "last_loss": losses[-1],
                **{f"{s}_{k}": v[k] for s, v in scores.items() for k in ("psnr", "crosstalk")},
            }
        )
    )


def print_profile(made, sampler, device) -> None:
    """``torch.profiler``'s top operators over the whole (short) training run."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from xraysep.core.training import fit

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo
    with profile(activities=[ProfilerActivity.CPU]) as recorded:
        fit(made.model, made.loss, sampler, made.settings, device, groups=made.groups)
    print(recorded.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare with")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=None, help="default: shared.iterations")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--gigapixel", action="store_true", help="the panel benchmarks/gigapixel.py ingested"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    panel = GIGAPIXEL if args.gigapixel else PANEL
    if args.child:  # in the project and with the sources that the parent's environment names
        child(panel, args.steps, args.profile)
        return
    root = scratch_project("gigapixel" if args.gigapixel else f"train-step-{args.size}")

    from xraysep import config
    from xraysep.io import store
    from xraysep.jobs.synth import synth

    if args.gigapixel and not config.paths(panel).store.exists():
        sys.exit(f"{config.paths(panel).store}: not found; run benchmarks/gigapixel.py first")
    if not config.paths(panel).store.exists():
        synth(PANEL, **config.settings().synth.model_dump() | {"size": args.size})
    steps = args.steps or config.settings().shared.iterations
    codes = versions(args.baseline, root)
    results: dict[str, list[dict]] = {name: [] for name in codes}
    for _ in range(args.rounds):
        for name, environment in codes.items():
            call = [sys.executable, __file__, "--child", "--baseline", args.baseline]
            call += ["--size", str(args.size)] + (["--gigapixel"] if args.gigapixel else [])
            call += ["--steps", str(steps)] + (["--profile"] if args.profile else [])
            done = subprocess.run(
                call, env=os.environ | environment, check=True, stdout=subprocess.PIPE, text=True
            )
            if args.profile:
                print(f"## {name}\n{done.stdout}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            imported = Path(result["source"])
            assert imported == Path(environment["PYTHONPATH"]), f"{name} imported {imported}"
            results[name].append(result)
            print(f"{name}: {json.dumps(result)}", flush=True)
    if args.profile:
        return
    shape = "×".join(map(str, store.open_panel(config.paths(panel).store, panel).shape))
    print(f"\n{machine()}; {shape} panel, {steps} steps, {args.rounds} round(s)")
    print(
        "| code | map step ms | refinement step ms | training s | last loss | front PSNR "
        "| back PSNR | crosstalk front, back |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        for run in runs:
            scored = "front_psnr" in run
            quality = (
                f"{run['front_psnr']:.3f} | {run['back_psnr']:.3f} "
                f"| {run['front_crosstalk']:.4f}, {run['back_crosstalk']:.4f}"
                if scored
                else "– | – | –"
            )
            print(
                f"| {name} | {1000 * run['map_step']:.1f} | {1000 * run['refine_step']:.1f} "
                f"| {run['seconds']:.1f} | {run['last_loss']:.6g} | {quality} |"
            )
    base, new = (min(r["seconds"] for r in runs) for runs in results.values())
    print(f"\ntraining {base / new:.2f}× faster (best of each)\n{command()}")


if __name__ == "__main__":
    main()
