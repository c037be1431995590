"""Data-parallel training under ``torchrun``: one process per device, gradients all-reduced.

``torchrun --nproc-per-node N -m xraysep train ...`` sets ``RANK``/``WORLD_SIZE``; each rank
then draws its own batches (its sampler is seeded with ``seed + rank``) and
DistributedDataParallel averages gradients, so all ranks take identical optimiser steps.
Batch-norm running statistics are per rank (SyncBatchNorm exists only for GPUs); DDP copies
rank 0's at every forward pass and :func:`finish` copies them once more at the end, so every
rank ends with rank 0's model, which :func:`identical` verifies. Only rank 0 writes files and
talks to MLflow.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


def start(device: torch.device) -> Context:
    """Join the process group that ``torchrun`` set up; a single process needs none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Context()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def device_for(context: Context, device: torch.device) -> torch.device:
    """Each rank its own GPU; CPU ranks share the CPU."""
    if context.active and device.type == "cuda":
        torch.cuda.set_device(context.local_rank)
        return torch.device("cuda", context.local_rank)
    return device


def wrap(context: Context, device: torch.device) -> Callable[[nn.Module], nn.Module]:
    """The ``wrap`` for :func:`xraysep.core.training.fit`: DDP when there are several ranks."""
    if not context.active:
        return lambda module: module
    ids = [device.index] if device.type == "cuda" else None
    return lambda module: DistributedDataParallel(module, device_ids=ids)


def finish(context: Context, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics) after training."""
    if context.active:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def fingerprint(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def identical(context: Context, model: nn.Module) -> bool:
    """Whether every rank holds bit-identical weights and buffers."""
    if not context.active:
        return True
    prints: list[str | None] = [None] * context.world
    dist.all_gather_object(prints, fingerprint(model))
    return len(set(prints)) == 1


def gather(context: Context, state: dict) -> list[dict]:
    """Every rank's ``state`` (a sampler's), in rank order; collective, so all ranks call it."""
    if not context.active:
        return [state]
    states: list[dict | None] = [None] * context.world
    dist.all_gather_object(states, state)
    return states


def stop(context: Context) -> None:
    if context.active and dist.is_initialized():
        dist.destroy_process_group()
