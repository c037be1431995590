"""What every method's combined model offers to separate, evaluate and the served model.

A *separator* reads the panel's stack, seven channels per pixel: the front photograph (RGB),
the back photograph (RGB, mirrored into the X-ray's frame) and the mixed X-ray, which is NaN
where it is not known (a served request that sends only the photographs). It offers

- ``approaches``: the separations it can give, its own result first (the paper's model also
  gives each ordering alone, for comparison);
- ``sides(approach)``: one module per side mapping the stack (N, 7, h, w) to that side's
  X-ray (N, 1, h, w), so ``core.inference`` runs it tile by tile like any branch;
- ``spread()``: a module mapping the stack to a per-pixel uncertainty (N, 1, h, w) — how far
  apart independent estimates of the split are, or how much of it the X-ray rather than the
  photographs decided — or None when the method has neither;
- ``halo``: the pixels of context one output pixel needs, which keeps tiled inference exact;
- ``needs_xray``: whether it cannot answer at all without the mixed X-ray;
- ``mixture()``, where a method's sides do not simply add (Beer–Lambert saturation): a
  module mapping the stack to the mixed X-ray its pair makes together. The hidden layer is
  the X-ray less it, or less the pair's sum where a method has none (``core.hidden``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import nn

from xraysep.core.inference import once, predict_all

FRONT, BACK, XRAY = slice(0, 3), slice(3, 6), slice(6, 7)
PHOTOGRAPH = {"front": FRONT, "back": BACK}


class Separator(Protocol):
    method: str
    halo: int
    needs_xray: bool
    approaches: tuple[str, ...]

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]: ...
    def spread(self) -> nn.Module | None: ...
    def to(self, device: torch.device) -> Separator: ...


class Channels(nn.Module):
    """``module`` applied to some channels of the stack (a photograph, or the X-ray); once
    per tile for all of a separator's outputs (``core.inference.shared_passes``)."""

    def __init__(self, module: nn.Module, channels: slice) -> None:
        super().__init__()
        self.module, self.channels = module, channels

    def forward(self, stack: torch.Tensor) -> torch.Tensor:
        return once(self.module, stack, self.channels)


def stack(front: np.ndarray, back: np.ndarray, xray: np.ndarray | None = None) -> np.ndarray:
    """(h, w, 3), (h, w, 3), (h, w) or None -> the (h, w, 7) float32 stack a separator reads."""
    if xray is None:
        xray = np.full(front.shape[:2], np.nan, dtype=np.float32)
    return np.concatenate([front, back, xray[..., None]], axis=-1, dtype=np.float32)


def separate(
    model: Separator,
    photographs: np.ndarray,
    *,
    tile: int,
    device: torch.device,
    approach: str | None = None,
) -> dict[str, np.ndarray]:
    """``{"front": ..., "back": ...}``: ``model``'s pair (under ``approach``, default its own)
    on an in-memory (H, W, 7) stack, in tiles with the model's halo; both sides on each tile
    together, so they share their passes (``core.inference.shared_passes``)."""
    sides = model.sides(approach)
    pair = predict_all(list(sides.values()), photographs, halo=model.halo, tile=tile, device=device)
    return dict(zip(sides, pair, strict=True))
