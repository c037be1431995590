"""Pieces of unrolled sparse coding (learned ISTA) that several methods share."""

from __future__ import annotations

import torch
from torch.nn import functional


def soft_threshold(values: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """ISTA's shrinkage: ``sign(v) · max(|v| − t, 0)``, elementwise (``t ≥ 0`` broadcasts)."""
    return torch.sign(values) * functional.relu(values.abs() - threshold)


def channel_thresholds(raw: torch.Tensor) -> torch.Tensor:
    """Learned per-channel thresholds, (C,) raw parameters -> (1, C, 1, 1) values > 0."""
    return functional.softplus(raw).view(1, -1, 1, 1)
