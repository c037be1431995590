"""One place that decides how tensors run: device choice, bf16 autocast, memory format,
host threads.

CPU stays in float32 and the default memory format so that CPU results are exact and
reproducible; CUDA gets bf16 autocast and channels_last (the fast path for convolutions on
tensor cores); MPS gets float32, which it handles best for these small convolutions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from xraysep.errors import InputError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve(name: str = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|mps`` into a device that exists here, or say why not."""
    if name not in DEVICES:
        raise InputError(f"device {name!r}: unknown; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda': no CUDA device is available on this machine")
    if name == "mps" and not torch.backends.mps.is_available():
        raise InputError("device 'mps': no Apple MPS device is available on this machine")
    return torch.device(name)


def memory_format(device: torch.device) -> torch.memory_format:
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA; a no-op elsewhere."""
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """float32 inside an :func:`autocast` region, for arithmetic bf16 cannot carry (its 8-bit
    mantissa): differences of large, nearly equal terms, such as the shared map's colour
    distances. A no-op where autocast is."""
    if device.type == "cuda":
        with torch.autocast("cuda", enabled=False):
            yield
    else:
        yield


@contextlib.contextmanager
def host_threads(device: torch.device) -> Iterator[None]:
    """One CPU thread for torch while an accelerator computes. The host's share of a step
    (cutting, stacking and pinning a batch) is a few small copies, and waking a pool of
    intra-op threads for each of them made whole-panel steps on an H100 take 5–40 ms instead
    of 5.7: the pool's jitter, not the GPU, set the pace. The CPU keeps its threads."""
    threads = torch.get_num_threads()
    if device.type != "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def to_device(array: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move an (N, C, H, W) batch to ``device`` in its preferred layout, asynchronously on CUDA."""
    if device.type == "cuda":
        array = array.pin_memory()
    return array.to(device, non_blocking=True, memory_format=memory_format(device))
