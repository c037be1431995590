"""Achieved convolution throughput of the networks against the machine's matrix-product peak.

Measures, in one run on one device: the matrix-product rate in the networks' precision (the
practical peak: the best of BLAS and oneDNN on a CPU, bf16 on CUDA), then the forward and the
forward+backward rate of one branch of each preset on a batch of training patches, counting
2 FLOP per multiply-accumulate of the convolutions (batch norm and ReLU are not counted).
Prints GFLOP/s and the fraction of peak.

    uv run python benchmarks/conv_flops.py [--device auto] [--size 64] [--batch 8]
"""

from __future__ import annotations

import argparse
import time

import torch
import yaml
from torch.nn import functional

from xraysep.core import device as devices
from xraysep.core.methods.paper.network import Branch, NetConfig, conv_macs_per_pixel

from common import REPO, command, machine


def timed(step, device: torch.device, seconds: float = 3.0) -> float:
    """Seconds per call of ``step`` (after a warm-up), averaged over about ``seconds``."""
    step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    calls, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds or calls < 3:
        step()
        calls += 1
    sync()
    return (time.perf_counter() - began) / calls


def matmul_peak(device: torch.device) -> tuple[float, str]:
    """The best matrix-product rate over a few sizes, in the precision the networks run in
    (bf16 on CUDA, float32 elsewhere): this machine's practical peak, and how it was reached.
    On a CPU the product runs through two libraries, BLAS (``a @ b``) and oneDNN (a 1×1
    convolution is the same product), because they differ: on this project's AMD EPYC, MKL's
    float32 product ran at 212 GFLOP/s and oneDNN's at 408, and oneDNN runs the networks."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rates = {}
    for n in (1024, 2048, 4096) if device.type == "cpu" else (4096, 8192):
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        rate = 2 * n**3 / timed(lambda a=a, b=b: a @ b, device) / 1e9
        rates["matmul"] = max(rates.get("matmul", 0.0), rate)
    if device.type == "cpu":
        for channels, side in ((1024, 64), (4096, 32)):
            x = torch.randn(1, channels, side, side)
            w = torch.randn(channels, channels, 1, 1)
            flop = 2 * channels**2 * side**2
            rate = flop / timed(lambda x=x, w=w: functional.conv2d(x, w), device) / 1e9
            rates["1×1 convolution"] = max(rates.get("1×1 convolution", 0.0), rate)
    how = max(rates, key=rates.__getitem__)
    detail = ", ".join(f"{name} {rate:,.1f}" for name, rate in rates.items())
    return rates[how], f"{dtype} {how} ({detail} GFLOP/s)"


def branch_rates(config: NetConfig, device: torch.device, size: int, batch: int):
    branch = Branch(config).to(device, memory_format=devices.memory_format(device))
    x = torch.rand(batch, 3, size, size, device=device).to(
        memory_format=devices.memory_format(device)
    )
    flop = 2 * conv_macs_per_pixel(config) * batch * size * size

    @torch.no_grad()
    def forward():
        with devices.autocast(device):
            branch(x)

    def train_step():
        with devices.autocast(device):
            out = branch(x)
        out.float().mean().backward()

    return flop / timed(forward, device) / 1e9, 3 * flop / timed(train_step, device) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=64, help="patch side (the paper: 64)")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    device = devices.resolve(args.device)
    presets = yaml.safe_load((REPO / "params.yaml").read_text())["presets"]
    peak, how = matmul_peak(device)
    print(f"machine: {machine()}; device {device}")
    print(f"matrix-product peak: {peak:,.1f} GFLOP/s, {how}")
    print("| preset | forward GFLOP/s | % of peak | forward+backward GFLOP/s | % of peak |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in ("fast", "paper"):
        config = NetConfig.from_preset(presets[name])
        forward, train = branch_rates(config, device, args.size, args.batch)
        row = [f"{forward:,.1f}", f"{forward / peak:.0%}", f"{train:,.1f}", f"{train / peak:.0%}"]
        print(f"| {name} | {' | '.join(row)} |")
    print(f"(bf16 autocast on CUDA; batch {args.batch} of {args.size}×{args.size}; one branch)")
    print(f"reproduce: {command()}")


if __name__ == "__main__":
    main()
