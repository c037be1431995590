"""Paint thickness from the residual: what the photographs cannot show, the X-ray records.

A colour map gives each side's optical depth as if its paint lay equally thick everywhere.
Real paint does not (impasto, brushwork, the swell of a glaze), and the mixed X-ray records
the difference: in optical depth the residual ``ρ = T(x) − τ₁ − τ₂`` holds each side's depth
times its local change of thickness, plus what belongs to neither side (the support, noise).
Where one side's depth varies on its own, the residual's co-variation with it says how much
thicker that side's paint is there. Over a ``(2r + 1)²`` window around each pixel
``ρ ≈ a₁ τ₁ + a₂ τ₂`` is fitted by ridge-regularised least squares, and each side becomes
``τᵢ (1 + aᵢ)``: its own depth, made locally thicker or thinner, never the other side's
shapes. The ridge (``λ`` times the window's mean energy ``½ (⟨τ₁²⟩ + ⟨τ₂²⟩)``) keeps ``aᵢ``
near zero where the two sides' depths vary together and the residual cannot tell them
apart. The solve is closed-form per pixel (2 × 2), built from box means over the pixels
inside the image, so tiled inference with a halo of ``r`` gives the whole image's result.
"""

from __future__ import annotations

import torch

from xraysep.core.filters import box_mean


def thicken(
    first: torch.Tensor, second: torch.Tensor, residual: torch.Tensor, radius: int, ridge: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides' optical depths (N, 1, h, w), each scaled by its local thickness factor
    ``1 + aᵢ`` fitted to ``residual``; symmetric in the sides, so swapping them swaps the
    result. A residual of zero (an unknown X-ray) leaves both as they are."""
    products = [first * first, second * second, first * second, first * residual]
    means = box_mean(torch.cat([*products, second * residual], 1), radius)
    energy_11, energy_22, energy_12, moment_1, moment_2 = means.split(1, 1)
    shrink = ridge * (energy_11 + energy_22) / 2
    energy_11, energy_22 = energy_11 + shrink, energy_22 + shrink
    determinant = (energy_11 * energy_22 - energy_12 * energy_12).clamp_min(1e-12)
    gain_1 = (energy_22 * moment_1 - energy_12 * moment_2) / determinant
    gain_2 = (energy_11 * moment_2 - energy_12 * moment_1) / determinant
    return first * (1 + gain_1), second * (1 + gain_2)
