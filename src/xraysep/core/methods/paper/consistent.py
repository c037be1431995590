"""The sum-consistent combine: the paper's choice of slots, made to explain the mixture.

The paper's combined pair takes the front from order 12 and the back from order 21, two
independent runs. Each run splits the unidentifiable constant between its sides its own way,
and each run's errors are its own, so the pair need not sum to the mixed X-ray: its
reconstruction error is worse than either run's. This rule keeps the slots and fixes both:

1. *Offset.* The front is shifted by half the mean difference between the two runs' fronts,
   ``−d_F / 2`` with ``d_F = mean(F₁₂ − F₂₁)``, and the back likewise by ``−d_B / 2`` with
   ``d_B = mean(B₂₁ − B₁₂)``: each side's mean becomes the average of what the two runs say,
   so neither run's offset is preferred.
2. *Residual.* ``r = x − front − back`` is split pixel by pixel in proportion to how unsure
   each side is: ``w_F = v_F / (v_F + v_B)``, where ``v`` is the local mean (a
   ``(2s+1)²`` box) of the squared disagreement between the two runs' estimates of that side.
   Where the runs agree on the front, the back takes the residual; where they agree on neither
   or on both, it is shared equally. Then ``front + back = x`` exactly.

Where the mixed X-ray is unknown (NaN) only step 1 applies. The same disagreements give the
uncertainty map: the mean over both sides of the two runs' spread, ``(|ΔF| + |ΔB|) / 4``,
zero where the runs agree.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from xraysep.core.filters import box_mean
from xraysep.core.separator import XRAY

EPSILON = 1e-6  # keeps the weights defined (½) where neither run disagrees


class Orderings(Protocol):
    """What this rule reads of the model (``combined.CombinedModel``): each ordering's
    slots, their measured mean disagreement and the smoothing radius."""

    disagreement: torch.Tensor
    smoothing: int

    def slot(self, order: str, slot: int) -> nn.Module: ...


def disagreements(model: Orderings, stack: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The paper's pair (F₁₂, B₂₁) and each side's run-to-run difference less its mean."""
    f12, b12 = (model.slot("12", slot)(stack) for slot in (1, 2))
    b21, f21 = (model.slot("21", slot)(stack) for slot in (1, 2))
    d_front, d_back = model.disagreement
    return f12, b21, f12 - f21 - d_front, b21 - b12 - d_back


def allocate(model: Orderings, stack: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sum-consistent (front, back) pair of the stack."""
    front, back, delta_front, delta_back = disagreements(model, stack)
    d_front, d_back = model.disagreement
    front, back = front - d_front / 2, back - d_back / 2
    residual = torch.nan_to_num(stack[:, XRAY] - front - back, nan=0.0)
    v_front = box_mean(delta_front**2, model.smoothing)
    v_back = box_mean(delta_back**2, model.smoothing)
    weight = (v_front + EPSILON) / (v_front + v_back + 2 * EPSILON)
    return front + weight * residual, back + (1 - weight) * residual


class ConsistentSide(nn.Module):
    """One side of the sum-consistent pair (``index`` 0: front, 1: back)."""

    def __init__(self, model: Orderings, index: int) -> None:
        super().__init__()
        self.model, self.index = model, index

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return allocate(self.model, stack)[self.index]


class OrderingSpread(nn.Module):
    """Per-pixel uncertainty: how far apart the two orderings put the split."""

    def __init__(self, model: Orderings) -> None:
        super().__init__()
        self.model = model

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        _, _, delta_front, delta_back = disagreements(self.model, stack)
        return (delta_front.abs() + delta_back.abs()) / 4
