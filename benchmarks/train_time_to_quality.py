"""Training time to quality: the paper's patch protocol against crop training, one run.

Both protocols train order 12 of the same network width on the same synthetic panel on the
same device. The patch protocol (preset ``--patches``, the paper's 64×64 patches at stride
12) runs its iterations; its final reconstruction MSE and per-side PSNR (slot 1 against the
true front, slot 2 against the true back, offset removed) set the bar. The crop protocol
(preset ``--crops``) then trains until it meets the bar on all three measures, checking every
``--every`` iterations; only training time is counted, not the checks. Before either is
timed, each protocol trains a throwaway network for ``--warmup`` iterations, so that one-off
costs (the CUDA context, loading each kernel on first use, cuDNN's choice of algorithm for
each new shape) land on neither protocol's clock.

    uv run python benchmarks/train_time_to_quality.py [--size 256] [--device auto]
        [--patches fast] [--crops fast-crops] [--every 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from xraysep import config
from xraysep.core import device as devices
from xraysep.core.crops import CropSampler
from xraysep.core.inference import predict
from xraysep.core.methods.paper.network import NetConfig, TwoBranchNet
from xraysep.core.metrics import reconstruction, side
from xraysep.core.patches import PatchSampler
from xraysep.core.training import TrainSettings, fit, stack_reader, to_stack, two_branch_loss
from xraysep.io import store
from xraysep.jobs.synth import synth

from common import command, machine, scratch_project


class ReachedError(Exception):
    """Raised from the step callback when the crop protocol meets the bar."""


def quality(net, panel, device) -> dict[str, float]:
    front, back = panel.rgb("front"), panel.rgb("back")
    halo = net.config.radius
    out = [
        predict(branch, rgb, halo=halo, tile=512, device=device)
        for branch, rgb in zip(net.branches, (front, back), strict=True)
    ]
    truth = {s: panel.truth(s) for s in ("front", "back")}
    return {
        "recon_mse": reconstruction(panel.xray(), *out)["recon_mse"],
        "front_psnr": side(out[0], truth["front"], truth["back"])["psnr"],
        "back_psnr": side(out[1], truth["back"], truth["front"])["psnr"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--patches", default="fast", help="preset of the patch protocol")
    parser.add_argument("--crops", default="fast-crops", help="preset of the crop protocol")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per protocol")
    args = parser.parse_args()
    scratch_project("time_to_quality")
    device = devices.resolve(args.device)
    synth("ttq", size=args.size, seed=0, overwrite=True)
    panel = store.open_panel(config.paths("ttq").store, "ttq")
    stack = to_stack(panel.rgb("front"), panel.rgb("back"), panel.xray())
    rows = []

    def patches(settings: TrainSettings) -> PatchSampler:
        grid = (settings.patch, settings.stride, settings.batch_size)
        return PatchSampler(stack_reader(stack), panel.shape, *grid, 0)

    def crops(settings: TrainSettings) -> CropSampler:
        return CropSampler(stack_reader(stack), panel.shape, settings.crop, settings.batch_size, 0)

    for name, sample in ((args.patches, patches), (args.crops, crops)):
        if args.warmup:
            preset = config.preset(name)
            settings = TrainSettings.from_preset(preset, seed=0, iterations=args.warmup)
            throwaway = TwoBranchNet(NetConfig.from_preset(preset))
            fit(throwaway, two_branch_loss, sample(settings), settings, device)

    preset = config.preset(args.patches)
    settings = TrainSettings.from_preset(preset, seed=0)
    torch.manual_seed(0)
    net = TwoBranchNet(NetConfig.from_preset(preset))
    sampler = patches(settings)
    began = time.perf_counter()
    fit(net, two_branch_loss, sampler, settings, device)
    seconds = time.perf_counter() - began
    bar = quality(net, panel, device)
    rows.append((f"patches ({args.patches})", settings.iterations, seconds, bar))

    preset = config.preset(args.crops)
    settings = TrainSettings.from_preset(preset, seed=0)
    torch.manual_seed(0)
    net = TwoBranchNet(NetConfig.from_preset(preset))
    sampler = crops(settings)
    clock = {"training": 0.0, "since": time.perf_counter(), "steps": 0, "result": None}

    def check(step: int, loss: float) -> None:
        clock["training"] += time.perf_counter() - clock["since"]
        clock["steps"] = step + 1
        if (step + 1) % args.every == 0:
            net.eval()
            result = quality(net, panel, device)
            net.train()
            clock["result"] = result
            psnr_met = all(result[k] >= bar[k] for k in ("front_psnr", "back_psnr"))
            if result["recon_mse"] <= bar["recon_mse"] and psnr_met:
                raise ReachedError
        clock["since"] = time.perf_counter()

    try:
        fit(net, two_branch_loss, sampler, settings, device, on_step=check)
        reached = False
    except ReachedError:
        reached = True
    rows.append((f"crops ({args.crops})", clock["steps"], clock["training"], clock["result"]))

    print(f"machine: {machine()}; device {device}; panel {args.size}×{args.size}")
    print("| protocol | iterations | training s | recon MSE | front PSNR | back PSNR |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, steps, secs, q in rows:
        scores = f"{q['recon_mse']:.5f} | {q['front_psnr']:.2f} | {q['back_psnr']:.2f}"
        print(f"| {name} | {steps} | {secs:.1f} | {scores} |")
    verdict = "reached the bar" if reached else "did NOT reach the bar within its iterations"
    print(f"crop training {verdict}: {rows[0][2] / rows[1][2]:.1f}× less training time")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
