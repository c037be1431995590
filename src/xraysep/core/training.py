"""The training loop of the paper (DESIGN §2): fit ``out_1 + out_2`` to the mixed X-ray.

Each iteration is one optimiser step on a minibatch of patch triplets with the loss of the
paper's Eq. 2, ``mean((x − (branch_1(y_a) + branch_2(y_b)))²)``. Everything that changes the
result (seed, learning rate, batch size, optimiser) comes in through :class:`TrainSettings`,
which the job fills from ``params.yaml`` and logs to MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional

from xraysep.core import device as devices
from xraysep.core.network import TwoBranchNet
from xraysep.core.patches import PatchSampler, gather, patch_origins
from xraysep.errors import InputError

OPTIMISERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


@dataclass(frozen=True)
class TrainSettings:
    iterations: int
    batch_size: int
    lr: float
    optimizer: str
    patch: int
    stride: int
    seed: int

    @classmethod
    def from_preset(cls, preset: dict, seed: int, iterations: int | None = None) -> TrainSettings:
        if preset["optimizer"] not in OPTIMISERS:
            raise InputError(
                f"optimizer {preset['optimizer']!r}: unknown; choose one of {', '.join(OPTIMISERS)}"
            )
        return cls(
            iterations=int(iterations if iterations is not None else preset["iterations"]),
            batch_size=int(preset["batch_size"]),
            lr=float(preset["lr"]),
            optimizer=str(preset["optimizer"]),
            patch=int(preset["patch"]),
            stride=int(preset["stride"]),
            seed=seed,
        )

    def to_dict(self) -> dict:
        return asdict(self)


def to_stack(first: np.ndarray, second: np.ndarray, xray: np.ndarray) -> torch.Tensor:
    """(H, W, 3), (H, W, 3), (H, W) -> one (7, H, W) float32 tensor, channels first."""
    joined = np.concatenate([first, second, xray[..., None]], axis=-1)
    return torch.from_numpy(np.ascontiguousarray(joined.transpose(2, 0, 1), dtype=np.float32))


def fit_two_branch(
    net: TwoBranchNet,
    stack: torch.Tensor,
    settings: TrainSettings,
    device: torch.device,
    on_step: Callable[[int, float], None] = lambda step, loss: None,
) -> list[float]:
    """Train ``net`` in place on patches of ``stack`` (7, H, W); returns the loss per step."""
    origins = patch_origins(tuple(stack.shape[1:]), settings.patch, settings.stride)
    sampler = PatchSampler(origins, settings.batch_size, settings.seed)
    net.to(device=device, memory_format=devices.memory_format(device)).train()
    optimiser = OPTIMISERS[settings.optimizer](net.parameters(), lr=settings.lr)
    losses: list[float] = []
    for step in range(settings.iterations):
        batch = devices.to_device(gather(stack, sampler.next(), settings.patch), device)
        first, second, xray = batch[:, :3], batch[:, 3:6], batch[:, 6:]
        with devices.autocast(device):
            out_first, out_second = net(first, second)
            loss = functional.mse_loss((out_first + out_second).float(), xray)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        on_step(step, losses[-1])
    net.eval()
    return losses
