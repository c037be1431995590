"""The unrolled network's training loss (docs/methods.md, Unrolled learned ISTA)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

EPSILON = 1e-12  # keeps the fourth root and the balance finite where an image is flat


def gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Differences between neighbouring rows and between neighbouring columns."""
    return image[..., 1:, :] - image[..., :-1, :], image[..., :, 1:] - image[..., :, :-1]


def exclusion(first: torch.Tensor, second: torch.Tensor, levels: int) -> torch.Tensor:
    """The gradient-exclusion loss of Zhang, Ng and Chen (CVPR 2018), symmetric in its two
    images: at each of ``levels`` scales (halved by 2×2 means) and in each direction,
    ``mean(tanh(λ₁|∇a|)² tanh(λ₂|∇b|)²)^¼`` with ``λ₁ = √(mean|∇b| / mean|∇a|)`` and
    ``λ₂ = 1 / λ₁``, so neither image can lower it by shrinking its own edges; averaged.
    It is small when the two images do not have edges in the same places."""
    terms = []
    for level in range(levels):
        if level:
            first, second = functional.avg_pool2d(first, 2), functional.avg_pool2d(second, 2)
        for a, b in zip(gradients(first), gradients(second), strict=True):
            balance = torch.sqrt((b.abs().mean() + EPSILON) / (a.abs().mean() + EPSILON))
            product = torch.tanh(balance * a.abs()) * torch.tanh(b.abs() / balance)
            terms.append((product.square().mean() + EPSILON) ** 0.25)
    return torch.stack(terms).mean()


def lista_loss(
    model: nn.Module,
    batch: torch.Tensor,
    progress: float,
    *,
    photograph: float,
    mixture: float,
    exclusion_weight: float,
    levels: int,
) -> torch.Tensor:
    """The weighted sum, the same at every ``progress``, of: each side's photograph against
    its rebuild from that side's X-ray (mean squared error), the mixed X-ray against the sum
    of the sides (mean squared error) and the sides' gradient exclusion."""
    front, back, xray = batch[:, :3], batch[:, 3:6], batch[:, 6:]
    sides, photos = (out.float() for out in model(front, back, xray))
    n = len(batch)
    return (
        photograph * functional.mse_loss(photos, torch.cat([front, back]))
        + mixture * functional.mse_loss(sides[:n] + sides[n:], xray)
        + exclusion_weight * exclusion(sides[:n], sides[n:], levels)
    )
