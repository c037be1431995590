"""Training and inference speed of the presets on one device (the GPU benchmark).

For each preset: trains order 12 and order 21 with the real ``xraysep train`` job on the
default synthetic panel and reports seconds per iteration and per order (both from the MLflow
run), then separates a larger synthetic panel with the combined model through the real
``xraysep separate`` path and reports megapixels per second. On CUDA this exercises bf16
autocast, channels_last and pinned transfers; ``--compile`` adds ``torch.compile``. Before the
timed orders of each preset, an untimed order of ``--warmup`` iterations pays the one-off
costs (CUDA context, cuDNN algorithm search, compilation) that would otherwise land on
order 12 alone.

    uv run python benchmarks/device_speed.py [--device cuda] [--presets paper fast]
        [--iterations 300] [--warmup 2] [--panel 256] [--inference-panel 4096] [--compile]
"""

from __future__ import annotations

import argparse

import mlflow

from common import command, machine, scratch_project


def latest_run(panel: str, filter_string: str = "") -> mlflow.entities.Run:
    return mlflow.search_runs(
        experiment_names=[f"xraysep/{panel}"],
        filter_string=filter_string,
        order_by=["start_time DESC"],
        max_results=1,
        output_format="list",
    )[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="+", default=["paper", "fast"])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per preset")
    parser.add_argument("--panel", type=int, default=256, help="training panel side")
    parser.add_argument("--inference-panel", type=int, default=4096)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    scratch_project("device_speed", {"train": {"compile": args.compile, "checkpoint_every": 0}})

    from xraysep import config
    from xraysep.core import device as devices
    from xraysep.jobs.combine import combine
    from xraysep.jobs.separate import separate
    from xraysep.jobs.synth import synth
    from xraysep.jobs.train import train

    device = str(devices.resolve(args.device))
    synth("train", size=args.panel, seed=0, overwrite=True)
    synth("big", size=args.inference_panel, seed=1, overwrite=True)
    rows = []
    for preset in args.presets:
        timings = {}
        if args.warmup:
            train("train", "12", preset=preset, iterations=args.warmup, device=device)
        for order in ("12", "21"):
            train("train", order, preset=preset, iterations=args.iterations, device=device)
            chosen = f"params.preset = '{preset}' and params.order = '{order}'"
            timings[order] = latest_run("train", chosen).data.metrics
        combine("train", method="paper", device=device)
        separate("big", model=config.paths("train").combine_model, device=device)
        rows.append((preset, timings, latest_run("big").data.metrics["megapixels_per_second"]))

    print(f"machine: {machine()}; device {device}; compile {args.compile}")
    print(
        f"training panel {args.panel}², {args.iterations} iterations per order; "
        f"inference panel {args.inference_panel}²"
    )
    header = ["s/iteration 12", "s/iteration 21", "s per order 12", "s per order 21"]
    print(f"| preset | {' | '.join(header)} | inference MP/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for preset, t, rate in rows:
        cells = [f"{t[o]['seconds_per_iteration']:.4f}" for o in ("12", "21")]
        cells += [f"{t[o]['train_seconds']:.1f}" for o in ("12", "21")]
        print(f"| {preset} | {' | '.join(cells)} | {rate:.2f} |")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
