"""Two baselines every method must beat, as separators (``core.separator``) and methods.

- ``half``: each side gets half of the mixed X-ray. It uses no photograph, so whatever it
  scores is what the mixture alone is worth.
- ``linear``: one per-pixel linear map from RGB to X-ray, the same for both sides, fitted by
  least squares to the sum: ``x ≈ w·y₁ + w·y₂ + b``; each side gets ``w·yᵢ + b/2``. It is the
  simplest order-invariant use of the photographs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from xraysep.core.methods.base import Method
from xraysep.core.separator import PHOTOGRAPH, XRAY, Channels
from xraysep.settings import Settings

FIT_PIXELS = 4_000_000  # least squares on at most this many pixels, evenly strided


class Halve(nn.Module):
    def forward(self, xray: torch.Tensor) -> torch.Tensor:
        return xray / 2


class Unconfigured(nn.Module):
    """A model whose file needs no architecture: its class and weights say it all."""

    def to_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Self:
        return cls()


class HalfModel(Unconfigured):
    KIND = "half"
    method = "half"
    approaches = ("half",)
    halo = 0
    needs_xray = True

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]:
        return {side: Channels(Halve(), XRAY) for side in ("front", "back")}

    def spread(self) -> None:
        return None


class LinearModel(Unconfigured):
    KIND = "linear"
    method = "linear"
    approaches = ("linear",)
    halo = 0
    needs_xray = False

    def __init__(self) -> None:
        super().__init__()
        self.map = nn.Conv2d(3, 1, 1)

    def fit(self, front: np.ndarray, back: np.ndarray, xray: np.ndarray) -> None:
        """Least squares of ``x`` on ``[y₁ + y₂, 1]``; half the intercept goes to each side."""
        step = max(1, int(np.ceil(np.sqrt(xray.size / FIT_PIXELS))))
        rgb = (front[::step, ::step] + back[::step, ::step]).reshape(-1, 3).astype(np.float64)
        design = np.concatenate([rgb, np.ones((len(rgb), 1))], axis=1)
        target = xray[::step, ::step].reshape(-1).astype(np.float64)
        solution = np.linalg.lstsq(design, target, rcond=None)[0].astype(np.float32)
        with torch.no_grad():
            self.map.weight.copy_(torch.from_numpy(solution[:3]).view(1, 3, 1, 1))
            self.map.bias.fill_(float(solution[3]) / 2)

    def sides(self, approach: str | None = None) -> dict[str, nn.Module]:
        return {side: Channels(self.map, PHOTOGRAPH[side]) for side in ("front", "back")}

    def spread(self) -> None:
        return None


def combine_half(
    trained: Mapping[str, nn.Module],
    window: np.ndarray,
    *,
    settings: Settings,
    tile: int,
    device: torch.device,
) -> HalfModel:
    return HalfModel()


def combine_linear(
    trained: Mapping[str, nn.Module],
    window: np.ndarray,
    *,
    settings: Settings,
    tile: int,
    device: torch.device,
) -> LinearModel:
    """The linear map fitted to ``window`` (an (h, w, 7) stack)."""
    model = LinearModel()
    model.fit(window[..., 0:3], window[..., 3:6], window[..., 6])
    return model.to(device)


HALF = Method(
    "half",
    "baseline: each side gets half of the mixed X-ray (what the mixture alone is worth)",
    trains=(),
    combine=combine_half,
    separator=HalfModel,
)
LINEAR = Method(
    "linear",
    "baseline: one least-squares linear map from colour to X-ray for both sides",
    trains=(),
    combine=combine_linear,
    separator=LinearModel,
)
