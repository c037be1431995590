"""Pieces of unrolled sparse coding (learned ISTA) that several methods share."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def soft_threshold(values: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """ISTA's shrinkage: ``sign(v) · max(|v| − t, 0)``, elementwise (``t ≥ 0`` broadcasts)."""
    return torch.sign(values) * functional.relu(values.abs() - threshold)


def channel_thresholds(raw: torch.Tensor) -> torch.Tensor:
    """Learned per-channel thresholds, (C,) raw parameters -> (1, C, 1, 1) values > 0."""
    return functional.softplus(raw).view(1, -1, 1, 1)


def adjoint(weight: torch.Tensor) -> torch.Tensor:
    """The weights of the adjoint of a same-padded convolution: channels swapped, flipped."""
    return weight.transpose(0, 1).flip(2, 3)


def lipschitz(conv: nn.Conv2d, side: int = 32, steps: int = 30) -> float:
    """‖B‖², the largest eigenvalue of ``BᵀB`` for the convolution ``B``, by power
    iteration on a ``side``² image: ISTA's step ``1 / ‖B‖²`` keeps its iterations stable."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, conv.in_channels, side, side, generator=generator)
    padding = conv.kernel_size[0] // 2
    for _ in range(steps):
        image = functional.conv2d(conv(image), adjoint(conv.weight), padding=padding)
        norm = image.norm()
        image = image / norm
    return float(norm)
