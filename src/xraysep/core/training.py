"""The training loop: fit a model to the mixed X-ray, one minibatch per iteration.

The loop is shared by every method; what differs comes in as a *loss* (model, batch,
progress) -> scalar, a *sampler* of batches and, where a method trains some parameters for
only part of the run, *parameter groups*. ``progress`` is the fraction of the run's steps
already taken, so a loss can follow a curriculum (the shared method's refinement) and a
resumed run follows the same one. An *iteration* is what the protocol calls one: for the
paper's patch protocol a pass over the whole patch grid (its "300 iterations" over 966 or
3168 patch triplets), for crop training one optimiser step; the sampler says how many
optimiser steps an iteration takes. The paper's loss (Eq. 2) is
``mean((x − (branch_1(y_a) + branch_2(y_b)))²)`` over patch triplets. Everything that changes
the result (seed, learning rate, batch size, optimiser) is in :class:`TrainSettings`, filled
from ``params.yaml`` and logged to MLflow. A :class:`Checkpoint` holds everything the loop
carries between iterations (weights, optimiser moments, sampler state, losses), so a run
resumed from one ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from xraysep.core import device as devices
from xraysep.errors import InputError
from xraysep.settings import Training

OPTIMISERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}

Loss = Callable[[nn.Module, torch.Tensor, float], torch.Tensor]
Reader = Callable[[slice, slice], torch.Tensor]  # (rows, cols) -> (7, h, w) training channels


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class Sampler(Protocol):
    """Endless minibatches (N, 7, h, w): front-slot RGB, back-slot RGB, mixed X-ray."""

    steps_per_iteration: int

    def next(self) -> torch.Tensor: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class TrainSettings:
    """How one network is trained. ``sampling`` is ``patches`` (the paper's grid of ``patch``²
    windows at ``stride``; an iteration is a pass over the grid) or ``crops`` (random
    ``crop``² windows, or the whole image; an iteration is one step)."""

    iterations: int
    batch_size: int
    lr: float
    optimizer: str
    sampling: str
    patch: int
    stride: int
    crop: int
    seed: int
    schedule: str = "constant"
    warmup: int = 0
    checkpoint_every: int = 0

    @classmethod
    def from_preset(
        cls,
        protocol: Training,
        seed: int,
        iterations: int | None = None,
        checkpoint_every: int = 0,
    ) -> TrainSettings:
        """The protocol of a preset or a method's section (checked by ``xraysep.settings``),
        with ``--iterations`` instead of its own where given."""
        settings = cls(
            iterations=int(iterations if iterations is not None else protocol.iterations),
            batch_size=protocol.batch_size,
            lr=protocol.lr,
            optimizer=protocol.optimizer,
            sampling=protocol.sampling,
            patch=protocol.patch,
            stride=protocol.stride,
            crop=protocol.crop,
            seed=seed,
            schedule=protocol.schedule,
            warmup=protocol.warmup,
            checkpoint_every=int(checkpoint_every),
        )
        if settings.iterations < 1:
            raise InputError(f"--iterations {settings.iterations}: must be at least 1")
        return settings

    def to_dict(self) -> dict:
        return asdict(self)

    def learning_rate(self, step: int, steps: int) -> float:
        """The rate at ``step`` of ``steps``: constant (the paper), or a linear warm-up over
        ``warmup`` steps then a cosine decay to zero, which lets full-image steps settle
        into a minimum instead of rattling around it. A pure function of the step, so a
        resumed run follows the same schedule."""
        if self.schedule == "constant":
            return self.lr
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, steps - self.warmup)
        return self.lr * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class Checkpoint:
    """The loop's whole state after ``step`` optimiser steps."""

    step: int
    losses: list[float]
    model: dict[str, torch.Tensor]
    optimiser: dict[str, Any]
    sampler: dict[str, Any]


def to_stack(first: np.ndarray, second: np.ndarray, xray: np.ndarray) -> torch.Tensor:
    """(h, w, 3), (h, w, 3), (h, w) -> one (7, h, w) float32 tensor, channels first."""
    joined = np.concatenate([first, second, xray[..., None]], axis=-1)
    return torch.from_numpy(np.ascontiguousarray(joined.transpose(2, 0, 1), dtype=np.float32))


def stack_reader(stack: torch.Tensor) -> Reader:
    """Windows of an in-memory (7, H, W) stack."""
    return lambda ys, xs: stack[:, ys, xs]


def two_branch_loss(net: nn.Module, batch: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
    """The paper's Eq. 2: the two slots' outputs must sum to the mixed X-ray, the same at
    every ``progress``."""
    out_first, out_second = net(batch[:, :3], batch[:, 3:6])
    return functional.mse_loss((out_first + out_second).float(), batch[:, 6:])


def fit(
    model: nn.Module,
    loss_fn: Loss,
    sampler: Sampler,
    settings: TrainSettings,
    device: torch.device,
    *,
    on_step: Callable[[int, float], None] = lambda step, loss: None,
    start: Checkpoint | None = None,
    save: Callable[[Checkpoint], None] | None = None,
    wrap: Callable[[nn.Module], nn.Module] = lambda module: module,
    groups: Callable[[nn.Module], list[dict]] | None = None,
) -> list[float]:
    """Train ``model`` in place for ``settings.iterations`` iterations (continuing from
    ``start``); calls ``save`` every ``settings.checkpoint_every`` optimiser steps. ``wrap``
    gives the module the forward pass runs through (DistributedDataParallel,
    ``torch.compile``), applied after the weights are in place. ``groups`` gives the
    optimiser's parameter groups (all parameters in one group when ``None``); a group with
    ``until`` learns only while the run's progress is below it, then keeps its values (a
    learning rate of zero: the parameters stay in the graph, so DistributedDataParallel
    needs no unused-parameter search). Returns every step's loss."""
    model.to(device=device, memory_format=devices.memory_format(device)).train()
    optimiser = OPTIMISERS[settings.optimizer](
        groups(model) if groups else model.parameters(),
        lr=settings.lr,
        fused=device.type == "cuda",
    )
    losses: list[float] = []
    if start is not None:
        model.load_state_dict(start.model)
        optimiser.load_state_dict(start.optimiser)
        sampler.load_state_dict(start.sampler)
        losses = list(start.losses)
    forward = wrap(model)
    steps = settings.iterations * sampler.steps_per_iteration
    with devices.host_threads(device):
        for step in range(len(losses), steps):
            progress = step / steps
            for group in optimiser.param_groups:
                learning = progress < group.get("until", 1.0)
                group["lr"] = settings.learning_rate(step, steps) if learning else 0.0
            batch = devices.to_device(sampler.next(), device)
            with devices.autocast(device):
                loss = loss_fn(forward, batch, progress)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            on_step(step, losses[-1])
            done = step + 1
            every = settings.checkpoint_every
            if save and every and done % every == 0 and done < steps:
                save(
                    Checkpoint(
                        step=done,
                        losses=list(losses),
                        model={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                        optimiser=copy.deepcopy(optimiser.state_dict()),  # a snapshot, not a view
                        sampler=sampler.state_dict(),
                    )
                )
    model.eval()
    return losses
